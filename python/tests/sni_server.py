"""A TLS server whose ``sni_callback`` chooses the certificate: it serves
connections on ``127.0.0.1:MEMTLS_PORT`` one at a time until a client asks for
``stop.test``. Run by tests/external/python.rs, whose CPython (OpenSSL) clients
check what they receive. For the name the client sent, the callback

- ``b.test``: switches the connection to a context with the ``b`` chain;
- ``refuse.test``: refuses the client with ``unrecognized_name``;
- ``raise.test``: raises (the client is refused with ``handshake_failure``);
- anything else, or no name: keeps the default context (chain ``server``).

Each accepted client gets one line, ``sni=<name> socket=<type of the callback's
first argument> same=<whether it is the server's socket>``; each refusal is
printed here as ``refused <name>: <reason>``.
"""

import os
import socket
import ssl
import sys


def context(chain):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(f"/f/{chain}.chain", f"/f/{chain}.key")
    return ctx


default, other = context("server"), context("b")
seen = {}


def choose(sock, name, ctx):
    seen.update(name=name, sock=sock, ctx=ctx)
    if name == "b.test":
        sock.context = other
    elif name == "refuse.test":
        return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
    elif name == "raise.test":
        raise ZeroDivisionError("the callback failed on purpose")
    return None


default.sni_callback = choose
listener = socket.create_server(("127.0.0.1", int(os.environ["MEMTLS_PORT"])))
listener.settimeout(30)  # a client that never comes ends the run (accept raises)
while seen.get("name") != "stop.test":
    seen.clear()
    raw, _ = listener.accept()
    try:
        with default.wrap_socket(raw, server_side=True) as tls:
            same = seen.get("sock") is tls and seen.get("ctx") is default
            line = f"sni={seen.get('name')} socket={type(seen.get('sock')).__name__} same={same}"
            tls.sendall(line.encode() + b"\n")
            tls.recv(1)
    except ssl.SSLError as exc:
        print(f"refused {seen.get('name')}: {exc.reason}", flush=True)
    except OSError:
        pass  # the harness probing whether the server listens
print("stopped", flush=True)
sys.exit(0)
