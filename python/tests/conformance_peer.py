"""The stdlib ``ssl`` as a peer for the conformance suite
(``tests/external/conformance.rs``): built with ``memtls python build`` it runs on
memtls inside Wasm; run by CPython directly it is the reference.

As a server it prints ``memtls-listening 127.0.0.1:PORT``, then serves one
connection at a time (``MEMTLS_CONFORMANCE_MODE=blocking``, the default) or
concurrently with asyncio (``asyncio``): each connection's first read is echoed
back. A connection whose first bytes are ``quit`` ends the server. Certificate
and key are read from ``/f/server.chain`` and ``/f/server.key``
(``MEMTLS_CONFORMANCE_FILES`` changes the directory).

As a client (``client``) it connects ``MEMTLS_CONFORMANCE_COUNT`` times to
``MEMTLS_CONFORMANCE_TARGET`` (``host:port``, a misbehaving server) and prints
the error each handshake ends with.
"""

import asyncio
import os
import socket
import ssl

FILES = os.environ.get("MEMTLS_CONFORMANCE_FILES", "/f")
MODE = os.environ.get("MEMTLS_CONFORMANCE_MODE", "blocking")
TIMEOUT = 10


def context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(FILES, "server.chain"), os.path.join(FILES, "server.key"))
    return ctx


def report(error):
    print(f"memtls-error {type(error).__name__}: {error}", flush=True)


def listening(port):
    print(f"memtls-listening 127.0.0.1:{port}", flush=True)


def blocking():
    ctx = context()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listening(listener.getsockname()[1])
        while True:
            conn, _ = listener.accept()
            conn.settimeout(TIMEOUT)
            data = b""
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    data = tls.recv(1024)
                    if data:
                        tls.sendall(data)
                    else:
                        # The peer's close_notify: answer with ours, as RFC 8446
                        # 6.1 asks (data the peer sent after it is ignored).
                        tls.unwrap()
            except (ssl.SSLError, OSError) as error:
                report(error)
            finally:
                conn.close()
            if data.startswith(b"quit"):
                return


async def serve():
    ctx = context()
    done = asyncio.Event()

    async def handle(reader, writer):
        try:
            data = await asyncio.wait_for(reader.read(1024), TIMEOUT)
            if data:
                writer.write(data)
                await writer.drain()
            if data.startswith(b"quit"):
                done.set()
        except (ssl.SSLError, OSError, asyncio.TimeoutError) as error:
            report(error)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ssl.SSLError, OSError):
                pass

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    listening(server.sockets[0].getsockname()[1])
    await done.wait()
    server.close()


def client():
    host, port = os.environ["MEMTLS_CONFORMANCE_TARGET"].rsplit(":", 1)
    # Verifying as usual (the server never gets as far as its certificate).
    ctx = ssl.create_default_context(cafile=os.path.join(FILES, "ca"))
    for _ in range(int(os.environ["MEMTLS_CONFORMANCE_COUNT"])):
        try:
            with socket.create_connection((host, int(port)), timeout=TIMEOUT) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost"):
                    print("memtls-accepted a broken server", flush=True)
        except (ssl.SSLError, OSError) as error:
            report(error)


if MODE == "asyncio":
    asyncio.run(serve())
elif MODE == "client":
    client()
else:
    blocking()
