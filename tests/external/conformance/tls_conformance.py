"""Hostile TLS peers, and the alert each case draws from the side under test.

The other side of every case is this script: raw records crafted here (from a real
ClientHello that CPython's ssl module makes, then altered), or CPython's ssl on
OpenSSL driving a real handshake through memory buffers before a record is
corrupted. What comes back is read off the wire: the first record, if it is an
alert, gives the alert's code; encrypted alerts are decrypted by that same ssl
object and named by OpenSSL; or tlslite-ng (a third implementation) sending
messages no library API sends after its handshake (a renegotiation, a bad
KeyUpdate, data after close_notify) and decrypting the answer. Nothing of memtls
runs here.

    python3 tls_conformance.py count           how many server cases there are
    python3 tls_conformance.py quit PORT       end a conformance_server.py
    python3 tls_conformance.py server PORT     cases against a TLS server
    python3 tls_conformance.py client          a misbehaving server: prints
                                               "listening PORT", then takes one
                                               connection per client case

Output: one line per case,
    case NAME expected=CODE got=CODE|silent-close|no-response|accepted[ detail]
and for the server mode, after each case, "after NAME good-client=ok|failed".
"""

import os
import socket
import ssl
import struct
import sys
import time

ALERTS = {
    "close_notify": 0, "unexpected_message": 10, "bad_record_mac": 20,
    "record_overflow": 22, "handshake_failure": 40, "bad_certificate": 42,
    "certificate_unknown": 46, "illegal_parameter": 47, "unknown_ca": 48,
    "decode_error": 50, "decrypt_error": 51, "protocol_version": 70,
    "insufficient_security": 71, "internal_error": 80,
    "inappropriate_fallback": 86, "user_canceled": 90, "no_renegotiation": 100,
    "missing_extension": 109, "unsupported_extension": 110,
    "unrecognized_name": 112, "no_application_protocol": 120,
}

TIMEOUT = 5.0


# ---- ClientHello surgery ---------------------------------------------------------

