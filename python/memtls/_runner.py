"""Turns a plain Python script into a ``wasi:cli`` command component.

``memtls python build app.py`` makes componentize-py build a small entry module
that calls :func:`command` with the script's module name. At build time this
compiles the script and imports every module it imports (componentize-py's
CPython holds only modules imported while building); when the component runs,
the script executes as ``__main__``, like ``python app.py``.

While the component is built there is no network: componentize-py snapshots the
interpreter after the imports, and a network handle taken then (urllib3 probes for
IPv6 with a socket when it is imported) would be baked into the snapshot and trap
every later lookup. So, until the component runs, making a socket or resolving a
name fails with ``OSError`` (EACCES), as in a sandbox without network, and
import-time probes take their fallback.
"""

import ast
import errno
import functools
import importlib
import importlib.util
import os
import pkgutil
import socket
import sys
import traceback
import types

import ssl  # noqa: F401  (the stdlib ssl over memtls's _ssl is always included)

from componentize_py_types import Err
from wit_world import exports


_building = True


def _ssl_group_methods():
    """``SSLSocket.group()`` and ``SSLObject.group()`` (CPython 3.15's, for the
    key-exchange group) on a standard library that predates them."""
    def socket_group(self):
        """The group the handshake's key exchange used, or None."""
        self._checkClosed()
        return self._sslobj.group() if self._sslobj is not None else None

    def object_group(self):
        """The group the handshake's key exchange used, or None."""
        return self._sslobj.group()

    if not hasattr(ssl.SSLSocket, "group"):
        ssl.SSLSocket.group = socket_group
    if not hasattr(ssl.SSLObject, "group"):
        ssl.SSLObject.group = object_group


_ssl_group_methods()


def _offline(function, what):
    """``function``, failing while the component is being built."""
    @functools.wraps(function)
    def offline_while_building(*args, **kwargs):
        if _building:
            raise OSError(errno.EACCES, f"no network while the component is being built "
                                        f"(memtls python build): {what} refused")
        return function(*args, **kwargs)
    return offline_while_building


def _no_network_while_building():
    socket.socket.__init__ = _offline(socket.socket.__init__, "socket()")
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr",
                 "getnameinfo"):
        setattr(socket, name, _offline(getattr(socket, name), f"{name}()"))


def _imported_modules(tree):
    """``(name, certain)`` for each module the script's import statements name:
    ``certain`` is false for ``from m import x`` as ``m.x`` (x may be an
    attribute of ``m``, not a module)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, True
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, True
            for alias in node.names:
                yield f"{node.module}.{alias.name}", False


def _preload(tree):
    """Imports what the script imports, so that it is in the component; records
    in ``UNBUNDLED`` the modules it names that cannot be imported (it may guard
    them, as ``try: import ujson`` does; the build reports them all)."""
    for name, certain in _imported_modules(tree):
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 -- reported, or an attribute
            if certain and all(name != seen for seen, _ in UNBUNDLED):
                UNBUNDLED.append((name, _why(error)))


def _executor_without_threads():
    """A component has no threads, and asyncio hands work (name lookups among it)
    to a thread pool, its default executor. In a component that uses asyncio, what
    goes to the default executor runs at once on the event loop instead (a WASI
    name lookup is one host call); an executor given explicitly is left alone."""
    base_events = sys.modules.get("asyncio.base_events")
    if base_events is None:
        return
    threaded = base_events.BaseEventLoop.run_in_executor

    def run_in_executor(self, executor, func, *args):
        if executor is not None:
            return threaded(self, executor, func, *args)
        future = self.create_future()
        try:
            future.set_result(func(*args))
        except Exception as error:  # noqa: BLE001 -- the future carries it
            future.set_exception(error)
        return future

    base_events.BaseEventLoop.run_in_executor = run_in_executor


#: Modules the script imports, or of the packages bundled whole, that could not
#: be imported while building, so are not in the component: ``(name, why)``
#: pairs. ``memtls python build`` reports them (it runs the component with
#: MEMTLS_PYTHON_BUILD_REPORT=1).
UNBUNDLED = []


def _why(error):
    """An import's failure on one line (the build prints a line per module)."""
    return " ".join(f"{type(error).__name__}: {error}".split())


def _import_whole(packages):
    """Imports each of ``packages`` with all its submodules, so that what they
    import lazily is in the component; records which cannot be imported, and why."""
    failed = []
    for name in packages:
        try:
            package = importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 -- reported below
            failed.append((name, error))
            continue
        # A subpackage that fails is recorded by the import below, before the walk
        # tries it again to look inside.
        for info in pkgutil.walk_packages(getattr(package, "__path__", []), name + ".",
                                          onerror=lambda _name: None):
            if info.name.endswith(".__main__"):
                continue  # a package's command line: importing it runs the program
            try:
                importlib.import_module(info.name)
            except Exception as error:  # noqa: BLE001 -- reported below
                failed.append((info.name, error))
    for name, error in failed:
        UNBUNDLED.append((name, _why(error)))


def command(module_name, whole=()):
    """The ``Run`` export for the script ``module_name`` (found on the Python path);
    the packages ``whole`` (installed from requirements) are bundled whole."""
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        raise ImportError(f"memtls: cannot find the script module {module_name!r}")
    source = spec.loader.get_source(module_name)
    code = compile(source, spec.origin, "exec")
    _no_network_while_building()
    _import_whole(whole)
    _preload(ast.parse(source))
    _executor_without_threads()

    class Run(exports.Run):
        """Runs the script as ``__main__``; an uncaught exception or a non-zero
        ``sys.exit`` becomes a failing exit status."""

        def run(self):
            global _building
            _building = False
            if os.environ.get("MEMTLS_PYTHON_BUILD_REPORT") == "1":
                for name, why in UNBUNDLED:
                    print(f"{name}: {why}")
                return
            main = types.ModuleType("__main__")
            main.__file__ = spec.origin
            previous = sys.modules.get("__main__")
            sys.modules["__main__"] = main  # unittest.main() and pickle look here
            try:
                exec(code, main.__dict__)  # noqa: S102 -- running the user's script is the point
            except SystemExit as exit_:
                if exit_.code not in (None, 0):
                    if not isinstance(exit_.code, int):
                        print(exit_.code, file=sys.stderr)
                    raise Err(None) from None
            except BaseException:  # noqa: BLE001 -- report everything, then fail
                traceback.print_exc()
                raise Err(None) from None
            finally:
                if previous is not None:
                    sys.modules["__main__"] = previous
                sys.stdout.flush()
                sys.stderr.flush()

    return Run
