"""memtls's ``_ssl``: the C extension CPython's ``ssl`` module is built on, written
over the ``memtls:tls`` interface so that the unmodified standard-library ``ssl``
(and everything above it) works inside WebAssembly.

The names, constants and exceptions are the ones ``Lib/ssl.py`` imports. What the
interface cannot do raises ``NotImplementedError`` (or ``SSLError``) naming the
reason instead of pretending: TLS below 1.2, NPN, message callbacks, post-handshake
authentication, CRL checking, encrypted private keys, ``tls-unique`` channel binding
and key logging (the attribute is absent, so ``ssl.create_default_context`` skips
it). DH parameters are read and checked, and go unused (ECDHE only).
"""

import encodings.idna  # noqa: F401  (ssl encodes host names with it; codecs load lazily)
import os
import sys as _sys
import time as _time
import types as _types
import operator as _operator
import warnings

import memtls
from memtls import _core, _pem
from memtls._core import TLSFailure, WouldBlock

# Libraries read these to learn what the `ssl` module can do: urllib3 checks
# hostnames through `ssl` only when the version says "OpenSSL " (LibreSSL does
# not honour HOSTFLAG_NEVER_CHECK_SUBJECT; memtls never checks the subject) and
# otherwise turns `check_hostname` off, which under memtls needs the insecure
# interface. memtls implements OpenSSL 3's `_ssl` semantics, so it says so.
OPENSSL_VERSION = "OpenSSL 3.0.0 compatible: memtls 0.1.0 (rustls 0.23)"
OPENSSL_VERSION_INFO = (3, 0, 0, 0, 0)
OPENSSL_VERSION_NUMBER = 0x30000000
_OPENSSL_API_VERSION = OPENSSL_VERSION_INFO
_DEFAULT_CIPHERS = "DEFAULT"

# --- constants (values as CPython defines them, so code comparing them works) ---
PROTOCOL_SSLv23 = PROTOCOL_TLS = 2
# TLS 1.0 and 1.1 exist as names (deprecated, as in CPython); a context made with
# them has no version memtls can speak, so its first handshake fails.
PROTOCOL_TLSv1 = 3
PROTOCOL_TLSv1_1 = 4
PROTOCOL_TLSv1_2 = 5
PROTOCOL_TLS_CLIENT = 16
PROTOCOL_TLS_SERVER = 17

PROTO_MINIMUM_SUPPORTED = -2
PROTO_MAXIMUM_SUPPORTED = -1
PROTO_SSLv3 = 0x300
PROTO_TLSv1 = 0x301
PROTO_TLSv1_1 = 0x302
PROTO_TLSv1_2 = 0x303
PROTO_TLSv1_3 = 0x304

CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED = 0, 1, 2

VERIFY_DEFAULT = 0
VERIFY_CRL_CHECK_LEAF = 0x4
VERIFY_CRL_CHECK_CHAIN = 0xC
VERIFY_X509_STRICT = 0x20
VERIFY_ALLOW_PROXY_CERTS = 0x40
VERIFY_X509_TRUSTED_FIRST = 0x8000
VERIFY_X509_PARTIAL_CHAIN = 0x80000

OP_ALL = 0x80000050
OP_LEGACY_SERVER_CONNECT = 0x4
OP_ENABLE_KTLS = 0x8
OP_IGNORE_UNEXPECTED_EOF = 0x80
OP_NO_TICKET = 0x4000
OP_NO_COMPRESSION = 0x20000
OP_NO_RENEGOTIATION = 0x40000000
OP_ENABLE_MIDDLEBOX_COMPAT = 0x100000
OP_CIPHER_SERVER_PREFERENCE = 0x400000
OP_NO_SSLv2 = 0
OP_NO_SSLv3 = 0x02000000
OP_NO_TLSv1 = 0x04000000
OP_NO_TLSv1_2 = 0x08000000
OP_NO_TLSv1_1 = 0x10000000
OP_NO_TLSv1_3 = 0x20000000
OP_SINGLE_DH_USE = 0
OP_SINGLE_ECDH_USE = 0

HOSTFLAG_ALWAYS_CHECK_SUBJECT = 0x1
HOSTFLAG_NO_WILDCARDS = 0x2
HOSTFLAG_NO_PARTIAL_WILDCARDS = 0x4
HOSTFLAG_MULTI_LABEL_WILDCARDS = 0x8
HOSTFLAG_SINGLE_LABEL_SUBDOMAINS = 0x10
HOSTFLAG_NEVER_CHECK_SUBJECT = 0x20

SSL_ERROR_SSL = 1
SSL_ERROR_WANT_READ = 2
SSL_ERROR_WANT_WRITE = 3
SSL_ERROR_WANT_X509_LOOKUP = 4
SSL_ERROR_SYSCALL = 5
SSL_ERROR_ZERO_RETURN = 6
SSL_ERROR_WANT_CONNECT = 7
SSL_ERROR_EOF = 8
SSL_ERROR_INVALID_ERROR_CODE = 10

ENCODING_PEM = 1
ENCODING_DER = 2

_ALERTS = {
    0: "CLOSE_NOTIFY", 10: "UNEXPECTED_MESSAGE", 20: "BAD_RECORD_MAC",
    22: "RECORD_OVERFLOW", 30: "DECOMPRESSION_FAILURE", 40: "HANDSHAKE_FAILURE",
    42: "BAD_CERTIFICATE", 43: "UNSUPPORTED_CERTIFICATE", 44: "CERTIFICATE_REVOKED",
    45: "CERTIFICATE_EXPIRED", 46: "CERTIFICATE_UNKNOWN", 47: "ILLEGAL_PARAMETER",
    48: "UNKNOWN_CA", 49: "ACCESS_DENIED", 50: "DECODE_ERROR", 51: "DECRYPT_ERROR",
    70: "PROTOCOL_VERSION", 71: "INSUFFICIENT_SECURITY", 80: "INTERNAL_ERROR",
    90: "USER_CANCELLED", 100: "NO_RENEGOTIATION", 110: "UNSUPPORTED_EXTENSION",
    111: "CERTIFICATE_UNOBTAINABLE", 112: "UNRECOGNIZED_NAME",
    113: "BAD_CERTIFICATE_STATUS_RESPONSE", 114: "BAD_CERTIFICATE_HASH_VALUE",
    115: "UNKNOWN_PSK_IDENTITY", 116: "CERTIFICATE_REQUIRED",
    120: "NO_APPLICATION_PROTOCOL",
}
for _code, _name in _ALERTS.items():
    if _code not in (116, 120):
        globals()["ALERT_DESCRIPTION_" + _name] = _code

HAS_SNI = HAS_ECDH = HAS_ALPN = HAS_TLSv1_2 = HAS_TLSv1_3 = True
HAS_NPN = HAS_SSLv2 = HAS_SSLv3 = HAS_TLSv1 = HAS_TLSv1_1 = HAS_PSK = HAS_PHA = False
HAS_NEVER_CHECK_COMMON_NAME = True

# (verify code, OpenSSL's text) per certificate-rejected reason.
_VERIFY = {
    "not-yet-valid": (9, "certificate is not yet valid"),
    "expired": (10, "certificate has expired"),
    "unknown-issuer": (20, "unable to get local issuer certificate"),
    "bad-signature": (7, "certificate signature failure"),
    "name-mismatch": (62, "Hostname mismatch, certificate is not valid for {name!r}."),
    "revoked": (23, "certificate revoked"),
    "no-certificate": (50, "peer did not return a certificate"),
    "other": (1, "unspecified certificate verification error"),
}


