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


def _socket_repr_without_addresses():
    """componentize-py's wasi-libc aborts the whole program in ``getpeername()``
    on a socket whose connection failed (its mapping of WASI socket errors
    has no case for the code it gets there, and aborts), and CPython's socket
    ``repr`` calls ``getpeername`` and ``getsockname``: also for the
    ``ResourceWarning`` of an unclosed socket, from the garbage collector, at a
    moment no test chooses. In a component a socket's ``repr`` names no
    addresses."""
    def __repr__(self):
        closed = " [closed]" if getattr(self, "_closed", False) else ""
        return (f"<{type(self).__module__}.{type(self).__qualname__}{closed} "
                f"fd={self.fileno()}, family={self.family}, type={self.type}, "
                f"proto={self.proto}>")

    socket.socket.__repr__ = __repr__


_socket_repr_without_addresses()


def _imported_modules(tree):
    """``(name, certain, required)`` for each module the script's import statements
    name: ``certain`` is false for ``from m import x`` as ``m.x`` (x may be an
    attribute of ``m``, not a module); ``required`` is true for a statement at
    the top level of the script (not inside ``try``, ``if``, a function or a
    class), which runs whenever the script does."""
    top_level = set(map(id, tree.body))
    for node in ast.walk(tree):
        required = id(node) in top_level
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, True, required
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, True, required
            for alias in node.names:
                yield f"{node.module}.{alias.name}", False, False


def _preload(tree):
    """Imports what the script imports, so that it is in the component; records
    in ``UNBUNDLED`` the modules it names that cannot be imported (it may guard
    them, as ``try: import ujson`` does; the build reports them all, and fails
    for those imported at the top level)."""
    for name, certain, required in _imported_modules(tree):
        try:
            with _stand_ins(name):
                importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 -- reported, or an attribute
            if certain and all(name != seen for seen, _ in UNBUNDLED):
                UNBUNDLED.append((name, _why(error)))
                if required:
                    REQUIRED.append(name)


class _CLong:
    """``ctypes.c_long`` as far as ``.value`` goes: a C long on wasm32 is 32 bits,
    so the value wraps to the signed 32-bit range, as ctypes gives it there."""

    def __init__(self, value=0):
        self.value = (int(value) + 2**31) % 2**32 - 2**31


#: Stand-ins for native modules componentize-py's CPython lacks, by the package
#: that imports them eagerly while needing only a sliver: present only while
#: that package is imported (other code's ``try: import ctypes`` still sees
#: none). ldap3 2.9 imports ctypes for ``ctypes.c_long(x).value`` (DirSync).
_STAND_INS = {"ldap3": {"ctypes": {"c_long": _CLong}}}


class _stand_ins:
    """Context manager: the stand-ins ``_STAND_INS`` gives the package of
    ``name``, for the duration of its import (none when the real module exists)."""

    def __init__(self, name):
        self.modules = {}
        for module, attributes in _STAND_INS.get(name.split(".")[0], {}).items():
            if module in sys.modules or importlib.util.find_spec(module) is None:
                continue
            try:
                importlib.import_module(module)
            except ImportError:
                stand_in = types.ModuleType(module, f"memtls's stand-in for {module}")
                stand_in.__dict__.update(attributes)
                self.modules[module] = stand_in

    def __enter__(self):
        sys.modules.update(self.modules)

    def __exit__(self, *exc):
        for module in self.modules:
            sys.modules.pop(module, None)


#: Top-level modules the closure of lazy imports does not follow: the standard
#: library's programs, debuggers, REPLs, GUIs, test suites and tools (imported
#: lazily by what offers a command line or a debugging hook), process pools (a
#: component has no processes) and platform helpers of other systems. Their
#: import has effects, needs what a component lacks, or only adds size; a
#: script that wants one imports it itself.
_NOT_FOLLOWED = frozenset({
    "__main__", "memtls_entry", "antigravity", "this", "__phello__", "__hello__",
    "idlelib", "tkinter", "turtle", "turtledemo", "curses", "_pyrepl", "code", "codeop",
    "cmd", "pdb", "bdb", "doctest", "pydoc", "pydoc_data", "test", "unittest",
    "profile", "cProfile", "pstats", "trace", "timeit", "tabnanny", "pyclbr",
    "pickletools", "zipapp", "webbrowser", "ensurepip", "venv", "lib2to3",
    "multiprocessing", "_posixsubprocess", "_bootsubprocess", "_aix_support",
    "_osx_support", "xmlrpc", "_pydecimal", "dbm", "sqlite3",
})


