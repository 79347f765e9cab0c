"""A CA file that stands for the provider's system trust.

``SYSTEM_TRUST_BUNDLE`` (``memtls.SYSTEM_TRUST_BUNDLE``, and ``certifi.where()`` in
components built by ``memtls python build``) is a path that, given to ``ssl`` as a
CA file (``load_verify_locations(cafile=...)``, ``create_default_context(cafile=...)``,
``requests``' ``verify``, ``urllib3``'s ``ca_certs``), means the provider's system
trust: the platform's roots on the native provider, the Mozilla roots in the guest,
and the anchors the host adds (``memtls run --ca-file``), as the host's policy
chooses.

A component has no files of its own at run time, and libraries check that their CA
bundle exists before handing it to ``ssl`` (requests does). So this one path is
made to exist for ``os.stat`` -- and so for ``os.path.exists``, ``isfile`` and
``isdir`` -- as an empty read-only file; opening it still fails, since only memtls's
``ssl`` knows what it means.
"""

import os
import stat as _stat

#: The path that stands for the provider's system trust.
SYSTEM_TRUST_BUNDLE = "/memtls/system-trust.pem"

_STAT = os.stat_result((_stat.S_IFREG | 0o444, 0, 0, 1, 0, 0, 0, 0, 0, 0))


def _is_bundle(path):
    try:
        return os.fspath(path) == SYSTEM_TRUST_BUNDLE
    except TypeError:  # a file descriptor
        return False


def _with_bundle(real):
    def stat(path, *args, **kwargs):
        if _is_bundle(path):
            return _STAT
        return real(path, *args, **kwargs)
    stat.__doc__ = real.__doc__
    stat.__name__ = real.__name__
    return stat


if not getattr(os.stat, "_memtls_bundle", False):
    for _name in ("stat", "lstat"):
        _patched = _with_bundle(getattr(os, _name))
        _patched._memtls_bundle = True
        setattr(os, _name, _patched)
