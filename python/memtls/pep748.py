"""PEP 748 (the ``tlslib`` package's API) on memtls.

``MEMTLS_BACKEND`` is a ``tlslib.tlslib.Backend``: pass its ``client_context`` or
``server_context`` a ``TLSClientConfiguration`` / ``TLSServerConfiguration`` and
make in-memory :class:`TLSBuffer` objects (``create_buffer``) or sockets
(``connect``). The TLS itself is done by whichever provider serves the
``memtls:tls`` interface; this module translates configurations, names and errors.

Where memtls differs from the ``ssl``-based reference backend:

- Only TLS 1.2 and 1.3 exist, with the provider's ECDHE + AEAD cipher suites.
  A ``ciphers`` list that names no TLS 1.3 suite leaves all TLS 1.3 suites enabled
  (as OpenSSL does), so ``tlslib.DEFAULT_CIPHER_LIST`` still allows TLS 1.3.
- ``None`` versions mean the provider's defaults: TLS 1.2 to 1.3.
- ``TrustStore.system()`` is the provider's system trust (by default the
  platform's CA store on the native provider, the Mozilla roots inside the guest;
  the embedder's policy may choose otherwise). A server verifies client
  certificates only against certificates it is given, so a server's
  ``trust_store`` cannot be the system store (the system's roots vouch for
  servers, and would accept any client holding a publicly issued certificate). ``from_id`` objects are refused.
- A server with several signing chains picks the one valid for the client's SNI
  name inside the provider.
- Errors are ``TLSError`` subclasses carrying the provider's explanation:
  :class:`CertificateVerificationError` (with ``reason``), :class:`MemtlsError`,
  ``ConfigurationError``, ``RaggedEOF``, ``WantReadError`` / ``WantWriteError``.
- ``TLSBuffer`` cannot learn from PEP 748's API that the transport ended;
  :meth:`TLSBuffer.process_eof` says so (``read`` then reports ``RaggedEOF``
  unless the peer's close_notify arrived).
"""

import os
import re
import socket as _socket
from contextlib import contextmanager

from tlslib import tlslib as _api
from tlslib.tlslib import (
    Backend,
    CipherSuite,
    ConfigurationError,
    NextProtocol,
    RaggedEOF,
    SigningChain,
    TLSClientConfiguration,
    TLSError,
    TLSServerConfiguration,
    TLSVersion,
    TrustStore,
    WantReadError,
    WantWriteError,
)

from memtls import _core
from memtls._core import TLSFailure, WouldBlock

__all__ = [
    "MEMTLS_BACKEND",
    "ClientContext",
    "ServerContext",
    "TLSBuffer",
    "TLSSocket",
    "MemtlsError",
    "CertificateVerificationError",
    "validate_config",
]

# Plaintext handed to the provider per write call: a short write is allowed, and
# the provider accepts about this much before its outgoing buffer is full.
_WRITE_CHUNK = 64 * 1024
_U32 = 0xFFFFFFFF
# The name a client buffer verifies against when create_buffer() got None.
_NO_NAME = "memtls.invalid"


# --- errors ---
class MemtlsError(TLSError):
    """A failure reported by the memtls provider.

    ``kind`` is the interface's error kind (``"alert-received"``, ``"protocol"``,
    ``"misuse"``, ...), ``detail`` its payload (an alert code, a reason) or None.
    """

    def __init__(self, message, kind=None, detail=None):
        super().__init__(message)
        self.kind = kind
        self.detail = detail


class CertificateVerificationError(MemtlsError):
    """The peer's certificate chain was rejected. ``reason`` says why:
    ``"expired"``, ``"not-yet-valid"``, ``"unknown-issuer"``, ``"bad-signature"``,
    ``"name-mismatch"``, ``"revoked"``, ``"no-certificate"`` or ``"other"``."""

    @property
    def reason(self):
        """Why the chain was rejected (the interface's certificate-reason)."""
        return self.detail


_REASONS = {
    "expired": "the certificate has expired",
    "not-yet-valid": "the certificate is not valid yet",
    "unknown-issuer": "the certificate was not issued by a trusted authority",
    "bad-signature": "a signature in the chain is invalid or uses an unsupported algorithm",
    "name-mismatch": "the certificate is not valid for the name {name!r}",
    "revoked": "the certificate was revoked",
    "no-certificate": "the peer sent no certificate, but one is required",
    "other": "the certificate is not acceptable",
}