# --- exceptions ---
class SSLError(OSError):
    """An error from the TLS layer; ``reason`` and ``library`` as in CPython."""

    library = None
    reason = None

    def __str__(self):
        if len(self.args) >= 2 and isinstance(self.args[1], str):
            return self.args[1]
        return super().__str__()


class SSLZeroReturnError(SSLError):
    """The TLS connection was closed cleanly (close_notify)."""


class SSLWantReadError(SSLError):
    """Non-blocking: more data must be received before the operation can finish."""


class SSLWantWriteError(SSLError):
    """Non-blocking: data must be sent before the operation can finish."""


class SSLSyscallError(SSLError):
    """A transport error."""


class SSLEOFError(SSLError):
    """The transport ended without the peer's close_notify."""


class SSLCertVerificationError(SSLError, ValueError):
    """Certificate verification failed; ``verify_code`` and ``verify_message`` say why."""

    verify_code = None
    verify_message = None


def _make(cls, code, reason, text, library="SSL"):
    error = cls(code, text)
    error.reason = reason
    error.library = library
    return error


def _ssl_error(failure, server_name=None):
    """The CPython exception for a provider error (a TLSFailure)."""
    kind, detail, message = failure.kind, failure.detail, failure.message
    if kind == "closed":
        return _make(SSLZeroReturnError, SSL_ERROR_ZERO_RETURN, None,
                     "TLS/SSL connection has been closed (EOF)")
    if kind == "ragged-eof":
        return _make(SSLEOFError, SSL_ERROR_EOF, None,
                     f"EOF occurred in violation of protocol ({message})")
    if kind == "certificate-rejected":
        code, text = _VERIFY.get(detail, _VERIFY["other"])
        text = text.format(name=server_name)
        error = _make(SSLCertVerificationError, SSL_ERROR_SSL, "CERTIFICATE_VERIFY_FAILED",
                      f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                      f"{text} ({message})")
        error.verify_code, error.verify_message = code, text
        return error
    if kind == "alert-received":
        name = _ALERTS.get(detail, f"ALERT_{detail}")
        reason = f"TLSV1_ALERT_{name}"
        return _make(SSLError, SSL_ERROR_SSL, reason,
                     f"[SSL: {reason}] tlsv1 alert {name.lower().replace('_', ' ')} "
                     f"({message})")
    if kind == "alert-sent":
        reason = _ALERTS.get(detail, f"ALERT_{detail}")
        return _make(SSLError, SSL_ERROR_SSL, reason, f"[SSL: {reason}] {message}")
    reason = kind.upper().replace("-", "_")
    return _make(SSLError, SSL_ERROR_SSL, reason, f"[SSL: {reason}] {message}")


def _unverified(verify, failure):
    """The message for a context the host refused to build without (full)
    verification: what the application asked for, and who can allow it."""
    asked = ("verify_mode is CERT_NONE (no certificate verification)" if verify == "none"
             else "check_hostname is False (no hostname check)")
    return (f"{asked}, which the host must allow: {failure.message}; "
            "`memtls run --allow-insecure` allows it")


def _translate(operation, server_name=None):
    """Runs ``operation``, turning memtls's exceptions into CPython's. The new
    exception is raised after the handler has ended, so that it carries no
    ``__context__`` of memtls's own."""
    try:
        return operation()
    except WouldBlock as blocked:
        if blocked.want == "read":
            error = _make(SSLWantReadError, SSL_ERROR_WANT_READ, None,
                          "The operation did not complete (read)")
        else:
            error = _make(SSLWantWriteError, SSL_ERROR_WANT_WRITE, None,
                          "The operation did not complete (write)")
    except TLSFailure as failure:
        error = _ssl_error(failure, server_name)
    try:
        raise error
    finally:
        del error  # no cycle through this frame: see memtls._core.call


def _unraisable(exc, where):
    """Reports an exception nothing can raise to, as CPython does for its
    callbacks."""
    hook = getattr(_sys, "unraisablehook", None)
    if hook is None or hook is getattr(_sys, "__unraisablehook__", None):
        import traceback
        print(f"Exception ignored in: {where!r}", file=_sys.stderr)
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=_sys.stderr)
        return
    hook(_types.SimpleNamespace(exc_type=type(exc), exc_value=exc,
                                exc_traceback=exc.__traceback__, err_msg=None,
                                object=where))


# --- module functions ---
_OBJECTS = {
    129: ("serverAuth", "TLS Web Server Authentication", "1.3.6.1.5.5.7.3.1"),
    130: ("clientAuth", "TLS Web Client Authentication", "1.3.6.1.5.5.7.3.2"),
}


def txt2obj(txt, name=False):
    """``(nid, shortname, longname, oid)`` for an OID (or, with ``name``, a name)."""
    for nid, (short, long, oid) in _OBJECTS.items():
        if txt == oid or (name and txt in (short, long)):
            return nid, short, long, oid
    raise ValueError(f"unknown object '{txt}'")


def nid2obj(nid):
    """``(nid, shortname, longname, oid)`` for a numeric id."""
    if nid not in _OBJECTS:
        raise ValueError(f"unknown NID {nid}")
    return (nid, *_OBJECTS[nid])


def RAND_status():
    """The random generator is the WASI one: always seeded."""
    return True


def RAND_add(string, entropy):
    """Accepted and ignored: randomness comes from WASI ``random``."""
    memoryview(string.encode() if isinstance(string, str) else string)


def RAND_bytes(n):
    """``n`` cryptographically strong random bytes (WASI ``random``)."""
    if n < 0:
        raise ValueError("num must be positive")
    return os.urandom(n)


def get_default_verify_paths():
    """No OpenSSL directories exist here; system trust comes from the provider."""
    return ("SSL_CERT_FILE", "", "SSL_CERT_DIR", "")


def _files_in(directory):
    """The regular files in ``directory``, in name order."""
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if os.path.isfile(path):
            yield path


def _read_file(path):
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise error from None


def _read_path(path):
    """The bytes of ``path`` as OpenSSL's file loading reports a failure: an
    ``OSError`` with the errno, no file name (``load_cert_chain``,
    ``load_verify_locations``)."""
    try:
        with open(os.fspath(path), "rb") as file:
            return file.read()
    except OSError as error:
        raise OSError(error.errno, error.strerror) from None


def _password_bytes(password):
    """A ``load_cert_chain`` password as bytes, checked as CPython checks it (a
    callable is called; at most 1024 bytes)."""
    if callable(password):
        password = password()
        if not isinstance(password, (str, bytes, bytearray)):
            raise TypeError("password callback must return a string")
    if isinstance(password, str):
        password = password.encode("utf-8")
    if len(password) > 1024:
        raise ValueError("password cannot be longer than 1024 bytes")
    return bytes(password)


def _test_decode_cert(path):
    """The first certificate of PEM file ``path`` decoded as ``getpeercert()`` shows
    it (CPython's test helper of the same name)."""
    try:
        ders = _pem.pem_to_ders(_read_file(path).decode("ascii", "replace"))
    except ValueError:
        ders = []
    if not ders:
        raise _make(SSLError, SSL_ERROR_SSL, "NO_START_LINE",
                    f"[PEM: NO_START_LINE] no certificate in {path}")
    return _core.decode_certificate(ders[0])[0]


