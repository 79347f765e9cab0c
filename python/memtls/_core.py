"""The one place where Python meets the ``memtls:tls`` interface.

Everything that talks to the generated bindings lives here: building client and
server contexts, turning interface errors into :class:`TLSFailure`, the cipher
suite table, and :class:`Channel`, which pumps a connection's memory channel
against a transport (a socket, or a pair of memory buffers). The ``_ssl`` and
PEP 748 front ends only translate names and exceptions.
"""

import socket as _socket

from componentize_py_types import Err
from wit_world.imports import insecure, tls

# Ciphertext is read from the transport in chunks of this size: one maximal TLS
# record (16 KiB of payload plus header and AEAD overhead) fits in one chunk.
READ_CHUNK = 17 * 1024


class TLSFailure(Exception):
    """An error returned by the provider.

    ``kind`` is the WIT case name (``"certificate-rejected"``, ``"alert-received"``,
    ...), ``detail`` its payload (a reason name such as ``"expired"``, an alert
    code, or ``None``) and ``message`` the provider's explanation.
    """

    def __init__(self, kind, detail, message):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.detail = detail
        self.message = message


class WouldBlock(Exception):
    """The transport cannot move bytes now; ``want`` is ``"read"`` or ``"write"``."""

    def __init__(self, want):
        super().__init__(f"the operation did not complete ({want})")
        self.want = want


def _kind_name(kind):
    # ErrorKind_CertificateRejected -> "certificate-rejected"
    name = type(kind).__name__.split("_", 1)[1]
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("-")
        out.append(ch.lower())
    return "".join(out)


def failure(err):
    """Converts a binding ``Err`` carrying a ``tls.Error`` into :class:`TLSFailure`."""
    error = err.value
    kind = error.kind
    detail = getattr(kind, "value", None)
    if isinstance(detail, tls.CertificateReason):
        detail = detail.name.lower().replace("_", "-")
    return TLSFailure(_kind_name(kind), detail, error.message)


def call(function, *args):
    """Calls an interface function, raising :class:`TLSFailure` for its errors.

    The failure is raised after the handler has ended, so the binding's ``Err`` (a
    frozen dataclass) is not its ``__context__``: code that walks an exception's
    chain and assigns ``__traceback__`` (unittest does) must never reach it."""
    try:
        return function(*args)
    except Err as err:
        problem = failure(err)
    try:
        raise problem
    finally:
        # The traceback holds this frame: keeping the exception in a local too
        # would be a reference cycle that keeps every caller's locals (a
        # program's 16 MiB buffer) alive until the cycle collector runs.
        del problem


def implementation():
    """``(name, version)`` of the provider serving the interface."""
    info = tls.implementation()
    return info.name, info.version


def _suite(openssl, iana):
    """A SUITES row: the two names, then what the IANA name says of the suite."""
    kx_auth, _, rest = iana.removeprefix("TLS_").rpartition("_WITH_")
    cipher, digest = rest.rsplit("_", 1)
    bits = 128 if cipher == "AES_128_GCM" else 256
    cipher = "ChaCha20-Poly1305" if cipher == "CHACHA20_POLY1305" else cipher.replace("_", "-")
    if not kx_auth:  # TLS 1.3 suites name no key exchange or authentication
        return (openssl, iana, "TLSv1.3", bits, "any", "any", cipher, digest)
    kx, auth = kx_auth.split("_")
    # OpenSSL calls the ECDHE key exchange ECDH.
    return (openssl, iana, "TLSv1.2", bits, kx.removesuffix("E"), auth, cipher, digest)