def _error(failure, name=None):
    """The tlslib exception for a provider error (a ``TLSFailure``)."""
    kind, detail, message = failure.kind, failure.detail, failure.message
    if kind == "ragged-eof":
        return RaggedEOF(f"the transport ended without the peer's close_notify, so data "
                         f"may be truncated ({message})")
    if kind == "configuration":
        return ConfigurationError(message)
    if kind == "certificate-rejected":
        why = _REASONS.get(detail, _REASONS["other"]).format(name=name or _NO_NAME)
        if detail == "name-mismatch" and name is None:
            why += " (create_buffer() was given no server_hostname)"
        return CertificateVerificationError(
            f"certificate verification failed: {why} ({message})", kind, detail)
    if kind == "closed":
        return MemtlsError(f"the peer has closed the TLS session ({message})", kind)
    if kind in ("alert-received", "alert-sent"):  # the message names the alert
        return MemtlsError(message, kind, detail)
    return MemtlsError(f"{kind}: {message}", kind, detail)


@contextmanager
def _errors(name=None):
    """Turns memtls's core exceptions into tlslib's."""
    try:
        yield
    except WouldBlock as blocked:
        if blocked.want == "read":
            raise WantReadError("more data from the peer is needed") from None
        raise WantWriteError("the waiting TLS data must be sent first") from None
    except TLSFailure as failure:
        raise _error(failure, name) from None


# --- configuration ---
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----[ \t]*\r?\n?", re.S)


def _check_source(obj, what):
    """ConfigurationError unless ``obj`` (TrustStore, Certificate, PrivateKey) is
    something memtls can load: a buffer or a file."""
    if getattr(obj, "_id", None) is not None:
        raise ConfigurationError(
            f"memtls cannot load a {what} by identifier ({what}.from_id): give it "
            f"with from_buffer() or from_file() (PEM or DER)")
    if getattr(obj, "_buffer", None) is None and getattr(obj, "_path", None) is None:
        raise ConfigurationError(f"the {what} is empty: it has no buffer and no file")


def _load(obj, what):
    """The bytes of a TrustStore, Certificate or PrivateKey (buffer or file)."""
    if obj._buffer is not None:
        return bytes(obj._buffer)
    path = os.fspath(obj._path)
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise ConfigurationError(f"cannot read the {what} file {path!r}: "
                                 f"{error.strerror or error}") from None


def _check_chain(chain, what):
    if not isinstance(chain, SigningChain):
        raise ConfigurationError(f"{what} must be a tlslib SigningChain, not {chain!r}")
    certificate, key = chain.leaf
    _check_source(certificate, "Certificate")
    if key is not None:
        _check_source(key, "PrivateKey")
    for extra in chain.chain:
        _check_source(extra, "Certificate")


def _signing_chain(chain):
    """The interface's signing-chain for a tlslib SigningChain. Without a
    PrivateKey the key is taken from the leaf's PEM (certificate and key in one)."""
    certificate, key = chain.leaf
    leaf = _load(certificate, "certificate")
    blocks = list(_PEM.finditer(leaf))
    key_blocks = [b.group(0) for b in blocks if b.group(1).endswith(b"PRIVATE KEY")]
    if key_blocks:  # keep only the certificates for the certificate list
        leaf = b"".join(b.group(0) for b in blocks if b.group(1) == b"CERTIFICATE")
    if key is not None:
        key_bytes = _load(key, "private key")
    elif key_blocks:
        key_bytes = key_blocks[0]
    else:
        raise ConfigurationError("the SigningChain has no PrivateKey and its leaf "
                                 "certificate holds no PEM private key")
    if b"ENCRYPTED" in key_bytes[:200] and key_bytes.lstrip().startswith(b"-----"):
        raise ConfigurationError("encrypted private keys are not supported by memtls: "
                                 "give the key decrypted")
    extras = [_load(c, "certificate") for c in chain.chain]
    return _core.signing_chain([leaf, *extras], key_bytes)


def _is_system(store):
    return store is None or (store._buffer is None and store._path is None
                             and store._id is None)


def _trust_store(store):
    """The interface's trust-store for a tlslib TrustStore (None: the system's)."""
    if _is_system(store):
        return _core.trust_store(system=True)
    return _core.trust_store(anchors=[_load(store, "trust store")])


