"""An asyncio TLS echo server: it serves ``MEMTLS_CONNECTIONS`` connections on
``127.0.0.1:MEMTLS_PORT`` (a line back in upper case each), then exits, saying how
many it served. Run by tests/external/python_memory.rs against a pool of CPython
clients, many connections at once."""

import asyncio
import os
import ssl

total = int(os.environ["MEMTLS_CONNECTIONS"])


async def main():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain("/f/server.chain", "/f/server.key")
    served = 0
    finished = asyncio.Event()

    async def echo(reader, writer):
        nonlocal served
        try:
            line = await reader.readline()
            writer.write(line.upper())
            await writer.drain()
        finally:
            writer.close()
            served += 1
            if served == total:
                finished.set()

    server = await asyncio.start_server(echo, "127.0.0.1", int(os.environ["MEMTLS_PORT"]),
                                        ssl=context, backlog=512)
    async with server:
        await finished.wait()
    print(f"served {served} connections")


asyncio.run(main())
