"""Sends ``MEMTLS_SEND_MIB`` MiB through ``ssl`` to the sink at ``MEMTLS_TEST_SINK``
(which answers with the count it received; its certificate is for localhost), in 64 KiB ``bytes`` writes: every one
an argument of the interface's ``write``, which componentize-py 0.25.1 would leak
without memtls python build's fix. Run by tests/external/python_memory.rs."""

import os
import socket
import ssl
import struct

host, port = os.environ["MEMTLS_TEST_SINK"].rsplit(":", 1)
total = int(os.environ["MEMTLS_SEND_MIB"]) << 20
chunk = os.urandom(64 * 1024)
context = ssl.create_default_context(cafile="/f/ca")
with socket.create_connection((host, int(port)), timeout=60) as raw:
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(struct.pack(">Q", total))
        sent = 0
        while sent < total:
            tls.sendall(chunk)
            sent += len(chunk)
        answer = tls.recv(64).decode().strip()
print(f"sent {sent} bytes; the sink received {answer}")
if int(answer) != total:
    raise SystemExit("the sink did not receive everything")