_LOW = {None: None, TLSVersion.MINIMUM_SUPPORTED: None,
        TLSVersion.TLSv1_2: "TLSv1.2", TLSVersion.TLSv1_3: "TLSv1.3"}
_HIGH = {None: None, TLSVersion.MAXIMUM_SUPPORTED: None,
         TLSVersion.TLSv1_2: "TLSv1.2", TLSVersion.TLSv1_3: "TLSv1.3"}


def _version(value, table, side):
    try:
        return table[value]
    except (KeyError, TypeError):
        pass
    if value == TLSVersion.MAXIMUM_SUPPORTED:
        raise ConfigurationError("lowest_supported_version cannot be MAXIMUM_SUPPORTED: "
                                 "use TLSVersion.TLSv1_3 to require TLS 1.3")
    if value == TLSVersion.MINIMUM_SUPPORTED:
        raise ConfigurationError("highest_supported_version cannot be MINIMUM_SUPPORTED: "
                                 "use TLSVersion.TLSv1_2 to allow TLS 1.2 only")
    raise ConfigurationError(f"{side}_supported_version={value!r} is not available: "
                             "memtls supports TLS 1.2 and TLS 1.3 only (give a "
                             "tlslib TLSVersion)")


def _suite_name(suite):
    try:
        return CipherSuite(suite).name
    except ValueError:
        return _core.SUITES[suite][1] if suite in _core.SUITES else f"0x{suite:04X}"


def _is_tls13(suite):
    return suite >> 8 == 0x13


def _suites(ciphers, low, high):
    """The suite ids to configure (None: the provider's defaults)."""
    if ciphers is None:
        return None
    try:
        wanted = [int(c) for c in ciphers]
    except (TypeError, ValueError):
        raise ConfigurationError(f"ciphers must be CipherSuite members or 16-bit ids, "
                                 f"not {ciphers!r}") from None
    if not wanted:
        raise ConfigurationError("ciphers is empty: name at least one cipher suite, or "
                                 "give None for memtls's defaults")
    supported = _core.supported_suites()
    missing = [s for s in wanted if s not in supported]
    if missing:
        raise ConfigurationError(
            f"{_core.implementation()[0]} does not support the cipher suite(s) "
            f"{', '.join(_suite_name(s) for s in missing)}; it supports "
            f"{', '.join(_suite_name(s) for s in supported)}")
    chosen = list(dict.fromkeys(wanted))
    if not any(_is_tls13(s) for s in chosen):
        chosen += [s for s in supported if _is_tls13(s)]
    usable13 = high != "TLSv1.2" and any(_is_tls13(s) for s in chosen)
    usable12 = low != "TLSv1.3" and any(not _is_tls13(s) for s in chosen)
    if not (usable12 or usable13):
        raise ConfigurationError("none of the given cipher suites can be used with the "
                                 "allowed TLS versions")
    return chosen


def _alpn(protocols):
    names = []
    for protocol in protocols or ():
        value = protocol.value if isinstance(protocol, NextProtocol) else protocol
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise ConfigurationError(f"inner protocol {protocol!r} must be a NextProtocol "
                                     "or bytes")
        value = bytes(value)
        if not 1 <= len(value) <= 255:
            raise ConfigurationError(f"inner protocol {value!r} must be 1 to 255 bytes long")
        names.append(value)
    return names


def _settings(config):
    """Checks a configuration; returns ``(alpn, low, high, suites)``."""
    if not isinstance(config, (TLSClientConfiguration, TLSServerConfiguration)):
        raise ConfigurationError(f"not a TLS configuration: {config!r}")
    store = config.trust_store
    if store is not None:
        if not isinstance(store, TrustStore):
            raise ConfigurationError(f"trust_store must be a tlslib TrustStore, not {store!r}")
        if store._id is not None:
            _check_source(store, "TrustStore")
    if isinstance(config, TLSClientConfiguration):
        if config.certificate_chain is not None:
            _check_chain(config.certificate_chain, "certificate_chain")
    else:
        if store is not None and _is_system(store):
            raise ConfigurationError(
                "memtls verifies client certificates only against certificates it is "
                "given: a server's trust_store cannot be the system store (use "
                "TrustStore.from_buffer or from_file with the client CA)")
        chains = config.certificate_chain
        if not chains:
            raise ConfigurationError("a server configuration needs at least one "
                                     "SigningChain in certificate_chain")
        if isinstance(chains, SigningChain):
            raise ConfigurationError("certificate_chain of a server configuration is a "
                                     "sequence of SigningChain objects")
        for chain in chains:
            _check_chain(chain, "each element of certificate_chain")
    low = _version(config.lowest_supported_version, _LOW, "lowest")
    high = _version(config.highest_supported_version, _HIGH, "highest")
    if low == "TLSv1.3" and high == "TLSv1.2":
        raise ConfigurationError("lowest_supported_version (TLS 1.3) is above "
                                 "highest_supported_version (TLS 1.2)")
    return _alpn(config.inner_protocols), low, high, _suites(config.ciphers, low, high)