# IANA id -> (OpenSSL name, IANA name, protocol, secret bits, kx, auth, cipher, digest)
SUITES = {suite_id: _suite(*names) for suite_id, names in {
    0x1301: ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
    0x1302: ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    0x1303: ("TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
    0xC02B: ("ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    0xC02C: ("ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    0xCCA9: ("ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    0xC02F: ("ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    0xC030: ("ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    0xCCA8: ("ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
}.items()}

VERSION_NAMES = {tls.ProtocolVersion.TLS12: "TLSv1.2", tls.ProtocolVersion.TLS13: "TLSv1.3"}
VERSIONS = {"TLSv1.2": tls.ProtocolVersion.TLS12, "TLSv1.3": tls.ProtocolVersion.TLS13}


def _name(rdns):
    """A ``distinguished-name`` as ``getpeercert()`` shows one: a tuple of RDNs, each a
    tuple of (attribute name, value) pairs (a BIT STRING value as bytes)."""
    return tuple(tuple((a.name, a.value.value) for a in rdn) for rdn in rdns)


def decode_certificate(der):
    """A DER certificate as the dict ``getpeercert()`` returns, from the provider's
    reading (``decode-certificate``), and whether OpenSSL would count it as a CA.
    ``ValueError`` with the provider's sentence when the bytes are not a certificate."""
    try:
        info = call(tls.decode_certificate, bytes(der))
    except TLSFailure as problem:
        raise ValueError(problem.message) from None
    out = {"subject": _name(info.subject), "issuer": _name(info.issuer),
           "version": info.version, "serialNumber": info.serial_number,
           "notBefore": info.not_before, "notAfter": info.not_after}
    if info.subject_alt_names is not None:
        out["subjectAltName"] = tuple(
            (n.kind, _name(n.value.value) if isinstance(n.value, tls.AltNameValue_Directory)
             else n.value.value) for n in info.subject_alt_names)
    for key, uris in (("OCSP", info.ocsp), ("caIssuers", info.ca_issuers),
                      ("crlDistributionPoints", info.crl_distribution_points)):
        if uris:
            out[key] = tuple(uris)
    return out, info.is_ca


def host_identity_certificates(name):
    """The DER chain (leaf first) of the host identity ``name`` the embedder's policy
    grants this program; :class:`TLSFailure` (``not-permitted``, naming it) otherwise."""
    return [bytes(der) for der in call(tls.host_identity_certificates, str(name))]


def supported_suites():
    """IANA ids of the provider's cipher suites, in its preference order."""
    return [suite.id for suite in tls.supported_cipher_suites()]


def supported_groups():
    """``(IANA id, IANA name)`` of the provider's key-exchange groups, in its
    preference order (``X25519MLKEM768`` first where it has the hybrid)."""
    return [(group.id, group.name) for group in tls.supported_key_exchange_groups()]


def trust_store(system=False, anchors=(), pinned=()):
    """A ``trust-store`` record; anchors and pinned are PEM text or DER certificates."""
    return tls.TrustStore(system=bool(system), anchors=[bytes(a) for a in anchors],
                          pinned=[bytes(p) for p in pinned])


def signing_chain(certificates, private_key, host_identity=None, password=None):
    """A ``signing-chain`` record: PEM/DER certificates (leaf first) and a PEM/DER key
    (encrypted with ``password``, bytes, or not), or (both empty) the name of an
    identity the host holds."""
    return tls.SigningChain(certificates=[bytes(c) for c in certificates],
                            private_key=bytes(private_key),
                            private_key_password=None if password is None else bytes(password),
                            host_identity=host_identity)


def client_context(trust, chain=None, alpn=(), min_version=None, max_version=None,
                   suites=None, verify="full", send_sni=True, groups=None):
    """Builds a ``client-context``.

    ``verify`` is ``"full"``, ``"no-hostname"`` (chain verified, name not: the
    ``insecure`` interface) or ``"none"`` (no verification: ``insecure`` too).
    Versions are ``"TLSv1.2"``/``"TLSv1.3"`` or ``None``; ``suites`` and
    ``groups`` are IANA ids (``None``: the provider's defaults).
    """
    config = tls.ClientConfig(
        trust=trust, certificate_chain=chain, alpn_protocols=[bytes(p) for p in alpn],
        min_version=VERSIONS.get(min_version), max_version=VERSIONS.get(max_version),
        cipher_suites=None if suites is None else list(suites),
        key_exchange_groups=None if groups is None else list(groups), send_sni=send_sni)
    if verify == "full":
        return call(tls.ClientContext.create, config)
    if verify == "no-hostname":
        return call(insecure.client_context_without_hostname_check, config)
    return call(insecure.client_context_without_verification, config)


def server_context(chains, client_auth=None, client_trust=None, alpn=(), min_version=None,
                   max_version=None, suites=None, session_tickets=True, groups=None):
    """Builds a ``server-context``; ``client_auth`` is ``None``, ``"optional"`` or ``"required"``."""
    if client_auth == "optional":
        auth = tls.ClientAuth_Optional(client_trust)
    elif client_auth == "required":
        auth = tls.ClientAuth_Required(client_trust)
    else:
        auth = tls.ClientAuth_None_()
    config = tls.ServerConfig(
        certificate_chains=list(chains), client_auth=auth,
        alpn_protocols=[bytes(p) for p in alpn],
        min_version=VERSIONS.get(min_version), max_version=VERSIONS.get(max_version),
        cipher_suites=None if suites is None else list(suites),
        key_exchange_groups=None if groups is None else list(groups),
        session_tickets=session_tickets)
    return call(tls.ServerContext.create, config)


def release(resource):
    """Drops an interface resource now instead of waiting for the garbage collector.

    Harmless when the collector got there first: in a cycle collected together
    (an ``SSLSocket`` and its connection), the binding's finalizer may already
    have dropped the handle (componentize-py 0.25.1 keeps it in ``finalizer``)."""
    if resource is None:
        return
    finalizer = getattr(resource, "finalizer", None)
    if finalizer is not None and not finalizer.alive:
        return
    resource.__exit__(None, None, None)


class Channel:
    """Pumps one connection's memory channel against a transport.

    Subclasses provide ``_recv(n)`` (bytes; ``b""`` at end of stream; ``None`` if it
    would block) and ``_send(data)`` (bytes accepted, possibly 0 if it would block).
    Operations raise :class:`WouldBlock` when the transport cannot move the bytes
    they need, and :class:`TLSFailure` for the provider's errors.

    At most one read chunk of unfed ciphertext and the connection's own bounded
    output are ever held here, so memory stays bounded whatever the peer sends.
    """

    def __init__(self, connection):
        self.connection = connection
        self._incoming = b""
        self._outgoing = bytearray()
        self._at_eof = False
        # Plaintext bytes a write took before it could not go on (see `write`).
        self._taken = 0
        # Whether any ciphertext (the ClientHello, on a client) has left.
        self.started = False

    def close(self):
        """Releases the connection resource."""
        release(self.connection)
        self.connection = None

    def flush(self):
        """Sends waiting ciphertext; returns False if the transport would block."""
        conn = self.connection
        while True:
            if not self._outgoing:
                waiting = conn.pending_ciphertext()
                if not waiting:
                    return True
                self._outgoing += conn.take(waiting)
                self.started = True
            sent = self._send(self._outgoing)
            if not sent:
                return False
            del self._outgoing[:sent]

    def _fill(self):
        """Feeds the connection more ciphertext; raises WouldBlock("read") if none."""
        if not self._incoming:
            if self._at_eof:
                raise TLSFailure("misuse", None, "the transport already ended")
            data = self._recv(READ_CHUNK)
            if data is None:
                raise WouldBlock("read")
            if not data:
                self._at_eof = True
                call(self.connection.eof)
                return
            self._incoming = bytes(data)
        accepted = call(self.connection.feed, self._incoming)
        if not accepted:
            # Unread plaintext fills the connection: the operation waiting for more
            # ciphertext can never progress (a read would, but this is not one).
            raise TLSFailure("resource-limit", None,
                             "the connection is full of plaintext nobody read; read it "
                             "before waiting for more from the peer")
        self._incoming = self._incoming[accepted:]

    def read_hello(self):
        """With an acceptor in place of the connection: feeds it until the
        ClientHello is complete, and returns it."""
        acceptor = self.connection
        while True:
            hello = acceptor.client_hello()
            if hello is not None:
                return hello
            try:
                self._fill()
            except TLSFailure:
                # Not a ClientHello: the peer hears the alert that says so.
                self.flush_quietly()
                raise

    def flush_quietly(self):
        """Sends what is waiting (an alert explaining an error) if the transport
        takes it now."""
        try:
            self.flush()
        except (OSError, WouldBlock, TLSFailure):
            pass

    def run(self, step):
        """Repeats ``step`` (an interface call returning a progress or an outcome)
        until it has a result, moving bytes in between; returns that result."""
        while True:
            try:
                result = step()
            except Err as err:
                problem = failure(err)
            else:
                problem = None
            if problem is not None:
                # Outside the handler, and not kept in this frame: see `call`.
                self.flush_quietly()
                try:
                    raise problem
                finally:
                    del problem
            want = _want(result)
            if want == "write":
                if not self.flush():
                    raise WouldBlock("write")
                continue
            flushed = self.flush()
            if want == "read":
                if self._at_eof and not self._incoming:
                    # The transport ended: let the provider report how.
                    raise TLSFailure("ragged-eof", None,
                                     "the transport ended before the peer finished (no close_notify)")
                try:
                    self._fill()
                except TLSFailure:
                    # The provider refused the peer's bytes and queued the alert
                    # that says why: the peer hears it before the transport closes.
                    self.flush_quietly()
                    raise
                continue
            if not flushed and isinstance(result, tls.Progress):
                raise WouldBlock("write")
            return result

    def handshake(self):
        """Completes the handshake."""
        self.run(self.connection.handshake)

    def read(self, size):
        """Up to ``size`` bytes of plaintext; ``b""`` after the peer's close_notify."""
        conn = self.connection
        try:
            return self.run(lambda: conn.read(size)).value
        except TLSFailure as failed:
            if failed.kind == "closed":
                return b""
            raise

    def write(self, data):
        """Encrypts ``data`` and sends the ciphertext; returns how many bytes of it
        were taken (all, unless a repeated call reports an earlier part).

        As with OpenSSL's ``SSL_write``, a call that cannot finish (the transport
        would block or timed out) raises, and must be repeated with the same data:
        what it took before stopping is remembered, not taken twice, and the repeat
        returns that count once the ciphertext is sent. A call returns only when its
        ciphertext has left, so a caller that then waits for the peer's answer is
        not left holding the end of its request."""
        view = memoryview(data).cast("B")
        if self._taken:
            if not self.flush():
                raise WouldBlock("write")
            taken, self._taken = self._taken, 0
            return min(taken, len(view))
        done = 0
        conn = self.connection
        try:
            while done < len(view):
                chunk = bytes(view[done:done + 65536])
                outcome = self.run(lambda: conn.write(chunk))
                done += outcome.value
            if not self.flush():
                raise WouldBlock("write")
        except BaseException:
            self._taken = done
            raise
        return done

    def _discard_plaintext(self):
        conn = self.connection
        while conn.pending_plaintext():
            conn.read(conn.pending_plaintext())

    def shutdown(self):
        """Sends close_notify and waits for the peer's (or the end of the transport).
        Data the peer still sends meanwhile is discarded, as OpenSSL does."""
        conn = self.connection

        def step():
            self._discard_plaintext()
            return conn.shutdown()

        while True:
            try:
                progress = self.run(step)
            except TLSFailure as failed:
                if failed.kind in ("closed", "ragged-eof"):
                    return
                raise
            if progress == tls.Progress.DONE:
                return


def _want(result):
    if result == tls.Progress.WANT_READ or isinstance(
            result, (tls.ReadOutcome_WantRead, tls.WriteOutcome_WantRead)):
        return "read"
    if result == tls.Progress.WANT_WRITE or isinstance(
            result, (tls.ReadOutcome_WantWrite, tls.WriteOutcome_WantWrite)):
        return "write"
    return None


class SocketChannel(Channel):
    """A channel over a connected socket, honouring its timeout or non-blocking
    mode. It calls ``socket.socket``'s own methods, so it also works under
    ``ssl.SSLSocket``, which overrides them."""

    def __init__(self, connection, sock):
        super().__init__(connection)
        self.sock = sock

    def _recv(self, size):
        try:
            data = _socket.socket.recv(self.sock, size)
        except (BlockingIOError, InterruptedError):
            return None
        if data and len(data) < size:
            # wasmtime's sockets (tokio underneath) stay readable for select()
            # and poll() until a read finds nothing: without this read, a socket
            # whose data was all taken looks readable forever, and urllib3 then
            # takes every pooled connection for one the server closed.
            data += self._read_now(size - len(data))
        return data

    def _read_now(self, size):
        """What can be read without waiting (b"" if nothing, or at the end)."""
        timeout = _socket.socket.gettimeout(self.sock)
        _socket.socket.settimeout(self.sock, 0.0)
        try:
            return _socket.socket.recv(self.sock, size)
        except OSError:  # would block; or an error, which the next read reports
            return b""
        finally:
            _socket.socket.settimeout(self.sock, timeout)

    def _send(self, data):
        if self.sock.gettimeout() == 0.0:
            try:
                return _socket.socket.send(self.sock, data)
            except (BlockingIOError, InterruptedError):
                return 0
        _socket.socket.sendall(self.sock, data)
        return len(data)


class BufferChannel(Channel):
    """A channel whose transport is two byte buffers (``MemoryBIO``-like objects
    with ``read(n)``, ``write(b)`` and an ``eof`` attribute)."""

    def __init__(self, connection, incoming, outgoing):
        super().__init__(connection)
        self.incoming = incoming
        self.outgoing = outgoing

    def _recv(self, size):
        data = self.incoming.read(size)
        if not data and not self.incoming.eof:
            return None
        return data

    def _send(self, data):
        return self.outgoing.write(bytes(data))