class _CType(type):
    """The type of ``_ssl``'s classes, behaving as CPython's C types do: immutable
    (``_c_type``), and some not instantiable from Python (``_internal``: only
    ``_ssl`` makes them, with ``_new``) or not subclassable (``_final``).
    Subclasses (``ssl.SSLContext``) are ordinary classes."""

    def __setattr__(cls, name, value):
        if cls.__dict__.get("_c_type"):
            raise TypeError(f"cannot set {name!r} attribute of immutable type "
                            f"'_ssl.{cls.__name__}'")
        super().__setattr__(name, value)

    def __delattr__(cls, name):
        if cls.__dict__.get("_c_type"):
            raise TypeError(f"cannot set {name!r} attribute of immutable type "
                            f"'_ssl.{cls.__name__}'")
        super().__delattr__(name)

    def __call__(cls, *args, **kwargs):
        if cls.__dict__.get("_internal"):
            raise TypeError(f"cannot create '_ssl.{cls.__name__}' instances")
        return super().__call__(*args, **kwargs)

    def _new(cls, *args, **kwargs):
        """An instance made by ``_ssl`` itself."""
        return super().__call__(*args, **kwargs)

    def __new__(mcs, name, bases, namespace):
        for base in bases:
            if base.__dict__.get("_final"):
                raise TypeError(f"type '_ssl.{base.__name__}' is not an acceptable base "
                                "type")
        return super().__new__(mcs, name, bases, namespace)


# --- certificates and sessions ---
class Certificate(metaclass=_CType):
    """A certificate in a verified or unverified chain."""

    _c_type = _internal = _final = True

    def __init__(self, der):
        self._der = bytes(der)

    def public_bytes(self, format=ENCODING_PEM):
        """The certificate as PEM text (``ENCODING_PEM``) or DER bytes."""
        if format == ENCODING_DER:
            return self._der
        if format == ENCODING_PEM:
            return _pem.der_to_pem(self._der)
        raise ValueError("Unsupported format")

    def get_info(self):
        """The certificate as ``getpeercert()`` describes one."""
        return _core.decode_certificate(self._der)[0]

    def __eq__(self, other):
        return isinstance(other, Certificate) and other._der == self._der

    def __hash__(self):
        return hash(self._der)

    def __repr__(self):
        subject = dict(rdn[0] for rdn in self.get_info().get("subject", ()) if rdn)
        return f"<Certificate '{subject.get('commonName', '')}'>"


class SSLSession(metaclass=_CType):
    """A client session, as the provider describes it (``connection.session``):
    handed to a later connection of the same context with ``session=``, it is
    offered for resumption; connections made without one never resume, as in
    CPython. A TLS 1.3 session resumes one connection (its ticket is used once,
    as RFC 8446 advises; the resumed connection gets sessions of its own); a TLS
    1.2 session can be offered again. ``id`` is the server's session id, or for a
    ticket the SHA-256 digest of the ticket, as OpenSSL reports it."""

    _c_type = _internal = _final = True

    def __init__(self, context, handle):
        self._context = context
        self._handle = handle
        info = handle.info()
        self._id = bytes(info.id)
        self._time = info.created
        self._lifetime = info.ticket_lifetime
        self._has_ticket = info.has_ticket

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle is not None:
            self._handle = None
            _core.release(handle)

    id = property(lambda self: self._id, doc="The session id (bytes).")
    time = property(lambda self: self._time,
                    doc="When the session was made, in seconds since the epoch.")
    timeout = property(lambda self: self._lifetime,
                       doc="How long the session may be resumed, in seconds (the "
                           "ticket's lifetime).")
    ticket_lifetime_hint = property(lambda self: self._lifetime,
                                    doc="The ticket lifetime the server gave, in seconds.")
    has_ticket = property(lambda self: self._has_ticket,
                          doc="Whether the server issued a session ticket.")

    def __eq__(self, other):
        return isinstance(other, SSLSession) and other.id == self.id

    def __hash__(self):
        return hash(self.id)


class MemoryBIO(metaclass=_CType):
    """An in-memory byte queue for ``SSLObject``."""

    _c_type = _final = True

    def __init__(self):
        self._buffer = bytearray()
        self._eof_written = False

    @property
    def pending(self):
        """Bytes waiting to be read."""
        return len(self._buffer)

    @property
    def eof(self):
        """True once ``write_eof`` was called and everything was read."""
        return self._eof_written and not self._buffer

    def read(self, size=-1):
        """Removes and returns up to ``size`` bytes (all with -1)."""
        if size < 0 or size > len(self._buffer):
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def write(self, data):
        """Appends ``data``; returns its length."""
        if self._eof_written:
            raise _make(SSLError, SSL_ERROR_SSL, None, "cannot write() after write_eof()")
        try:
            view = memoryview(data)
        except TypeError:
            raise TypeError(f"a bytes-like object is required, not "
                            f"'{type(data).__name__}'") from None
        if not view.c_contiguous:
            raise BufferError("memoryview: underlying buffer is not C-contiguous")
        self._buffer += view
        return view.nbytes

    def write_eof(self):
        """Marks the end of the data: once read, ``eof`` is true."""
        self._eof_written = True


# --- key-exchange groups ---
# OpenSSL's other names for groups the providers have (IANA names are the main ones).
_GROUP_ALIASES = {"P-256": "secp256r1", "prime256v1": "secp256r1", "P-384": "secp384r1",
                  "P-521": "secp521r1", "X25519": "x25519", "X448": "x448"}


# --- cipher strings ---
_KEYWORDS = {
    "ECDHE": {"kx": "ECDH"}, "EECDH": {"kx": "ECDH"}, "kECDHE": {"kx": "ECDH"},
    "AESGCM": {"enc": ("AES-128-GCM", "AES-256-GCM")},
    "AES": {"enc": ("AES-128-GCM", "AES-256-GCM")}, "AES128": {"enc": ("AES-128-GCM",)},
    "AES256": {"enc": ("AES-256-GCM",)}, "CHACHA20": {"enc": ("ChaCha20-Poly1305",)},
    "ECDSA": {"auth": "ECDSA"}, "aECDSA": {"auth": "ECDSA"},
    "RSA": {"auth": "RSA"}, "aRSA": {"auth": "RSA"},
    "SHA256": {"digest": "SHA256"}, "SHA384": {"digest": "SHA384"},
}
_EVERYTHING = ("DEFAULT", "ALL", "HIGH", "COMPLEMENTOFDEFAULT", "PROFILE=SYSTEM")


def _matches(word, suite_id):
    openssl, iana, _, _, kx, auth, enc, digest = _core.SUITES[suite_id]
    if word in (openssl, iana) or word in _EVERYTHING:
        return True
    rule = _KEYWORDS.get(word)
    if rule is None:
        return False
    return all((value == rule_value if isinstance(rule_value, str) else value in rule_value)
               for key, rule_value in rule.items()
               for value in [{"kx": kx, "auth": auth, "enc": enc, "digest": digest}[key]])


def _parse_cipher_string(text, supported):
    """TLS 1.2 suite ids an OpenSSL cipher string selects (TLS 1.3 names given
    explicitly restrict the TLS 1.3 suites too); SSLError if it selects none."""
    tls12 = [s for s in supported if _core.SUITES[s][2] == "TLSv1.2"]
    tls13 = [s for s in supported if _core.SUITES[s][2] == "TLSv1.3"]
    chosen, removed, named13, unknown = [], set(), [], []
    for token in text.replace(",", ":").replace(" ", ":").split(":"):
        if not token or token.startswith("@"):
            continue
        op, word = (token[0], token[1:]) if token[0] in "!-+" else ("", token)
        words = word.split("+")
        hits = [s for s in tls12 + tls13
                if all(_matches(w, s) for w in words)
                and (_core.SUITES[s][2] == "TLSv1.2" or word in _core.SUITES[s][:2])]
        if not hits and op == "":
            unknown.append(token)
        if op in ("!", "-"):
            removed.update(hits)
        elif op == "":
            for suite in hits:
                if _core.SUITES[suite][2] == "TLSv1.3":
                    named13.append(suite)
                elif suite not in chosen:
                    chosen.append(suite)
    chosen = [s for s in chosen if s not in removed]
    if not chosen:
        detail = f"; not available here: {', '.join(unknown)}" if unknown else ""
        raise _make(SSLError, SSL_ERROR_SSL, "NO_CIPHER_MATCH",
                    "[SSL: NO_CIPHER_MATCH] No cipher can be selected: memtls (rustls) "
                    "offers only ECDHE key exchange with AES-GCM or ChaCha20-Poly1305"
                    + detail)
    return (named13 or tls13) + chosen