def real_client_hello(minimum=ssl.TLSVersion.TLSv1_2, maximum=ssl.TLSVersion.TLSv1_3):
    """The first flight of CPython's ssl client (one record)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = minimum
    ctx.maximum_version = maximum
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class Hello:
    """A ClientHello split into its fields, to be altered and put back together."""

    def __init__(self, record):
        assert record[0] == 22 and record[5] == 1, "not a ClientHello record"
        body = record[9:]
        self.legacy_version = body[0:2]
        self.random = body[2:34]
        n = body[34]
        self.session_id = body[35:35 + n]
        at = 35 + n
        (n,) = struct.unpack(">H", body[at:at + 2])
        self.suites = [body[at + 2 + i:at + 4 + i] for i in range(0, n, 2)]
        at += 2 + n
        n = body[at]
        self.compression = body[at + 1:at + 1 + n]
        at += 1 + n
        (n,) = struct.unpack(">H", body[at:at + 2])
        at += 2
        end = at + n
        self.extensions = []
        while at < end:
            kind, length = struct.unpack(">HH", body[at:at + 4])
            self.extensions.append([kind, body[at + 4:at + 4 + length]])
            at += 4 + length

    def set_extension(self, kind, data):
        for ext in self.extensions:
            if ext[0] == kind:
                ext[1] = data
                return self
        self.extensions.append([kind, data])
        return self

    def drop_extension(self, kind):
        self.extensions = [e for e in self.extensions if e[0] != kind]
        return self

    def encode(self, record_version=b"\x03\x01"):
        exts = b"".join(struct.pack(">HH", k, len(d)) + d for k, d in self.extensions)
        suites = b"".join(self.suites)
        body = (self.legacy_version + self.random + bytes([len(self.session_id)])
                + self.session_id + struct.pack(">H", len(suites)) + suites
                + bytes([len(self.compression)]) + self.compression
                + struct.pack(">H", len(exts)) + exts)
        handshake = b"\x01" + struct.pack(">I", len(body))[1:] + body
        return b"\x16" + record_version + struct.pack(">H", len(handshake)) + handshake


def u16_list(values, width=2):
    data = b"".join(struct.pack(">H", v) for v in values)
    return struct.pack(">H" if width == 2 else ">B", len(data)) + data


SUPPORTED_GROUPS, SIGNATURE_ALGORITHMS, SUPPORTED_VERSIONS, KEY_SHARE = 10, 13, 43, 51


def hello():
    return Hello(real_client_hello())


# ---- reading what comes back ----------------------------------------------------

def read_response(sock, until_alert=True):
    """Everything the peer sends until it closes (or goes quiet); with
    ``until_alert``, only until a whole plaintext alert has arrived."""
    sock.settimeout(TIMEOUT)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, "closed"
            data += chunk
            if until_alert and first_alert(data) is not None:
                return data, "alert"
    except socket.timeout:
        return data, "timeout"
    except ConnectionResetError:
        return data, "reset"


def first_alert(data):
    """The description of a plaintext alert among the records in ``data``."""
    at = 0
    while at + 5 <= len(data):
        kind = data[at]
        (length,) = struct.unpack(">H", data[at + 3:at + 5])
        if at + 5 + length > len(data):
            return None
        if kind == 21 and length == 2:
            return data[at + 6]
        at += 5 + length
    return None


def verdict(data, how):
    alert = first_alert(data)
    if alert is not None:
        return str(alert)
    if data:
        return "accepted"  # it answered with a handshake, not a refusal
    return "no-response" if how == "timeout" else "silent-close"


def raw_case(port, payload):
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        try:
            sock.sendall(payload)
        except OSError:
            pass
        return verdict(*read_response(sock))


# ---- encrypted-phase cases through CPython's ssl ---------------------------------

def alert_code_of(error):
    """The alert named in an OpenSSL error (``SSLV3_ALERT_BAD_RECORD_MAC`` ...)."""
    text = str(error).upper()
    marker = "ALERT_"
    if marker in text:
        name = text.split(marker, 1)[1].split("]")[0].split(" ")[0].lower()
        if name in ALERTS:
            return str(ALERTS[name])
        return name
    return None


def handshake_over(sock, version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            data = sock.recv(65536)
            if not data:
                raise OSError("closed during the handshake")
            incoming.write(data)
    sock.sendall(outgoing.read())
    return obj, incoming, outgoing


def encrypted_case(port, version, mutate):
    """A real handshake, then one application-data record altered by ``mutate``."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        obj, incoming, outgoing = handshake_over(sock, version)
        obj.write(b"hello, this record will be damaged")
        record = outgoing.read()
        try:
            sock.sendall(mutate(record))
        except OSError:
            pass
        data, how = read_response(sock, until_alert=False)
        if not data:
            return "no-response" if how == "timeout" else "silent-close"
        incoming.write(data)
        if how in ("closed", "reset"):
            incoming.write_eof()
        try:
            while True:
                obj.read(65536)
        except ssl.SSLError as error:
            code = alert_code_of(error)
            if code is not None:
                return code
            if isinstance(error, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
                return "silent-close"
            return "error:" + type(error).__name__
        return "accepted"


# ---- cases after a handshake with tlslite-ng (a third TLS implementation) ----------

class RawMessage:
    """A message for tlslite-ng's record layer, given as its encoded bytes."""

    def __init__(self, content_type, data):
        self.contentType = content_type
        self.data = data

    def write(self):
        return bytearray(self.data)


def send_raw(conn, message):
    for _ in conn._sendMsg(message):  # a generator in tlslite-ng
        pass


def tlslite_case(port, version, action):
    """A tlslite-ng handshake at ``version`` ((3, 3) or (3, 4)), then ``action``
    sends something through its record layer (encrypted); the alert that comes
    back (tlslite-ng decrypts it) is the verdict."""
    from tlslite.api import HandshakeSettings, TLSConnection
    from tlslite.errors import TLSAbruptCloseError, TLSRemoteAlert
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        conn = TLSConnection(sock)
        settings = HandshakeSettings()
        settings.minVersion = settings.maxVersion = version
        conn.handshakeClientCert(settings=settings, serverName="localhost")
        action(conn)
        try:
            while conn.read():
                pass
            # tlslite-ng ends reading cleanly only at the peer's close_notify (a
            # bare TCP close raises TLSAbruptCloseError).
            return str(ALERTS["close_notify"])
        except TLSRemoteAlert as alert:
            return str(alert.description)
        except socket.timeout:
            return "no-response"
        except (TLSAbruptCloseError, OSError):
            return "silent-close"


def renegotiate(conn):
    """A new ClientHello on an established TLS 1.2 connection."""
    send_raw(conn, RawMessage(22, Hello(real_client_hello(
        maximum=ssl.TLSVersion.TLSv1_2)).encode()[5:]))


def key_update_bad_value(conn):
    """A TLS 1.3 KeyUpdate whose request_update is 5 (only 0 and 1 exist)."""
    send_raw(conn, RawMessage(22, b"\x18\x00\x00\x01\x05"))


def close_notify_then_data(conn):
    """close_notify, then application data that must be ignored."""
    send_raw(conn, RawMessage(21, b"\x01\x00"))
    send_raw(conn, RawMessage(23, b"data after close_notify"))


def flip_last(record):
    return record[:-1] + bytes([record[-1] ^ 0x01])


def good_client(port):
    """A plain client: handshake, one echo. True when the server still serves."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"ping\n")
                return tls.recv(100).startswith(b"ping")
    except OSError:
        return False


# ---- the server cases: (name, expected alert, how) -------------------------------

def server_cases():
    v13 = struct.pack(">B", 2) + b"\x03\x04"
    ffdhe_share = struct.pack(">H", 4 + 256) + struct.pack(">HH", 0x0100, 256) + bytes(256)
    return [
        ("truncated-client-hello", "decode_error",
         lambda p: raw_case(p, bytes.fromhex("160301000501000001ff"))),
        ("client-hello-garbage-body", "decode_error",
         lambda p: raw_case(p, bytes.fromhex("1603030009") + b"\x01\x00\x00\x05garba")),
        ("no-common-cipher-suite", "handshake_failure",
         lambda p: raw_case(p, _with_suites([0x0005, 0x000a, 0x002f]))),
        ("no-common-group", "handshake_failure",
         lambda p: raw_case(p, hello()
                            .set_extension(SUPPORTED_GROUPS, u16_list([0x0100]))
                            .set_extension(KEY_SHARE, ffdhe_share).encode())),
        ("no-common-signature-scheme", "handshake_failure",
         lambda p: raw_case(p, hello()
                            .set_extension(SIGNATURE_ALGORITHMS, u16_list([0x0201, 0x0203]))
                            .drop_extension(SUPPORTED_VERSIONS).drop_extension(KEY_SHARE)
                            .encode())),
        ("only-tls11-offered", "protocol_version",
         lambda p: raw_case(p, _only_version(b"\x03\x02"))),
        ("legacy-version-ssl3", "protocol_version",
         lambda p: raw_case(p, _legacy_only(b"\x03\x00"))),
        ("tls13-without-key-share-or-groups", "missing_extension",
         lambda p: raw_case(p, hello()
                            .set_extension(SUPPORTED_VERSIONS, v13)
                            .drop_extension(KEY_SHARE)
                            .drop_extension(SUPPORTED_GROUPS).encode())),
        ("compression-not-null", "illegal_parameter",
         lambda p: raw_case(p, _with_compression(b"\x01"))),
        ("duplicate-extension", "illegal_parameter",
         lambda p: raw_case(p, _duplicate(SUPPORTED_GROUPS))),
        ("record-overflow", "record_overflow",
         lambda p: raw_case(p, b"\x16\x03\x03" + struct.pack(">H", 0x4801) + bytes(0x4801))),
        ("zero-length-handshake-record", "decode_error",
         lambda p: raw_case(p, b"\x16\x03\x03\x00\x00")),
        ("application-data-before-handshake", "unexpected_message",
         lambda p: raw_case(p, b"\x17\x03\x03\x00\x05hello")),
        ("change-cipher-spec-bad-value", "unexpected_message",
         lambda p: raw_case(p, b"\x14\x03\x03\x00\x01\x02")),
        ("unknown-content-type", "unexpected_message",
         lambda p: raw_case(p, b"\x63\x03\x03\x00\x01\x00")),
        ("server-hello-from-client", "unexpected_message",
         lambda p: raw_case(p, server_hello_with_suite(real_client_hello(), 0xc02b))),
        ("tls13-corrupted-record", "bad_record_mac",
         lambda p: encrypted_case(p, ssl.TLSVersion.TLSv1_3, flip_last)),
        ("tls12-corrupted-record", "bad_record_mac",
         lambda p: encrypted_case(p, ssl.TLSVersion.TLSv1_2, flip_last)),
        ("tls13-truncated-record", "bad_record_mac",
         lambda p: encrypted_case(p, ssl.TLSVersion.TLSv1_3, _shorten)),
        ("tls12-oversized-ciphertext", "record_overflow",
         lambda p: encrypted_case(p, ssl.TLSVersion.TLSv1_2, _oversize)),
        ("tls12-renegotiation-attempt", "no_renegotiation",
         lambda p: tlslite_case(p, (3, 3), renegotiate)),
        ("tls13-key-update-bad-value", "illegal_parameter",
         lambda p: tlslite_case(p, (3, 4), key_update_bad_value)),
        ("tls13-close-notify-then-data", "close_notify",
         lambda p: tlslite_case(p, (3, 4), close_notify_then_data)),
        ("tls12-close-notify-then-data", "close_notify",
         lambda p: tlslite_case(p, (3, 3), close_notify_then_data)),
    ]


def _with_suites(ids):
    h = hello()
    h.suites = [struct.pack(">H", i) for i in ids]
    return h.drop_extension(SUPPORTED_VERSIONS).drop_extension(KEY_SHARE).encode()


def _only_version(version):
    h = Hello(real_client_hello())
    h.legacy_version = version
    return h.set_extension(SUPPORTED_VERSIONS, b"\x02" + version).encode()


def _legacy_only(version):
    h = Hello(real_client_hello())
    h.legacy_version = version
    return h.drop_extension(SUPPORTED_VERSIONS).drop_extension(KEY_SHARE).encode(b"\x03\x00")


def _with_compression(methods):
    h = hello()
    h.compression = methods
    return h.encode()


def _duplicate(kind):
    h = hello()
    data = [d for k, d in h.extensions if k == kind][0]
    h.extensions.insert(0, [kind, data])
    return h.encode()


def _shorten(record):
    """The record's header kept, its last 4 bytes cut and the length fixed."""
    body = record[5:-4]
    return record[:3] + struct.pack(">H", len(body)) + body


def _oversize(record):
    """A ciphertext longer than TLS allows (2^14 + 2048), well framed."""
    body = record[5:] + bytes(0x4801)
    return record[:3] + struct.pack(">H", len(body)) + body


# ---- a misbehaving server, for clients -------------------------------------------

def client_cases():
    """(name, expected alert from the client, what the server answers a ClientHello with)"""
    return [
        ("server-hello-truncated", "decode_error", b"\x16\x03\x03\x00\x05\x02\x00\x00\x01\xff"),
        ("server-record-overflow", "record_overflow",
         b"\x16\x03\x03" + struct.pack(">H", 0x4801) + bytes(0x4801)),
        ("server-unknown-content-type", "unexpected_message", b"\x63\x03\x03\x00\x01\x00"),
        ("server-application-data-first", "unexpected_message", b"\x17\x03\x03\x00\x05hello"),
        ("server-hello-unoffered-suite", "illegal_parameter", None),
    ]


def server_hello_with_suite(client_hello_record, suite):
    """A TLS 1.2 ServerHello echoing the client's session id, choosing ``suite``."""
    h = Hello(client_hello_record)
    body = (b"\x03\x03" + os.urandom(32) + bytes([len(h.session_id)]) + h.session_id
            + struct.pack(">H", suite) + b"\x00" + struct.pack(">H", 0))
    handshake = b"\x02" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x03" + struct.pack(">H", len(handshake)) + handshake


def read_client_hello(conn):
    conn.settimeout(TIMEOUT)
    data = b""
    while len(data) < 5 or len(data) < 5 + struct.unpack(">H", data[3:5])[0]:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def serve_clients():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    print("listening", listener.getsockname()[1], flush=True)
    for name, expected, answer in client_cases():
        conn, _ = listener.accept()
        with conn:
            hello_record = read_client_hello(conn)
            if answer is None:
                answer = server_hello_with_suite(hello_record, 0x0005)
            try:
                conn.sendall(answer)
            except OSError:
                pass
            got = verdict(*read_response(conn))
        print(f"case {name} expected={ALERTS[expected]} got={got}", flush=True)


def main():
    if sys.argv[1:2] == ["server"]:
        port = int(sys.argv[2])
        for name, expected, run in server_cases():
            try:
                got = run(port)
            except Exception as error:  # the case itself could not run
                got = f"case-error:{type(error).__name__}:{error}".replace(" ", "_")
            print(f"case {name} expected={ALERTS[expected]} got={got}", flush=True)
            ok = good_client(port)
            print(f"after {name} good-client={'ok' if ok else 'failed'}", flush=True)
        print("done", flush=True)
    elif sys.argv[1:2] == ["quit"]:
        # Ends a conformance_server.py: a good client whose message is "quit".
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"quit")
                print(tls.recv(10).decode(), flush=True)
    elif sys.argv[1:2] == ["count"]:
        print(len(server_cases()), len(client_cases()))
    elif sys.argv[1:2] == ["client"]:
        serve_clients()
        print("done", flush=True)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