def validate_config(tls_config):
    """Raises ``ConfigurationError`` (saying why) if memtls cannot serve
    ``tls_config``: TLS versions other than 1.2/1.3, cipher suites the provider
    lacks, ``from_id`` objects, empty objects, a server without certificates or
    with the system store for client certificates. Files are not read here."""
    _settings(tls_config)


# --- connection state shared by buffers and sockets ---
def _member(enum, value):
    """The member of ``enum`` with ``value``, or ``value`` itself if it has none."""
    try:
        return enum(value)
    except ValueError:
        return value


class _Negotiated:
    """What was negotiated on a connection (None before the handshake finished)."""

    __slots__ = ()

    def _done(self):
        conn = self._connection()
        return conn if conn is not None and conn.is_handshake_complete() else None

    def cipher(self):
        """The negotiated suite as a ``CipherSuite`` (its id if tlslib lacks it), or None."""
        conn = self._done()
        suite = conn.cipher_suite() if conn is not None else None
        return None if suite is None else _member(CipherSuite, suite.id)

    def negotiated_protocol(self):
        """The ALPN protocol agreed on, as a ``NextProtocol`` or bytes, or None."""
        conn = self._connection()
        protocol = conn.alpn_protocol() if conn is not None else None
        return None if protocol is None else _member(NextProtocol, bytes(protocol))

    @property
    def negotiated_tls_version(self):
        """``TLSVersion.TLSv1_2`` or ``TLSv1_3`` once the handshake is done, else None."""
        conn = self._done()
        version = conn.protocol_version() if conn is not None else None
        return None if version is None else TLSVersion(_core.VERSION_NAMES[version])

    def getpeercert(self):
        """The peer's end-entity certificate as DER, or None if it sent none."""
        conn = self._connection()
        certificates = conn.peer_certificates() if conn is not None else []
        return bytes(certificates[0]) if certificates else None

    @property
    def context(self):
        """The ``ClientContext`` or ``ServerContext`` this object came from."""
        return self._context


