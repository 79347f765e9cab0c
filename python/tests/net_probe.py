"""A module that touches the network when it is imported, as urllib3 does (it
probes for IPv6 with a socket). Imported by test_libraries.py at build time."""

import socket


def _probe(action):
    try:
        action()
        return "ok"
    except OSError as error:
        return f"OSError {error.errno}"


def _bind():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))


#: What making a socket and resolving a name gave while the module was imported.
AT_IMPORT = {"socket": _probe(_bind),
             "lookup": _probe(lambda: socket.getaddrinfo("localhost", 443))}