def _cipher_info(suite_id):
    openssl, iana, proto, bits, kx, auth, enc, digest = _core.SUITES[suite_id]
    return {"id": 0x03000000 | suite_id, "name": openssl, "protocol": proto,
            "description": f"{openssl} {proto} Kx={kx} Au={auth} Enc={enc} Mac=AEAD",
            "strength_bits": bits, "alg_bits": bits, "aead": True,
            "symmetric": enc.lower(), "digest": None, "kea": f"kx-{kx.lower()}",
            "auth": f"auth-{auth.lower()}"}


# --- contexts ---
def _version_name(value):
    return {PROTO_TLSv1_2: "TLSv1.2", PROTO_TLSv1_3: "TLSv1.3"}.get(value)


def _setting(attribute, doc, convert=lambda context, value: int(value)):
    """A context property kept in ``attribute``: setting it stores ``convert(context,
    value)``, which raises to refuse the value, and drops the provider contexts built
    from the old settings."""
    def get(self):
        return getattr(self, attribute)

    def set_(self, value):
        setattr(self, attribute, convert(self, value))
        self._changed()
    return property(get, set_, doc=doc)


class _SSLContext(metaclass=_CType):
    """Configuration shared by connections; built into a provider context on first use
    (and rebuilt after any change), so sessions resume across its connections."""

    _c_type = True

    def __new__(cls, protocol, *args, **kwargs):
        pinned = {PROTOCOL_TLSv1: PROTO_TLSv1, PROTOCOL_TLSv1_1: PROTO_TLSv1_1,
                  PROTOCOL_TLSv1_2: PROTO_TLSv1_2}
        if protocol not in (PROTOCOL_TLS, PROTOCOL_TLS_CLIENT, PROTOCOL_TLS_SERVER,
                            *pinned):
            raise ValueError("invalid or unsupported protocol version %i" % protocol)
        if protocol in pinned or protocol == PROTOCOL_TLS:
            name = {PROTOCOL_TLS: "PROTOCOL_TLS", PROTOCOL_TLSv1: "PROTOCOL_TLSv1",
                    PROTOCOL_TLSv1_1: "PROTOCOL_TLSv1_1",
                    PROTOCOL_TLSv1_2: "PROTOCOL_TLSv1_2"}[protocol]
            # Blames the caller of ssl.SSLContext(), as CPython's C code does.
            warnings.warn(f"ssl.{name} is deprecated", DeprecationWarning, stacklevel=3)
        self = super().__new__(cls)
        self._protocol = protocol
        client = protocol == PROTOCOL_TLS_CLIENT
        self._verify_mode = CERT_REQUIRED if client else CERT_NONE
        self._check_hostname = client
        self._min = pinned.get(protocol, PROTO_TLSv1_2)
        self._max = pinned.get(protocol, PROTO_MAXIMUM_SUPPORTED)
        # CPython's defaults (TLS 1.2 as the floor comes from minimum_version).
        self._options = (OP_ALL | OP_NO_SSLv3 | OP_NO_COMPRESSION | OP_CIPHER_SERVER_PREFERENCE
                         | OP_ENABLE_MIDDLEBOX_COMPAT)
        self._verify_flags = VERIFY_X509_TRUSTED_FIRST
        self._host_flag_bits = HOSTFLAG_NEVER_CHECK_SUBJECT
        self._system = False
        self._anchors = []
        # Certificates from a capath directory that no verification has looked
        # up yet: OpenSSL reads a hashed directory only when it needs an issuer,
        # so cert_store_stats() and get_ca_certs() count them once used.
        self._unlooked = set()
        self._chain = None
        self._alpn = []
        self._suites = None
        self._groups = None
        self._num_tickets = 2
        self._sni_callback = None
        self._built = {}
        self._stats = dict.fromkeys(("number", "connect", "connect_good",
                                     "connect_renegotiate", "accept", "accept_good",
                                     "accept_renegotiate", "hits", "misses", "timeouts",
                                     "cache_full"), 0)
        return self

    def __init__(self, *args, **kwargs):
        pass

    def _changed(self):
        self._built = {}

    @property
    def protocol(self):
        """The protocol constant the context was made with."""
        return self._protocol

    @property
    def security_level(self):
        """OpenSSL's security level, read-only: 2 (what Debian's OpenSSL 3 sets), which
        is what rustls's floor (2048-bit RSA, 112-bit security, no SHA-1 signatures)
        amounts to."""
        return 2

    @security_level.setter
    def security_level(self, value):
        raise AttributeError("attribute 'security_level' of '_ssl._SSLContext' objects is "
                             "not writable")

    def _verify_mode_value(self, value):
        value = int(value)
        if value not in (CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED):
            raise ValueError("invalid value for verify_mode")
        if value == CERT_NONE and self._check_hostname:
            raise ValueError("Cannot set verify_mode to CERT_NONE when check_hostname "
                             "is enabled.")
        return value

    verify_mode = _setting("_verify_mode", "CERT_NONE, CERT_OPTIONAL or CERT_REQUIRED.",
                           _verify_mode_value)

    def _check_hostname_value(self, value):
        value = bool(value)
        if value and self._verify_mode == CERT_NONE:
            self._verify_mode = CERT_REQUIRED
        return value

    check_hostname = _setting("_check_hostname",
                              "Whether the server's name is verified (client side).",
                              _check_hostname_value)

    @property
    def _host_flags(self):
        return self._host_flag_bits

    @_host_flags.setter
    def _host_flags(self, value):
        if not int(value) & HOSTFLAG_NEVER_CHECK_SUBJECT:
            raise ValueError("memtls never matches a certificate's common name; "
                             "names come from subjectAltName only")
        self._host_flag_bits = int(value)

    def _version_value(self, value, attribute):
        value = _operator.index(value)
        if self._protocol not in (PROTOCOL_TLS, PROTOCOL_TLS_CLIENT, PROTOCOL_TLS_SERVER):
            raise ValueError("The context's protocol doesn't support modification of "
                             "highest and lowest version.")
        deprecated = {PROTO_SSLv3: "SSLv3", PROTO_TLSv1: "TLSv1", PROTO_TLSv1_1: "TLSv1_1"}
        if value in deprecated:
            # As CPython's C setter warns: at the line that set the attribute
            # (above: ssl.py's property, this setting's setter and its lambda).
            warnings.warn(f"ssl.TLSVersion.{deprecated[value]} is deprecated",
                          DeprecationWarning, stacklevel=5)
        if value not in (PROTO_MINIMUM_SUPPORTED, PROTO_MAXIMUM_SUPPORTED, PROTO_SSLv3,
                         PROTO_TLSv1, PROTO_TLSv1_1, PROTO_TLSv1_2, PROTO_TLSv1_3):
            raise ValueError(f"Unsupported TLS/SSL version 0x{value:x}")
        # As OpenSSL stores them: the other end's special value becomes a version.
        if attribute == "_max" and value == PROTO_MINIMUM_SUPPORTED:
            value = PROTO_TLSv1_2
        elif attribute == "_min" and value == PROTO_MAXIMUM_SUPPORTED:
            value = PROTO_TLSv1_3
        return value

    minimum_version = _setting("_min", "Lowest TLS version (a TLSVersion value).",
                               lambda self, value: self._version_value(value, "_min"))
    maximum_version = _setting("_max", "Highest TLS version (a TLSVersion value).",
                               lambda self, value: self._version_value(value, "_max"))

    def _versions(self):
        bounds = {PROTO_MINIMUM_SUPPORTED: PROTO_TLSv1_2, PROTO_MAXIMUM_SUPPORTED: PROTO_TLSv1_3}
        low = max(bounds.get(self._min, self._min), PROTO_TLSv1_2)
        high = min(bounds.get(self._max, self._max), PROTO_TLSv1_3)
        if self._options & OP_NO_TLSv1_2 and low == PROTO_TLSv1_2:
            low = PROTO_TLSv1_3
        if self._options & OP_NO_TLSv1_3 and high == PROTO_TLSv1_3:
            high = PROTO_TLSv1_2
        if low > high:
            why = ("the versions allowed by minimum_version, maximum_version and options "
                   "leave nothing of TLS 1.2 and 1.3")
            if self._protocol in (PROTOCOL_TLSv1, PROTOCOL_TLSv1_1):
                why = (f"the context's protocol asks for TLS 1.{self._protocol - 3} only, and "
                       "memtls speaks TLS 1.2 and 1.3")
            raise _make(SSLError, SSL_ERROR_SSL, "NO_PROTOCOLS_AVAILABLE",
                        f"[SSL: NO_PROTOCOLS_AVAILABLE] no protocols available: {why}")
        return _version_name(low), _version_name(high)

    def _options_value(self, value):
        value = _operator.index(value)
        if value < 0:
            raise ValueError("Cannot convert negative int")
        if value >> 64:
            raise OverflowError("Python int too large for C unsigned long long")
        newly = ~self._options & value
        if newly & (OP_NO_SSLv3 | OP_NO_TLSv1 | OP_NO_TLSv1_1 | OP_NO_TLSv1_2 | OP_NO_TLSv1_3):
            warnings.warn("ssl.OP_NO_SSL*/ssl.OP_NO_TLS* options are deprecated",
                          DeprecationWarning, stacklevel=4)
        return value

    options = _setting("_options", "OpenSSL-style option bits; OP_NO_TLSv1_2/OP_NO_TLSv1_3 "
                       "and OP_NO_TICKET act.", _options_value)
    verify_flags = _setting("_verify_flags", "Verification flags; CRL checking is refused "
                            "when a connection is made.")

    def _num_tickets_value(self, value):
        if self._protocol == PROTOCOL_TLS_CLIENT:
            raise ValueError("SSLContext is not a server context.")
        value = int(value)
        if value < 0:
            raise ValueError("value must be non-negative")
        return value

    num_tickets = _setting("_num_tickets",
                           "TLS 1.3 tickets a server issues (0 turns session tickets off).",
                           _num_tickets_value)

    @property
    def sni_callback(self):
        """Called on a server with ``(ssl_socket, server_name, context)`` once the
        client's ClientHello has arrived, before the certificate is chosen:
        setting ``ssl_socket.context`` there switches to that context's
        certificate and settings. ``server_name`` is the name the client sent
        (an A-label) or ``None``. Returning an ``ALERT_DESCRIPTION_*`` refuses
        the client with that alert; an exception refuses it with
        ``handshake_failure`` and is reported through ``sys.unraisablehook``."""
        return self._sni_callback

    @sni_callback.setter
    def sni_callback(self, callback):
        if self._protocol == PROTOCOL_TLS_CLIENT:
            raise ValueError("sni_callback cannot be set on TLS_CLIENT context")
        if callback is not None and not callable(callback):
            raise TypeError("not a callable object")
        self._sni_callback = callback

    @property
    def _msg_callback(self):
        return None

    @property
    def post_handshake_auth(self):
        """TLS 1.3 post-handshake client authentication. memtls (rustls) does not
        offer it: the value is kept, so code that sets it (``http.client`` does
        for every default context) works, but no server is offered it."""
        return getattr(self, "_post_handshake_auth", False)

    @post_handshake_auth.setter
    def post_handshake_auth(self, value):
        self._post_handshake_auth = bool(value)

    @_msg_callback.setter
    def _msg_callback(self, callback):
        if callback is not None:
            raise NotImplementedError("TLS message callbacks are not supported by memtls")

    # -- trust and certificates --
    def load_verify_locations(self, cafile=None, capath=None, cadata=None):
        """Adds trust anchors from a PEM file, a directory of PEM files, or data
        (PEM text as str, DER certificates as bytes)."""
        if cafile is None and capath is None and cadata is None:
            raise TypeError("cafile, capath and cadata cannot be all omitted")
        found = []
        # As CPython: cadata first, then the file and the directory.
        if cadata is not None:
            found += self._cadata_certs(cadata)
        if cafile is not None and os.fspath(cafile) == memtls.SYSTEM_TRUST_BUNDLE:
            # certifi.where(): the provider's system trust (see memtls._system_trust).
            self._system = True
            self._changed()
        elif cafile is not None:
            found += self._pem_certs(_read_path(cafile), f"cafile {os.fsdecode(cafile)!r}")
        self._unlooked.difference_update(found)
        if capath is not None:
            for path in _files_in(os.fspath(capath)):
                for der in _pem.pem_to_ders(_read_file(path)):
                    if der not in self._anchors and der not in found:
                        self._unlooked.add(der)
                    found.append(der)
        self._add_anchors(found)

    @staticmethod
    def _cadata_certs(cadata):
        """The certificates of ``cadata`` (PEM text as str, DER as bytes), with
        CPython's errors."""
        if isinstance(cadata, str):
            try:
                data = cadata.encode("ascii")
            except UnicodeEncodeError:
                raise TypeError("cadata should be an ASCII string or a bytes-like "
                                "object") from None
        else:
            try:
                data = bytes(memoryview(cadata))
            except TypeError:
                raise TypeError("cadata should be an ASCII string or a bytes-like "
                                "object") from None
        if not data:
            raise ValueError("Empty certificate data")
        try:
            if isinstance(cadata, str):
                ders = _pem.pem_to_ders(data)
            else:
                ders = _pem.split_ders(data)
                for der in ders:
                    _core.decode_certificate(der)
        except ValueError:
            ders = []
        if not ders:
            problem = "no start line" if isinstance(cadata, str) else "not enough data"
            raise _make(SSLError, 0, None,
                        f"{problem}: cadata does not contain a certificate", library=None)
        return ders

    def _add_anchors(self, ders):
        for der in ders:
            if der not in self._anchors:
                self._anchors.append(der)
        self._changed()

    @staticmethod
    def _pem_certs(data, what):
        """The PEM certificates of a CA file, with OpenSSL's errors."""
        try:
            ders = _pem.pem_to_ders(data)
        except ValueError as error:
            raise _make(SSLError, 524297, None, f"[X509] PEM lib ({what}: {error})",
                        library="X509") from None
        if not ders:
            raise _make(SSLError, 136, "NO_CERTIFICATE_OR_CRL_FOUND",
                        f"[X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found "
                        f"({what} holds no PEM certificate)", library="X509")
        return ders

    def set_default_verify_paths(self):
        """Trusts the default roots, configured the way OpenSSL configures them:
        ``SSL_CERT_FILE`` (a PEM bundle) and ``SSL_CERT_DIR`` (directories of PEM
        files, ``:``-separated), read through the component's filesystem, each
        replacing its default location; the defaults are the provider's system
        roots (the platform's on the native provider, the Mozilla set in the
        guest provider). As with OpenSSL, a variable naming nothing readable adds
        nothing and raises nothing."""
        cafile = os.environ.get("SSL_CERT_FILE")
        capath = os.environ.get("SSL_CERT_DIR")
        found = []
        if cafile:
            try:
                found += _pem.pem_to_ders(_read_file(cafile))
            except (OSError, ValueError):
                pass
        for directory in (capath or "").split(":"):
            try:
                paths = list(_files_in(directory)) if directory else []
            except OSError:
                continue
            for path in paths:
                try:
                    found += _pem.pem_to_ders(_read_file(path))
                except (OSError, ValueError):
                    pass
        # Both default locations replaced: the system roots are not used.
        if not (cafile and capath):
            self._system = True
        self._add_anchors(found)

    def load_cert_chain(self, certfile, keyfile=None, password=None):
        """Loads the certificate chain (leaf first) and its private key (from
        ``keyfile`` or from ``certfile`` itself), with CPython's checks and
        errors. An encrypted key (PKCS#8 or OpenSSL's traditional PEM) is decrypted
        with ``password`` (str, bytes or a callable returning one) by the provider."""
        for name, value in (("certfile", certfile), ("keyfile", keyfile)):
            if value is not None and not isinstance(value, (str, bytes, os.PathLike)):
                raise TypeError(f"{name} should be a valid filesystem path")
        if password is not None and not (callable(password)
                                         or isinstance(password, (str, bytes, bytearray))):
            raise TypeError("password should be a string or callable")
        certs = _read_path(certfile)
        key = _read_path(keyfile) if keyfile is not None else certs
        try:
            ders = _pem.pem_to_ders(certs)
        except ValueError:
            ders = []
        if not ders:
            raise _make(SSLError, 524297, None,
                        f"[SSL] PEM lib (no certificate in {os.fsdecode(certfile)!r})")
        password_bytes = None
        if b"ENCRYPTED" in key:
            # OpenSSL asks for the password (calls the callback) only for an
            # encrypted key; the callback's own exceptions propagate.
            if password is None:
                raise _make(SSLError, 524297, None,
                            "[SSL] PEM lib (the private key is encrypted and no password "
                            "was given)")
            password_bytes = _password_bytes(password)
        elif b"PRIVATE KEY-----" not in key:
            where = keyfile if keyfile is not None else certfile
            raise _make(SSLError, 524297, None,
                        f"[SSL] PEM lib (no private key in {os.fsdecode(where)!r})")
        chain = _core.signing_chain(ders, key, password=password_bytes)
        # Let the provider validate the pair now, as OpenSSL does here: a key it
        # cannot read (a wrong password included) is OpenSSL's PEM error, a key
        # of another certificate its X509 one.
        try:
            _core.release(_core.server_context([chain]))
        except TLSFailure as failure:
            if "private key" in failure.message and "does not match" not in failure.message:
                raise _make(SSLError, 524297, None,
                            f"[SSL] PEM lib ({failure.message})") from None
            raise _make(SSLError, 116, "KEY_VALUES_MISMATCH",
                        f"[X509: KEY_VALUES_MISMATCH] key values mismatch "
                        f"({failure.message})", library="X509") from None
        self._chain = chain
        self._changed()

    def _use_host_identity(self, name):
        """Presents the host identity ``name`` instead of a chain and key loaded here
        (``memtls.use_identity``): the host signs, the key never enters this program."""
        name = str(name)
        try:
            _core.host_identity_certificates(name)
        except TLSFailure as failure:
            raise _make(SSLError, SSL_ERROR_SSL, "NOT_PERMITTED",
                        f"[SSL: NOT_PERMITTED] {failure.message}") from None
        self._chain = _core.signing_chain([], b"", host_identity=name)
        self._changed()

    def load_dh_params(self, path):
        """Reads DH parameters as CPython does and keeps nothing: memtls (rustls)
        offers ECDHE key exchange only, so they would go unused (as they do on
        OpenSSL in TLS 1.3 and without DHE suites). A missing file raises
        ``FileNotFoundError``; a file without ``DH PARAMETERS`` PEM the
        ``SSLError`` OpenSSL's PEM reader gives."""
        data = _read_file(os.fspath(path))
        if (b"-----BEGIN DH PARAMETERS-----" not in data
                and b"-----BEGIN X9.42 DH PARAMETERS-----" not in data):
            raise _make(SSLError, 108, "NO_START_LINE",
                        f"[PEM: NO_START_LINE] no start line (no DH parameters in "
                        f"{os.fsdecode(path)!r})", library="PEM")

    def set_ecdh_curve(self, name):
        """Accepts a curve memtls offers; the provider negotiates among its groups."""
        name = os.fsdecode(name)
        if name not in ("prime256v1", "secp384r1", "X25519", "x25519", "P-256", "P-384"):
            raise ValueError(f"unknown elliptic curve name {name!r}: memtls offers "
                             "X25519, prime256v1 (P-256) and secp384r1 (P-384)")

    def _looked_up(self):
        """The loaded certificates OpenSSL's store would hold by now (capath
        ones only once a verification used them)."""
        return [der for der in self._anchors if der not in self._unlooked]

    def _ca_anchors(self):
        return [der for der in self._looked_up() if _core.decode_certificate(der)[1]]

    def get_ca_certs(self, binary_form=False):
        """The loaded CA certificates, as OpenSSL counts CAs (a capath directory's
        once a verification has used them; the system roots are
        not listed; loaded certificates that are no CA are trusted but not listed)."""
        if binary_form:
            return self._ca_anchors()
        return [info for info, ca in map(_core.decode_certificate, self._looked_up()) if ca]

    def cert_store_stats(self):
        """Counts of loaded certificates and of the CAs among them (the system roots
        are not counted; a capath directory's once a verification used them)."""
        return {"x509": len(self._looked_up()), "crl": 0, "x509_ca": len(self._ca_anchors())}

    def session_stats(self):
        """Connection counters kept by this module."""
        return dict(self._stats)

    def set_ciphers(self, cipherlist):
        """Restricts TLS 1.2 suites with an OpenSSL cipher string (TLS 1.3 suites stay
        unless named); SSLError if nothing memtls offers is selected."""
        self._suites = _parse_cipher_string(cipherlist, _core.supported_suites())
        self._changed()

    def get_ciphers(self):
        """The enabled cipher suites, as dicts like OpenSSL's."""
        suites = self._suites if self._suites is not None else _core.supported_suites()
        return [_cipher_info(s) for s in suites]

    def set_groups(self, groups, /):
        """Limits key exchange to ``groups``, an OpenSSL group list
        (``"X25519MLKEM768:x25519"``), preferred first; as CPython 3.15 does.
        OpenSSL's ``?`` (skip if unknown) and ``*`` (send a key share) marks are
        accepted; the provider decides which shares it sends."""
        if not isinstance(groups, str):
            raise TypeError(f"set_groups() argument must be str, not {type(groups).__name__}")
        known = {name.lower(): gid for gid, name in _core.supported_groups()}
        for alias, name in _GROUP_ALIASES.items():
            if name.lower() in known:
                known[alias.lower()] = known[name.lower()]
        ids = []
        for item in groups.replace("/", ":").split(":"):
            optional = item.startswith("?")
            name = item.lstrip("?*")
            gid = known.get(name.lower())
            if gid is None:
                if optional:
                    continue
                raise _make(SSLError, SSL_ERROR_SSL, None,
                            f"unrecognized group {name!r} (this provider has "
                            f"{', '.join(n for _, n in _core.supported_groups())})")
            if gid not in ids:
                ids.append(gid)
        if not ids:
            raise _make(SSLError, SSL_ERROR_SSL, None, "unrecognized group: the list is empty")
        self._groups = ids
        self._changed()

    def get_groups(self, *, include_aliases=False):
        """The names of the key-exchange groups the provider supports, preferred
        first (with ``include_aliases``, OpenSSL's other names for them too)."""
        names = [name for _, name in _core.supported_groups()]
        if include_aliases:
            names += [alias for alias, name in _GROUP_ALIASES.items() if name in names]
        return names

    def _set_alpn_protocols(self, protos):
        data, names = bytes(protos), []
        while data:
            size = data[0]
            names.append(data[1:1 + size])
            data = data[1 + size:]
        self._alpn = names
        self._changed()

    def _set_npn_protocols(self, protos):
        raise NotImplementedError("NPN is not supported by memtls; use ALPN")

    # -- connections --
    def _client(self, send_sni):
        if self._verify_flags & VERIFY_CRL_CHECK_LEAF:
            raise NotImplementedError("CRL checking is not supported by memtls")
        key = ("client", send_sni)
        if key not in self._built:
            low, high = self._versions()
            if self._verify_mode == CERT_NONE:
                verify = "none"
            else:
                verify = "full" if self._check_hostname else "no-hostname"
                if not self._system and not self._anchors:
                    # OpenSSL with an empty store fails the same way, at the handshake.
                    raise _ssl_error(TLSFailure(
                        "certificate-rejected", "unknown-issuer",
                        "no CA certificates are loaded into the context: use "
                        "load_verify_locations() or load_default_certs()"))
            def build(verify):
                return _core.client_context(
                    _core.trust_store(self._system, self._anchors), self._chain, self._alpn,
                    low, high, self._suites, verify, send_sni, self._groups)
            try:
                self._built[key] = build(verify)
            except TLSFailure as failure:
                if failure.kind != "not-permitted":
                    raise
                if verify != "no-hostname":
                    raise TLSFailure(failure.kind, failure.detail,
                                     _unverified(verify, failure)) from None
                # The host does not let the application skip the name check
                # (libraries such as ldap3 turn check_hostname off to match names
                # themselves): the chain *and* the name are verified anyway,
                # stricter than CPython and never weaker. Without a name to check
                # the context is refused, as before.
                self._built[key] = build("full")
                self._built[("names-checked", send_sni)] = failure
        return self._built[key]

    def _names_checked(self, send_sni):
        """Why the host checks names although ``check_hostname`` is False (its
        refusal of ``no-hostname``), or ``None``."""
        return self._built.get(("names-checked", send_sni))

    def _server(self):
        if "server" not in self._built:
            if self._chain is None:
                raise _make(SSLError, SSL_ERROR_SSL, "NO_CERTIFICATE_ASSIGNED",
                            "[SSL: NO_CERTIFICATE_ASSIGNED] no certificate assigned: call "
                            "load_cert_chain() on the server context")
            low, high = self._versions()
            auth = {CERT_NONE: None, CERT_OPTIONAL: "optional",
                    CERT_REQUIRED: "required"}[self._verify_mode]
            tickets = self._num_tickets > 0 and not self._options & OP_NO_TICKET
            self._built["server"] = _core.server_context(
                [self._chain], auth, _core.trust_store(False, self._anchors), self._alpn,
                low, high, self._suites, tickets, self._groups)
        return self._built["server"]

    def _connection(self, server_side, server_hostname):
        """A provider connection for a new socket, or ``None`` and a function that
        makes one. What the context's configuration lacks (no CA loaded, no
        certificate on a server, no usable version) is an ``SSLError`` at the
        handshake, where CPython, which configures OpenSSL then, reports it."""
        if server_hostname is not None:
            # CPython's checks, in its order (ssl.py has made the name a str).
            if not isinstance(server_hostname, str):
                raise TypeError(f"argument must be str, not "
                                f"{type(server_hostname).__name__}")
            server_hostname.encode("ascii")
            if "\0" in server_hostname:
                raise TypeError("argument must be encoded string without null bytes, "
                                "not str")
        if self._protocol == PROTOCOL_TLS_CLIENT and server_side:
            raise _make(SSLError, 0, None, "Cannot create a server socket with a "
                        "PROTOCOL_TLS_CLIENT context", library=None)
        if self._protocol == PROTOCOL_TLS_SERVER and not server_side:
            raise _make(SSLError, 0, None, "Cannot create a client socket with a "
                        "PROTOCOL_TLS_SERVER context", library=None)
        if server_hostname is not None and (
                not server_hostname or server_hostname.startswith(".")):
            raise ValueError("server_hostname cannot be an empty string or start with a "
                             "leading dot.")
        if server_side and self._sni_callback is not None:
            # The context is chosen once the ClientHello has arrived.
            def make():
                return _translate(lambda: _core.call(_core.tls.Acceptor.create))
        elif server_side:
            def make():
                return _translate(lambda: _core.call(self._server().accept))
        else:
            def make():
                return self._client_connection(server_hostname, None)
        try:
            return make(), None
        except SSLError:
            return None, make

    def _client_connection(self, server_hostname, session):
        """A client connection offering ``session`` (an ``SSLSession``) or nothing:
        resumption happens only when a session is given, as in CPython."""
        name = server_hostname or "memtls.invalid"
        handle = None if session is None else session._handle
        send_sni = server_hostname is not None

        def connect():
            context = self._client(send_sni)
            refused = self._names_checked(send_sni)
            if refused is not None and server_hostname is None:
                # No name to check in place of the application.
                raise TLSFailure(refused.kind, refused.detail,
                                 _unverified("no-hostname", refused))
            return _core.call(context.connect_with, name, handle)
        return _translate(connect, server_hostname)

    def _wrap_socket(self, sock, server_side, server_hostname=None, *, owner=None,
                     session=None):
        conn, later = self._connection(server_side, server_hostname)
        return _SSLSocket._new(self, _core.SocketChannel(conn, sock), server_side,
                               server_hostname, owner, session, sock, later)

    def _wrap_bio(self, incoming, outgoing, server_side, server_hostname=None, *,
                  owner=None, session=None):
        conn, later = self._connection(server_side, server_hostname)
        channel = _core.BufferChannel(conn, incoming, outgoing)
        return _SSLSocket._new(self, channel, server_side, server_hostname, owner, session,
                               None, later)