# --- buffers ---
class TLSBuffer(_Negotiated, _api.TLSBuffer):
    """A TLS connection over memory: the caller moves the bytes.

    Ciphertext from the network goes in with :meth:`process_incoming`; ciphertext for
    the network comes out of :meth:`process_outgoing`. The outgoing buffer is the
    provider connection's own bounded buffer, and at most one ``process_incoming``
    chunk that the connection could not take yet is held here, so memory stays
    bounded: when the connection is full, ``process_incoming`` raises
    ``WantReadError`` (read plaintext first) and ``write`` ``WantWriteError``
    (take ciphertext first).
    """

    __slots__ = ("_context", "_conn", "_name", "_unfed", "_eof", "_eof_sent")

    def __init__(self, *args, **kwargs):
        """Not public: use ``ClientContext.create_buffer`` or ``ServerContext.create_buffer``."""
        raise TypeError("TLSBuffer has no public constructor: use create_buffer() of a "
                        "ClientContext or ServerContext")

    @classmethod
    def _create(cls, context, connection, name):
        self = cls.__new__(cls)
        self._context = context
        self._conn = connection
        self._name = name
        self._unfed = b""
        self._eof = self._eof_sent = False
        return self

    def _connection(self):
        return self._conn

    def _feed(self):
        """Feeds held ciphertext the connection takes (and the end of input once
        everything is in); returns how many bytes it took."""
        conn, taken = self._conn, 0
        if self._unfed:
            data, self._unfed = self._unfed, b""
            taken = _core.call(conn.feed, data)
            self._unfed = data[taken:]
        if self._eof and not self._unfed and not self._eof_sent:
            self._eof_sent = True
            _core.call(conn.eof)
        return taken

    def _step(self, function):
        """Calls ``function`` (a connection operation) after feeding; returns its
        result, None if the peer closed the session; raises WantRead/WantWrite."""
        try:
            while True:
                fed = self._feed()
                result = _core.call(function)
                want = _core._want(result)
                if want == "read" and self._unfed and fed:
                    continue
                break
        except TLSFailure as failure:
            if failure.kind == "closed":
                return None
            raise _error(failure, self._name) from None
        if want == "read":
            if self._eof_sent:
                raise RaggedEOF("the transport ended before the peer finished "
                                "(no close_notify)")
            raise WantReadError("more data from the peer is needed: give it to "
                                "process_incoming()")
        if want == "write":
            raise WantWriteError("the outgoing buffer is full: take its bytes with "
                                 "process_outgoing()")
        return result

    def do_handshake(self):
        """Advances the handshake; returns once it is complete (certificate and name
        verified). Raises ``WantReadError``/``WantWriteError`` until then."""
        if self._step(self._conn.handshake) is None:
            raise MemtlsError("the peer closed the connection during the handshake", "closed")

    def read(self, amt, buffer=None):
        """Up to ``amt`` bytes of plaintext (into ``buffer`` if given: returns the
        count). ``b""`` once the peer's close_notify arrived; ``RaggedEOF`` after
        :meth:`process_eof` without it; ``WantReadError`` when nothing is ready."""
        view = None
        if buffer is not None:
            view = memoryview(buffer).cast("B")
            amt = len(view) if amt is None or amt <= 0 else min(amt, len(view))
        if amt is None or amt <= 0:
            return 0 if view is not None else b""
        outcome = self._step(lambda: self._conn.read(min(amt, _U32)))
        data = b"" if outcome is None else bytes(outcome.value)
        if view is None:
            return data
        view[:len(data)] = data
        return len(data)

    def write(self, buf):
        """Encrypts the start of ``buf`` (up to 64 KiB per call) into the outgoing
        buffer; returns how many bytes were taken (a short write is possible)."""
        view = memoryview(buf).cast("B")
        if not len(view):
            return 0
        chunk = bytes(view[:_WRITE_CHUNK])
        outcome = self._step(lambda: self._conn.write(chunk))
        if outcome is None:
            raise MemtlsError("the TLS session is closed", "closed")
        if not outcome.value:
            raise WantWriteError("the outgoing buffer is full: take its bytes with "
                                 "process_outgoing()")
        return outcome.value

    def shutdown(self):
        """Queues this side's close_notify (take it with :meth:`process_outgoing`);
        returns once the peer's close_notify has arrived too, raising
        ``WantReadError`` until then. Data still arriving while the connection's
        buffers are full of unread plaintext is discarded, as OpenSSL does."""
        conn = self._conn
        while True:
            try:
                fed = self._feed()
                progress = _core.call(conn.shutdown)
            except TLSFailure as failure:
                if failure.kind in ("closed", "ragged-eof"):
                    return
                raise _error(failure, self._name) from None
            if progress == _core.tls.Progress.DONE or conn.peer_closed() or self._eof_sent:
                return
            if not (self._unfed and not fed and conn.pending_plaintext()):
                raise WantReadError("close_notify is in the outgoing buffer; waiting for "
                                    "the peer's")
            while conn.pending_plaintext():  # make room for the peer's close_notify
                _core.call(conn.read, _U32)

    def process_incoming(self, data_from_network):
        """Gives the connection bytes from the network. If it still holds bytes it
        could not take, ``WantReadError`` is raised and nothing is stored: read
        plaintext, then give the data again. Empty data is ignored."""
        data = bytes(data_from_network)
        if not data:
            return
        if self._eof:
            raise MemtlsError("process_incoming() after process_eof()", "misuse")
        try:
            if self._unfed:
                self._feed()
                if self._unfed:
                    raise WantReadError("the connection is full: read() plaintext before "
                                        "giving it more data")
            self._unfed = data
            self._feed()
        except TLSFailure:
            # A fatal error in the peer's data: the connection reports it again on the
            # next operation (and may have queued an alert for the peer).
            self._unfed = b""

    def process_eof(self):
        """Says that the transport ended (the peer closed TCP). Not part of PEP 748:
        without it a buffer cannot tell a truncated stream from a slow one."""
        self._eof = True
        try:
            self._feed()
        except TLSFailure:
            self._unfed = b""

    def incoming_bytes_buffered(self):
        """Bytes given to ``process_incoming`` that the connection has not taken yet."""
        return len(self._unfed)

    def process_outgoing(self, amount_bytes_for_network):
        """Removes and returns up to ``amount_bytes_for_network`` bytes of ciphertext
        for the network (all of it for a negative amount)."""
        amount = amount_bytes_for_network
        if amount is None or amount < 0:
            amount = self._conn.pending_ciphertext()
        return bytes(self._conn.take(min(amount, _U32))) if amount else b""

    def outgoing_bytes_buffered(self):
        """Bytes of ciphertext waiting in the outgoing buffer."""
        return self._conn.pending_ciphertext()


