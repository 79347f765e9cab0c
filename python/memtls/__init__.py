"""memtls for Python inside WebAssembly.

Two front ends share one core (:mod:`memtls._core`) over the ``memtls:tls``
interface that componentize-py binds as ``wit_world.imports.tls``:

- ``_ssl`` (a top-level module next to this package) replaces CPython's C
  extension, so the standard library's unmodified ``ssl`` module -- and
  ``urllib``, ``http.client``, ``asyncio``, ``smtplib`` above it -- work in Wasm;
- :mod:`memtls.pep748` implements the PEP 748 API of the ``tlslib`` package.

Which provider serves the interface (the host's native rustls or the rustls
guest component) is the host's choice; :func:`implementation` says which.
"""

from ._core import implementation
from ._system_trust import SYSTEM_TRUST_BUNDLE

__all__ = ["SYSTEM_TRUST_BUNDLE", "implementation", "use_identity"]


def use_identity(context, name):
    """Makes ``context`` (an ``ssl.SSLContext``) present the identity ``name`` that the
    host holds, in place of ``load_cert_chain()``: for client authentication on a
    client context, for serving on a server context. The host signs the handshakes;
    the private key never enters this program. ``ssl.SSLError`` (``NOT_PERMITTED``,
    naming the identity) when the embedder's policy does not grant it; a purpose it
    does not grant is refused when the context is first used."""
    context._use_host_identity(name)