class _SSLSocket(metaclass=_CType):
    """The TLS state behind ``ssl.SSLSocket`` and ``ssl.SSLObject``."""

    _c_type = _internal = _final = True

    def __init__(self, context, channel, server_side, server_hostname, owner, session,
                 sock, later=None):
        self._context = context
        self._channel = channel
        # Makes the connection when the context could not yet (see _connection).
        self._later = later
        self.server_side = server_side
        self.server_hostname = server_hostname
        self.owner = owner
        self._sock = sock
        self._counted = False
        self._started = False
        if session is not None:
            self.session = session

    def __del__(self):
        channel = getattr(self, "_channel", None)
        if channel is not None and channel.connection is not None:
            channel.close()

    def _run(self, operation):
        if self._channel.connection is None:
            if self._later is None:
                raise ValueError("the TLS connection was shut down")
            self._channel.connection = self._later()
            self._later = None
        if isinstance(self._channel.connection, _core.tls.Acceptor):
            _translate(self._choose_context)
        try:
            return _translate(operation, self.server_hostname)
        except SSLCertVerificationError as error:
            if (error.verify_code == 62 and not self.server_side
                    and self._context._names_checked(True) is not None):
                error.verify_message += (
                    " The host checks names although check_hostname is False, as it "
                    "does not allow the insecure interface (`memtls run "
                    "--allow-insecure` lets the application skip the check).")
                error.args = (error.args[0],
                              f"{error.args[1]} (check_hostname is False, but the host "
                              "checks names: it does not allow the insecure interface)")
            raise

    def _choose_context(self):
        """Reads the ClientHello, runs the context's ``sni_callback`` on it, and
        continues as a connection of the context the callback left in place."""
        channel = self._channel
        acceptor = channel.connection
        hello = channel.read_hello()
        callback = self._context._sni_callback
        alert = None
        if callback is not None:
            owner = next(o for o in (self.owner, self._sock, self) if o is not None)
            try:
                alert = callback(owner, hello.server_name, self._context)
            except BaseException as exc:  # reported, and the client refused, as in CPython
                _unraisable(exc, callback)
                alert = ALERT_DESCRIPTION_HANDSHAKE_FAILURE
            if alert is not None and not isinstance(alert, int):
                _unraisable(TypeError(f"sni_callback returned {type(alert).__name__}, "
                                      "not None or an ALERT_DESCRIPTION_* int"), callback)
                alert = ALERT_DESCRIPTION_INTERNAL_ERROR
        if alert is not None:
            code = int(alert) & 0xFF
            _core.call(acceptor.refuse, code)
            channel.flush_quietly()
            name = _ALERTS.get(code, str(code)).lower()
            raise _make(SSLError, SSL_ERROR_SSL, "CALLBACK_FAILED",
                        f"[SSL: CALLBACK_FAILED] callback failed (sni_callback refused "
                        f"the client with the {name} alert)")
        try:
            connection = _core.call(acceptor.accept, self._context._server())
        except TLSFailure:
            channel.flush_quietly()  # the alert that says why
            raise
        channel.connection = connection
        _core.release(acceptor)

    @property
    def context(self):
        """The context the connection was made from."""
        return self._context

    @context.setter
    def context(self, context):
        if not isinstance(context, _SSLContext):
            raise TypeError("The value must be a SSLContext")
        self._context = context

    @property
    def session(self):
        """The newest session the server issued (None on a server, before the
        handshake, and before a TLS 1.3 server's ticket has been read)."""
        if self.server_side or not self._handshake_done():
            return None
        handle = _translate(lambda: _core.call(self._channel.connection.session))
        return None if handle is None else SSLSession._new(self._context, handle)

    @session.setter
    def session(self, session):
        if not isinstance(session, SSLSession):
            raise TypeError("Value is not a SSLSession.")
        if self.server_side:
            raise ValueError("Cannot set session for server-side SSLSocket.")
        if self._handshake_done() or self._channel.started:
            raise ValueError("Cannot set session after handshake.")
        if session._context is not self._context:
            raise ValueError("Session refers to a different SSLContext.")
        # The ClientHello was made without the session and has not left: make
        # the connection again, offering it.
        if self._channel.connection is not None:
            self._channel.close()
        self._later = lambda: self._context._client_connection(self.server_hostname, session)

    def _conn(self):
        """The connection, or None before it exists (or while a server still
        waits for the ClientHello to choose its context)."""
        conn = self._channel.connection
        return None if isinstance(conn, _core.tls.Acceptor) else conn

    @property
    def session_reused(self):
        """Whether the handshake resumed an earlier session of the same context."""
        conn = self._conn()
        return bool(conn and conn.resumed())

    def _handshake_done(self):
        conn = self._conn()
        return bool(conn and conn.is_handshake_complete())

    def do_handshake(self):
        """Completes the handshake (raising SSLWantReadError/WriteError if it would block)."""
        if not self._started:
            # OpenSSL counts a connection once its first handshake step runs.
            self._started = True
            self._context._stats["accept" if self.server_side else "connect"] += 1
        self._run(self._channel.handshake)
        if not self._counted:
            self._counted = True
            stats = self._context._stats
            stats["accept_good" if self.server_side else "connect_good"] += 1
            if self.session_reused:
                stats["hits"] += 1
            if self._context._unlooked:
                # The verifier's path: what OpenSSL would have read from capath.
                self._context._unlooked.difference_update(
                    self._channel.connection.verified_chain())

    def read(self, len=1024, buffer=None):
        """Up to ``len`` bytes of plaintext (into ``buffer`` if given: returns the count)."""
        if buffer is not None and len <= 0:
            len = memoryview(buffer).nbytes
        if len <= 0:
            return 0 if buffer is not None else b""
        data = self._run(lambda: self._channel.read(len))
        if buffer is None:
            return data
        memoryview(buffer).cast("B")[:data.__len__()] = data
        return data.__len__()

    def write(self, data):
        """Encrypts and sends all of ``data``; returns its length."""
        return self._run(lambda: self._channel.write(data))

    def pending(self):
        """Decrypted bytes ready to read without touching the transport."""
        conn = self._conn()
        return conn.pending_plaintext() if conn else 0

    def _require_handshake(self):
        if not self._handshake_done():
            raise ValueError("handshake not done yet")

    def getpeercert(self, binary_form=False):
        """The peer's certificate: DER with ``binary_form``, else a dict (empty when
        the certificate was not verified)."""
        self._require_handshake()
        certs = self._channel.connection.peer_certificates()
        if not certs:
            return None
        if binary_form:
            return certs[0]
        if self._context.verify_mode == CERT_NONE:
            return {}
        return _core.decode_certificate(certs[0])[0]

    def get_unverified_chain(self):
        """The chain the peer sent, leaf first."""
        self._require_handshake()
        return [Certificate._new(der) for der in self._channel.connection.peer_certificates()]

    def get_verified_chain(self):
        """The path the provider's verifier built from the peer's certificate to a
        trust anchor, leaf first and ending with the anchor; empty when nothing was
        verified (``CERT_NONE``, a resumed session, no peer certificate)."""
        self._require_handshake()
        return [Certificate._new(der) for der in self._channel.connection.verified_chain()]

    def selected_alpn_protocol(self):
        """The ALPN protocol agreed on, or None."""
        conn = self._conn()
        protocol = conn.alpn_protocol() if conn else None
        return protocol.decode("ascii", "replace") if protocol is not None else None

    def group(self):
        """The key-exchange group of the handshake (``"X25519MLKEM768"``,
        ``"x25519"``...) once chosen, else None; CPython 3.15's ``group()``."""
        conn = self._conn()
        group = conn.key_exchange_group() if conn else None
        return None if group is None else group.name

    def selected_npn_protocol(self):
        """NPN is not supported: always None."""
        return None

    def cipher(self):
        """``(name, protocol, secret bits)`` of the negotiated suite, or None."""
        conn = self._conn()
        suite = conn.cipher_suite() if conn else None
        if suite is None:
            return None
        if suite.id in _core.SUITES:
            openssl, _, proto, bits = _core.SUITES[suite.id][:4]
            return openssl, proto, bits
        return suite.name, self.version(), None

    def shared_ciphers(self):
        """Not available: the provider does not expose the client's offered suites."""
        raise NotImplementedError("memtls does not expose the suites the client offered")

    def compression(self):
        """TLS compression is never used."""
        return None

    def version(self):
        """``"TLSv1.2"`` or ``"TLSv1.3"`` once negotiated, else None."""
        conn = self._conn()
        version = conn.protocol_version() if conn else None
        return _core.VERSION_NAMES.get(version) if self._handshake_done() else None

    def get_channel_binding(self, cb_type="tls-unique"):
        """Refused for tls-unique: rustls does not expose the Finished messages it
        needs. Other types are unknown, as in CPython."""
        if cb_type != "tls-unique":
            raise ValueError(f"'{cb_type}' channel binding type not implemented")
        raise NotImplementedError("tls-unique channel binding is not available with "
                                  "memtls (rustls does not expose Finished messages)")

    def verify_client_post_handshake(self):
        """Refused: post-handshake authentication is not supported."""
        raise NotImplementedError("post-handshake client authentication is not "
                                  "supported by memtls")

    def shutdown(self):
        """Sends close_notify and waits for the peer's; returns the socket (SSLSocket)
        or None (SSLObject)."""
        self._run(self._channel.shutdown)
        self._channel.close()
        return self._sock