# --- sockets ---
class TLSSocket(_Negotiated, _api.TLSSocket):
    """A TLS connection over a TCP socket.

    ``connect()`` and ``accept()`` complete the handshake (blocking, with the
    default socket timeout); afterwards the socket is non-blocking as in the
    reference backend: ``recv`` raises ``WantReadError`` when nothing has arrived,
    ``send`` ``WantWriteError`` when the socket cannot take more, and ``close``
    ``WantReadError`` until the peer's close_notify arrives. A listening server
    socket's ``accept`` raises ``BlockingIOError`` when no client is waiting.
    """

    __slots__ = ("_context", "_sock", "_channel", "_name")

    def __init__(self, *args, **kwargs):
        """Not public: use ``ClientContext.connect`` or ``ServerContext.connect``."""
        raise TypeError("TLSSocket has no public constructor: use connect() of a "
                        "ClientContext or ServerContext")

    @classmethod
    def _create(cls, context, sock, connection=None, name=None):
        self = cls.__new__(cls)
        self._context, self._sock, self._name, self._channel = context, sock, name, None
        if connection is None:  # a listening server socket
            sock.setblocking(False)
            return self
        channel = _core.SocketChannel(connection, sock)
        try:
            with _errors(name):
                channel.handshake()
        except BaseException:
            channel.close()
            sock.close()
            raise
        sock.setblocking(False)
        self._channel = channel
        return self

    def _connection(self):
        return self._channel.connection if self._channel is not None else None

    def _open(self):
        if self._channel is None:
            raise MemtlsError("the socket has no TLS connection (closed, or a listening "
                              "server socket)", "misuse")
        return self._channel

    def recv(self, bufsize):
        """Up to ``bufsize`` bytes of plaintext; ``b""`` after the peer's close_notify."""
        channel = self._open()
        if bufsize <= 0:
            return b""
        with _errors(self._name):
            return channel.read(min(bufsize, _U32))

    def send(self, bytes):  # noqa: A002 -- the protocol's parameter name
        """Encrypts and sends the start of ``bytes`` (up to 64 KiB); returns how many
        bytes were taken. Ciphertext the socket could not take at once is kept and
        sent first by the next call (``send(b"")`` just sends it)."""
        channel = self._open()
        view = memoryview(bytes).cast("B")
        with _errors(self._name):
            if not channel.flush():
                raise WouldBlock("write")
            if not len(view):
                return 0
            chunk = view[:_WRITE_CHUNK].tobytes()
            conn = channel.connection
            return channel.run(lambda: conn.write(chunk)).value

    def close(self, force=False):
        """Sends close_notify and closes the socket. Unless ``force``, raises
        ``WantReadError`` until the peer's close_notify has arrived; raises
        ``WantWriteError`` while the close_notify cannot be sent."""
        channel = self._channel
        if channel is not None:
            try:
                with _errors(self._name):
                    if force:
                        try:
                            _core.call(channel.connection.shutdown)
                        except TLSFailure:
                            pass
                        if not channel.flush():
                            raise WouldBlock("write")
                    else:
                        channel.shutdown()
            except (WantReadError, WantWriteError):
                raise
            except (TLSError, OSError):
                pass  # the connection is unusable anyway: close it
            channel.close()
            self._channel = None
        if self._sock is not None:
            sock, self._sock = self._sock, None
            try:
                sock.shutdown(_socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def listen(self, backlog):
        """Sets the backlog of a listening server socket."""
        self._socket().listen(backlog)

    def accept(self):
        """``(TLSSocket, address)`` for the next client, after its handshake.
        ``BlockingIOError`` when none is waiting."""
        if self._channel is not None or not isinstance(self._context, ServerContext):
            raise MemtlsError("accept() needs a listening socket from ServerContext.connect()",
                              "misuse")
        sock, address = self._socket().accept()
        try:
            sock.settimeout(_socket.getdefaulttimeout())
            with _errors():
                connection = self._context._accept()
        except BaseException:
            sock.close()
            raise
        return TLSSocket._create(self._context, sock, connection), address

    def _socket(self):
        if self._sock is None:
            raise MemtlsError("the socket is closed", "misuse")
        return self._sock

    def getsockname(self):
        """The local address."""
        return self._socket().getsockname()

    def getpeername(self):
        """The peer's address."""
        return self._socket().getpeername()

    def fileno(self):
        """The socket's file descriptor."""
        return self._socket().fileno()


# --- contexts ---
class ClientContext(_api.ClientContext):
    """A client configuration made usable. The provider context is built (and the
    configuration checked, files read) on first use and shared by every buffer and
    socket made from it, so sessions resume between them."""

    def __init__(self, configuration):
        """Keeps ``configuration`` (a ``TLSClientConfiguration``); nothing is checked yet."""
        self._configuration = configuration
        self._built = {}

    @property
    def configuration(self):
        """The ``TLSClientConfiguration`` the context was made from."""
        return self._configuration

    def _provider(self, send_sni):
        if send_sni not in self._built:
            config = self._configuration
            alpn, low, high, suites = _settings(config)
            trust = _trust_store(config.trust_store)
            chain = config.certificate_chain
            chain = _signing_chain(chain) if chain is not None else None
            with _errors():
                self._built[send_sni] = _core.client_context(
                    trust, chain, alpn, low, high, suites, "full", send_sni)
        return self._built[send_sni]

    def _connect(self, name):
        context = self._provider(name is not None)
        with _errors(name):
            return _core.call(context.connect, name if name is not None else _NO_NAME)

    def create_buffer(self, server_hostname):
        """A client :class:`TLSBuffer` for ``server_hostname`` (verified against the
        server's certificate and sent as SNI); its ClientHello is already waiting in
        the outgoing buffer."""
        return TLSBuffer._create(self, self._connect(server_hostname), server_hostname)

    def connect(self, address):
        """Connects to ``(host, port)`` and completes the handshake; ``host`` is the
        name verified against the server's certificate."""
        host, _port = address
        if host is None:
            raise ValueError("a client needs the server's host name (or IP address)")
        connection = self._connect(host)
        sock = _socket.create_connection(address)
        return TLSSocket._create(self, sock, connection, host)


class ServerContext(_api.ServerContext):
    """A server configuration made usable; the provider context (certificates,
    session cache, ticket keys) is built on first use and shared."""

    def __init__(self, configuration):
        """Keeps ``configuration`` (a ``TLSServerConfiguration``); nothing is checked yet."""
        self._configuration = configuration
        self._built = None

    @property
    def configuration(self):
        """The ``TLSServerConfiguration`` the context was made from."""
        return self._configuration

    def _provider(self):
        if self._built is None:
            config = self._configuration
            alpn, low, high, suites = _settings(config)
            chains = [_signing_chain(c) for c in config.certificate_chain]
            store = config.trust_store
            auth = "required" if store is not None else None
            trust = _trust_store(store) if store is not None else None
            with _errors():
                self._built = _core.server_context(chains, auth, trust, alpn, low, high,
                                                   suites)
        return self._built

    def _accept(self):
        context = self._provider()
        with _errors():
            return _core.call(context.accept)

    def create_buffer(self):
        """A server :class:`TLSBuffer`, waiting for a ClientHello."""
        return TLSBuffer._create(self, self._accept(), None)

    def connect(self, address):
        """A listening :class:`TLSSocket` bound to ``(host, port)`` (port 0: any free
        port; host None: every interface). Take clients with ``accept()``."""
        self._provider()  # configuration errors surface here, not at accept()
        host, port = address
        family = _socket.AF_INET6 if host and ":" in host else _socket.AF_INET
        sock = _socket.create_server((host or "", port), family=family)
        return TLSSocket._create(self, sock)


#: The memtls ``Backend``.
MEMTLS_BACKEND = Backend(
    client_context=ClientContext,
    server_context=ServerContext,
    validate_config=validate_config,
)
