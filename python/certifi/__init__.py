"""certifi for components built by ``memtls python build``: the CA bundle is the
provider's system trust.

Libraries that verify TLS with certifi's bundle (requests, httpx, pip's vendored
code) hand ``certifi.where()`` to ``ssl``. Here that path names no PEM file of
Mozilla roots frozen into the component: memtls's ``_ssl`` takes it to mean the
provider's system trust -- the platform's roots on the native provider, the Mozilla
roots in the guest, plus the anchors the host adds (``memtls run --ca-file``) -- so
those libraries verify by default with the trust the embedder configured. This
package takes the place of the PyPI one of the same name in such components.
"""

from memtls import SYSTEM_TRUST_BUNDLE

__version__ = "memtls"
__all__ = ["contents", "where"]


def where():
    """The path that stands for the provider's system trust (see
    ``memtls._system_trust``): it exists for ``os.path``, but only memtls's ``ssl``
    knows what it means."""
    return SYSTEM_TRUST_BUNDLE


def contents():
    """Refused: the provider's system trust has no PEM text to hand out."""
    raise OSError("memtls's certifi stands for the provider's system trust, which has no "
                  "PEM text: pass certifi.where() to ssl instead")