#: Functions that are a module's command line (``python -m tokenize``): what
#: they import (argparse, the tool's own helpers) runs only from a shell.
_COMMAND_LINES = frozenset({"main", "_main", "_test", "test", "_cli"})


def _is_main_guard(node):
    """``if __name__ == "__main__":``"""
    test = getattr(node, "test", None)
    return (isinstance(node, ast.If) and isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__"
                    for c in test.comparators))


def _statements(tree):
    """Every node of ``tree`` but those of its command line: functions named as
    ``_COMMAND_LINES`` and ``if __name__ == "__main__":`` blocks."""
    pending = [tree]
    while pending:
        node = pending.pop()
        if _is_main_guard(node) or (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                                    and node.name in _COMMAND_LINES):
            continue
        yield node
        pending.extend(ast.iter_child_nodes(node))


def _imports_in(tree, package):
    """Every module an import statement in ``tree`` names (inside functions and
    behind conditions too, not in its command line), relative ones resolved in
    ``package``."""
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                if node.level - 1 > len(parts) or not package:
                    continue
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            if not base:
                continue
            yield base
            for alias in node.names:
                if alias.name != "*":
                    yield f"{base}.{alias.name}"


def _lazy_imports():
    """Imports, until nothing new appears, what every loaded module imports
    anywhere in its code: the standard library's own lazy imports
    (``email.message`` imports ``email.policy`` only when a message is made)
    and those of the packages bundled, so that they are in the component.
    What cannot be imported here is skipped (optional and platform modules)."""
    seen = set()
    while True:
        fresh = [name for name in list(sys.modules) if name not in seen]
        if not fresh:
            return
        for name in fresh:
            seen.add(name)
            module = sys.modules.get(name)
            spec = getattr(module, "__spec__", None)
            loader = getattr(spec, "loader", None)
            try:
                source = loader.get_source(name) if hasattr(loader, "get_source") else None
                tree = ast.parse(source) if source else None
            except (ImportError, SyntaxError, ValueError, OSError):
                tree = None
            if tree is None:
                continue
            package = module.__package__ or ""
            for target in _imports_in(tree, package):
                if target in sys.modules or target.split(".")[0] in _NOT_FOLLOWED:
                    continue
                try:
                    importlib.import_module(target)
                except (Exception, SystemExit):  # noqa: BLE001 -- optional, skipped
                    pass


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

#: Those of ``UNBUNDLED`` the script imports at its top level: without them it
#: fails at its first line, so ``memtls python build`` fails (unless told
#: otherwise with ``--allow-unbundled``).
REQUIRED = []


def _why(error):
    """An import's failure on one line (the build prints a line per module)."""
    return " ".join(f"{type(error).__name__}: {error}".split())


def _import_whole(packages):
    """Imports each of ``packages`` with all its submodules, so that what they
    import lazily is in the component; records which cannot be imported, and why."""
    failed = []
    for name in packages:
        try:
            with _stand_ins(name):
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
                with _stand_ins(info.name):
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
    _lazy_imports()
    _executor_without_threads()

    class Run(exports.Run):
        """Runs the script as ``__main__``; an uncaught exception or a non-zero
        ``sys.exit`` becomes a failing exit status."""

        def run(self):
            global _building
            _building = False
            if os.environ.get("MEMTLS_PYTHON_BUILD_REPORT") == "1":
                for name, why in UNBUNDLED:
                    print(f"{'required' if name in REQUIRED else 'optional'} {name}: {why}")
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
