"""CPython's unmodified ``ssl`` module on memtls, inside WebAssembly.

Run by ``cargo test -p memtls-external-tests --test python`` under both providers, with
fixtures preopened at /f and, in the environment, the loopback servers the host
started: ``MEMTLS_TEST_HTTPS`` (``openssl s_server -www``, chain ``server``) and
``MEMTLS_TEST_SMTP`` (aiosmtpd with STARTTLS, chain ``server``). The host runs it
with the ``insecure`` interface allowed, so ``CERT_NONE`` works here.
"""

import asyncio
import gc
import http.client
import os
import select
import smtplib
import socket
import ssl
import sys
import time
import unittest
import urllib.error
import urllib.request
import warnings
import weakref


# Where the fixtures are: preopened at /f inside the component; a directory of
# the host when CPython itself runs the parity tests (CPythonParityTests).
FIXTURES = os.environ.get("MEMTLS_TEST_FIXTURES", "/f")


def fixture(name):
    """Path of a fixture file inside the component."""
    return os.path.join(FIXTURES, name)


def der_of(name):
    """The DER of the first certificate in PEM fixture ``name``."""
    with open(fixture(name)) as file:
        return ssl.PEM_cert_to_DER_cert(file.read())


def client_context(cafile="ca"):
    """The default client context trusting fixture CA ``cafile``."""
    return ssl.create_default_context(cafile=fixture(cafile))


def server_context(chain="server"):
    """A server context presenting fixture chain ``chain``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(fixture(chain + ".chain"), fixture(chain + ".key"))
    return context


def host_port(variable):
    """``(host, port)`` of a server the harness started."""
    host, port = os.environ[variable].rsplit(":", 1)
    return host, int(port)


class Pair:
    """A client and a server ``SSLObject`` joined through memory BIOs."""

    def __init__(self, client_ctx, server_ctx, hostname="localhost"):
        self.c_in, self.c_out, self.s_in, self.s_out = (ssl.MemoryBIO() for _ in range(4))
        self.client = client_ctx.wrap_bio(self.c_in, self.c_out, server_hostname=hostname)
        self.server = server_ctx.wrap_bio(self.s_in, self.s_out, server_side=True)

    def move(self):
        """Carries ciphertext both ways; True if anything moved."""
        moved = False
        for source, sink in ((self.c_out, self.s_in), (self.s_out, self.c_in)):
            data = source.read()
            if data:
                sink.write(data)
                moved = True
        return moved

    def handshake(self):
        """Runs both handshakes to completion (or raises the first error)."""
        done = set()
        for _ in range(100):
            for side in (self.client, self.server):
                if side not in done:
                    try:
                        side.do_handshake()
                        done.add(side)
                    except ssl.SSLWantReadError:
                        pass
            if not self.move() and len(done) == 2:
                return
        raise AssertionError("the handshake did not finish")

    def receive(self, side, size):
        """Reads exactly ``size`` bytes on ``side``, moving bytes as needed."""
        data = b""
        for _ in range(10000):
            if len(data) >= size:
                return data
            try:
                data += side.read(size - len(data))
            except ssl.SSLWantReadError:
                if not self.move():
                    raise AssertionError(f"stalled after {len(data)} of {size} bytes")
        raise AssertionError("too many rounds")


class MemoryBIOTests(unittest.TestCase):
    """``MemoryBIO`` and ``SSLObject`` (what asyncio builds on)."""

    def test_memory_bio(self):
        bio = ssl.MemoryBIO()
        self.assertEqual(bio.write(b"abcdef"), 6)
        self.assertEqual(bio.pending, 6)
        self.assertEqual(bio.read(2), b"ab")
        self.assertFalse(bio.eof)
        bio.write_eof()
        self.assertEqual(bio.read(), b"cdef")
        self.assertTrue(bio.eof)
        with self.assertRaises(ssl.SSLError):
            bio.write(b"x")

    def test_handshake_data_and_details(self):
        pair = Pair(client_context(), server_context())
        with self.assertRaises(ValueError):
            pair.client.getpeercert()
        pair.handshake()
        self.assertIn(pair.client.version(), ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(pair.client.version(), pair.server.version())
        name, proto, bits = pair.client.cipher()
        self.assertEqual(pair.server.cipher(), (name, proto, bits))
        self.assertGreaterEqual(bits, 128)
        self.assertIsNone(pair.client.compression())
        pair.client.write(b"ping")
        pair.move()
        self.assertEqual(pair.receive(pair.server, 4), b"ping")
        payload = os.urandom(300_000)
        pair.server.write(payload)
        self.assertEqual(pair.receive(pair.client, len(payload)), payload)

    def test_key_exchange_groups(self):
        # CPython 3.15's group() / set_groups() / get_groups(): the hybrid by
        # default, a classical group when either side limits itself to one (with
        # a HelloRetryRequest when the client's shares do not suit the server).
        groups = client_context().get_groups()
        self.assertEqual(groups[0], "X25519MLKEM768")
        self.assertTrue({"x25519", "secp256r1", "secp384r1"} <= set(groups))
        self.assertIn("P-256", client_context().get_groups(include_aliases=True))
        pair = Pair(client_context(), server_context())
        self.assertIsNone(pair.client.group())
        pair.handshake()
        self.assertEqual((pair.client.group(), pair.server.group()),
                         ("X25519MLKEM768", "X25519MLKEM768"))
        for client_groups, server_groups, expected in (
                ("x25519", None, "x25519"),
                (None, "x25519:secp256r1", "x25519"),
                (None, "secp384r1", "secp384r1"),
                ("P-256:?no-such-group", "secp384r1:secp256r1", "secp256r1")):
            client, server = client_context(), server_context()
            if client_groups:
                client.set_groups(client_groups)
            if server_groups:
                server.set_groups(server_groups)
            pair = Pair(client, server)
            pair.handshake()
            self.assertEqual((pair.client.group(), pair.server.group()), (expected, expected),
                             (client_groups, server_groups))
        client, server = client_context(), server_context()
        server.set_groups("X25519MLKEM768")
        client.set_groups("x25519:secp256r1")
        pair = Pair(client, server)
        with self.assertRaises(ssl.SSLError):
            pair.handshake()  # the server refuses the classical client...
        pair.move()
        with self.assertRaisesRegex(ssl.SSLError, "(?i)handshake.failure"):
            pair.client.do_handshake()  # ...which hears why
        with self.assertRaisesRegex(ssl.SSLError, "unrecognized group"):
            client_context().set_groups("no-such-group")
        with self.assertRaises(TypeError):
            client_context().set_groups(b"x25519")

    def test_getpeercert_and_chains(self):
        pair = Pair(client_context(), server_context())
        pair.handshake()
        cert = pair.client.getpeercert()
        self.assertEqual(dict(rdn[0] for rdn in cert["subject"])["commonName"], "localhost")
        self.assertEqual(dict(rdn[0] for rdn in cert["issuer"])["commonName"],
                         "memtls test CA")
        self.assertIn(("DNS", "localhost"), cert["subjectAltName"])
        self.assertTrue(cert["notAfter"].endswith("GMT"))
        self.assertEqual(pair.client.getpeercert(binary_form=True), der_of("server.chain"))
        verified = pair.client.get_verified_chain()
        self.assertEqual(len(verified), 2)
        self.assertEqual(verified[-1], der_of("ca"))
        self.assertEqual(pair.client.get_unverified_chain()[0], der_of("server.chain"))
        self.assertIsNone(pair.server.getpeercert())

    def test_pending_and_partial_reads(self):
        pair = Pair(client_context(), server_context())
        pair.handshake()
        pair.server.write(b"x" * 100)
        pair.move()
        self.assertEqual(pair.receive(pair.client, 10), b"x" * 10)
        self.assertEqual(pair.client.pending(), 90)
        buffer = bytearray(50)
        self.assertEqual(pair.client.read(50, buffer), 50)
        self.assertEqual(bytes(buffer), b"x" * 50)

    def test_alpn(self):
        client, server = client_context(), server_context()
        client.set_alpn_protocols(["h2", "http/1.1"])
        server.set_alpn_protocols(["http/1.1"])
        pair = Pair(client, server)
        pair.handshake()
        self.assertEqual(pair.client.selected_alpn_protocol(), "http/1.1")
        self.assertEqual(pair.server.selected_alpn_protocol(), "http/1.1")

    def test_versions(self):
        for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                              (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            client = client_context()
            client.minimum_version = client.maximum_version = version
            pair = Pair(client, server_context())
            pair.handshake()
            self.assertEqual(pair.client.version(), name)
        client, server = client_context(), server_context()
        client.minimum_version = ssl.TLSVersion.TLSv1_3
        server.maximum_version = ssl.TLSVersion.TLSv1_2
        with self.assertRaises(ssl.SSLError) as caught:
            Pair(client, server).handshake()
        self.assertIn("PROTOCOL_VERSION", caught.exception.reason or "")
        client = client_context()
        client.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaises(ssl.SSLError) as caught:
            Pair(client, server_context()).handshake()
        self.assertIn("no protocols available", str(caught.exception))
        self.assertEqual(client_context().minimum_version, ssl.TLSVersion.TLSv1_2)

    def test_set_ciphers(self):
        client = client_context()
        client.maximum_version = ssl.TLSVersion.TLSv1_2
        client.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
        pair = Pair(client, server_context())
        pair.handshake()
        self.assertEqual(pair.client.cipher()[0], "ECDHE-ECDSA-AES256-GCM-SHA384")
        self.assertEqual([c["name"] for c in client.get_ciphers() if c["protocol"] == "TLSv1.2"],
                         ["ECDHE-ECDSA-AES256-GCM-SHA384"])
        with self.assertRaises(ssl.SSLError) as caught:
            client_context().set_ciphers("AES128-SHA:DES-CBC3-SHA")
        self.assertIn("AES128-SHA", str(caught.exception))
        client_context().set_ciphers("ECDHE+AESGCM:!aNULL")

    def test_verification_failures(self):
        cases = (
            ("unknown", "localhost", 20, "unable to get local issuer certificate"),
            ("expired", "localhost", 10, "certificate has expired"),
            ("notyet", "localhost", 9, "certificate is not yet valid"),
            ("server", "wrong.test", 62, "Hostname mismatch"),
        )
        for chain, host, code, text in cases:
            with self.subTest(chain=chain):
                with self.assertRaises(ssl.SSLCertVerificationError) as caught:
                    Pair(client_context(), server_context(chain), host).handshake()
                error = caught.exception
                self.assertEqual(error.verify_code, code)
                self.assertIn(text, error.verify_message)
                self.assertIn("certificate verify failed", str(error))
                self.assertEqual(error.reason, "CERTIFICATE_VERIFY_FAILED")

    def test_no_verification_and_no_hostname_check(self):
        insecure = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        pair = Pair(insecure, server_context("unknown"))
        pair.handshake()
        self.assertEqual(pair.client.getpeercert(), {})
        self.assertEqual(pair.client.getpeercert(True), der_of("unknown.chain"))
        no_name = client_context()
        no_name.check_hostname = False
        Pair(no_name, server_context(), "wrong.test").handshake()
        with self.assertRaises(ssl.SSLCertVerificationError):
            Pair(no_name, server_context("unknown"), "localhost").handshake()

    def test_client_certificates(self):
        server = server_context()
        server.verify_mode = ssl.CERT_REQUIRED
        server.load_verify_locations(fixture("client-ca"))
        with self.assertRaises(ssl.SSLError):
            Pair(client_context(), server).handshake()
        client = client_context()
        client.load_cert_chain(fixture("client.chain"), fixture("client.key"))
        pair = Pair(client, server)
        pair.handshake()
        pair.client.write(b"hi")
        pair.move()
        self.assertEqual(pair.receive(pair.server, 2), b"hi")
        subject = dict(rdn[0] for rdn in pair.server.getpeercert()["subject"])
        self.assertEqual(subject["commonName"], "client.test")
        optional = server_context()
        optional.verify_mode = ssl.CERT_OPTIONAL
        optional.load_verify_locations(fixture("client-ca"))
        pair = Pair(client_context(), optional)
        pair.handshake()
        self.assertIsNone(pair.server.getpeercert())

    def test_trust_from_cadata(self):
        with open(fixture("ca")) as file:
            pem = file.read()
        for cadata in (pem, ssl.PEM_cert_to_DER_cert(pem)):
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.load_verify_locations(cadata=cadata)
            Pair(context, server_context()).handshake()
            self.assertEqual(context.cert_store_stats()["x509"], 1)
            self.assertEqual(context.get_ca_certs(True), [der_of("ca")])

    def test_bad_configuration(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with self.assertRaises(ssl.SSLError):
            context.load_cert_chain(fixture("server.chain"), fixture("b.key"))
        with self.assertRaises(ssl.SSLError):
            context.load_verify_locations(cadata="not a certificate")
        with self.assertRaises(ssl.SSLError):
            context.load_verify_locations(cadata=b"\x30\x03\x02\x01")
        with self.assertRaises(FileNotFoundError):
            context.load_verify_locations(fixture("missing"))
        with self.assertRaises(ValueError):
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).verify_mode = ssl.CERT_NONE
        with self.assertRaises(ssl.SSLError) as caught:
            Pair(client_context(), ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)).handshake()
        self.assertIn("load_cert_chain", str(caught.exception))

    def test_resumption_and_sessions(self):
        client, server = client_context(), server_context()
        first = Pair(client, server)
        first.handshake()
        first.server.write(b"tickets follow")
        first.move()
        first.receive(first.client, 14)
        self.assertFalse(first.client.session_reused)
        session = first.client.session
        self.assertIsNotNone(session)
        self.assertEqual(session, first.client.session, "the same session, asked twice")
        self.assertTrue(session.has_ticket)
        self.assertEqual(len(session.id), 32)
        self.assertGreater(session.ticket_lifetime_hint, 0)
        self.assertLess(abs(session.time - time.time()), 60)
        # As in CPython, a connection resumes only when given a session.
        plain = Pair(client, server)
        plain.handshake()
        self.assertFalse(plain.client.session_reused)
        self.assertFalse(plain.server.session_reused)
        second = Pair(client, server)
        second.client.session = session
        second.handshake()
        self.assertTrue(second.client.session_reused)
        self.assertTrue(second.server.session_reused)
        other = client_context().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(),
                                          server_hostname="localhost")
        with self.assertRaises(ValueError):
            other.session = session
        with self.assertRaises(ValueError):
            second.client.session = session  # after the handshake
        with self.assertRaises(ValueError):
            second.server.session = session
        self.assertIsNone(second.server.session)
        self.assertEqual(client.session_stats()["hits"], 1)

    def test_sessions_with_a_cpython_server(self):
        # The server (CPython on OpenSSL) says whether it resumed, and what
        # CPython's own client reports about its sessions.
        host, port = host_port("MEMTLS_TEST_SESSIONS")
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            context = client_context()
            context.minimum_version = context.maximum_version = version

            def connect(session=None):
                with context.wrap_socket(socket.create_connection((host, port), timeout=10),
                                         server_hostname="localhost",
                                         session=session) as tls:
                    line = b""
                    while not line.endswith(b"\n"):
                        line += tls.recv(200)
                            # OpenSSL 3.0 has no X25519MLKEM768: it takes the X25519
                    # share memtls sends beside the hybrid's, with no retry. A
                    # resumed TLS 1.2 session makes no key exchange.
                    no_exchange = tls.session_reused and tls.version() == "TLSv1.2"
                    self.assertEqual(tls.group(), None if no_exchange else "x25519")
                    return tls.session, tls.session_reused, line.decode().split(maxsplit=3)

            first, reused, (name, said, _, native) = connect()
            self.assertEqual((reused, said), (False, "reused=False"), name)
            self.assertIsNotNone(first, name)
            mine = (f"has_ticket={first.has_ticket} hint={first.ticket_lifetime_hint} "
                    f"timeout={first.timeout} id_len={len(first.id)}")
            self.assertEqual(mine, native.strip(), name)
            _, reused, (_, said, _, _) = connect()
            self.assertEqual((reused, said), (False, "reused=False"), f"{name}: no session=")
            _, reused, (_, said, _, _) = connect(first)
            self.assertEqual((reused, said), (True, "reused=True"), f"{name}: session=")

    def test_sni_callback(self):
        seen = []
        other = server_context("b")

        def choose(sslobj, name, context):
            seen.append((type(sslobj).__name__, name, context))
            if name == "b.test":
                sslobj.context = other

        server = server_context()
        server.sni_callback = choose
        self.assertIs(server.sni_callback, choose)
        for name, chain in (("localhost", "server"), ("b.test", "b")):
            pair = Pair(client_context(), server, hostname=name)
            pair.handshake()
            self.assertEqual(seen[-1], ("SSLObject", name, server))
            self.assertEqual(pair.client.getpeercert(True), der_of(chain + ".chain"))
            self.assertIs(pair.server.context, other if name == "b.test" else server)
        # The legacy setter ssl.py builds on it; IDNA names arrive decoded there.
        names = []
        server.set_servername_callback(lambda sslobj, name, ctx: names.append(name))
        Pair(client_context(), server).handshake()
        self.assertEqual(names, ["localhost"])
        # A callback returning something else than None or an alert refuses
        # the client with internal_error.
        server.sni_callback = lambda sslobj, name, ctx: "nonsense"
        pair = Pair(client_context(), server)
        with self.assertRaises(ssl.SSLError) as caught:
            pair.handshake()
        self.assertIn(caught.exception.reason,
                      ("CALLBACK_FAILED", "TLSV1_ALERT_INTERNAL_ERROR"))
        with self.assertRaises(TypeError):
            server.sni_callback = "not callable"
        with self.assertRaises(ValueError):
            client_context().sni_callback = choose
        with self.assertRaises(TypeError):
            pair.server.context = "not a context"
        server.sni_callback = None
        Pair(client_context(), server).handshake()

    def unwrap_both_sides(self, unread_by_client=b""):
        """Client unwraps first (with ``unread_by_client`` in flight to it), then
        the server; both complete."""
        pair = Pair(client_context(), server_context())
        pair.handshake()
        if unread_by_client:
            pair.server.write(unread_by_client)
            pair.move()
        with self.assertRaises(ssl.SSLWantReadError):
            pair.client.unwrap()
        pair.move()
        self.assertEqual(pair.server.read(10), b"")
        pair.server.unwrap()
        pair.move()
        pair.client.unwrap()

    def test_unwrap_both_sides(self):
        self.unwrap_both_sides()

    def test_unwrap_discards_unread_data(self):
        self.unwrap_both_sides(b"never read" * 1000)

    def test_self_signed_ca_certificate_as_cafile_and_cadata(self):
        # `openssl req -x509` makes CA:TRUE self-signed certificates; CPython with
        # OpenSSL trusts one given as cafile or cadata, and so does memtls.
        with open(fixture("self-ca.chain")) as file:
            pem = file.read()
        for context in (ssl.create_default_context(cafile=fixture("self-ca.chain")),
                        ssl.create_default_context(cadata=pem)):
            pair = Pair(context, server_context("self-ca"))
            pair.handshake()
            self.assertEqual(pair.client.version(), "TLSv1.3")
        pair = Pair(ssl.create_default_context(cadata=pem), server_context("self-ca"),
                    hostname="other.test")
        with self.assertRaises(ssl.SSLCertVerificationError) as caught:
            pair.handshake()
        self.assertEqual(caught.exception.verify_code, 62)  # hostname mismatch

    def test_garbage_from_the_peer(self):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        server = server_context().wrap_bio(incoming, outgoing, server_side=True)
        incoming.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with self.assertRaises(ssl.SSLError) as caught:
            server.do_handshake()
        self.assertNotIsInstance(caught.exception, ssl.SSLWantReadError)
        # The fatal alert that says why waits in the outgoing BIO, for the
        # caller to send before closing (an alert record: content type 21).
        self.assertEqual(outgoing.read()[:1], b"\x15")

    def test_corrupted_record_draws_an_alert_the_peer_hears(self):
        pair = Pair(client_context(), server_context())
        pair.handshake()
        pair.client.write(b"this record will be damaged")
        record = bytearray(pair.c_out.read())
        record[-1] ^= 1
        pair.s_in.write(bytes(record))
        with self.assertRaises(ssl.SSLError):
            pair.server.read(100)
        alert = pair.s_out.read()
        self.assertTrue(alert, "no alert queued for the peer")
        pair.c_in.write(alert)
        with self.assertRaises(ssl.SSLError) as caught:
            pair.client.read(100)
        self.assertIn("BAD_RECORD_MAC", str(caught.exception))

    def test_exception_hierarchy(self):
        self.assertTrue(issubclass(ssl.SSLCertVerificationError, ValueError))
        for cls in (ssl.SSLZeroReturnError, ssl.SSLWantReadError, ssl.SSLWantWriteError,
                    ssl.SSLSyscallError, ssl.SSLEOFError, ssl.SSLCertVerificationError):
            self.assertTrue(issubclass(cls, ssl.SSLError))
        self.assertTrue(issubclass(ssl.SSLError, OSError))
        self.assertIs(ssl.CertificateError, ssl.SSLCertVerificationError)


class CPythonSemanticsTests(unittest.TestCase):
    """Behaviour CPython documents and programs rely on, beyond the handshake."""

    def test_exceptions_reach_no_binding_object(self):
        # unittest (and logging, and frameworks) assign __traceback__ along an
        # exception's chain; every object on it must allow that.
        failures = []
        for make in (
                lambda: Pair(client_context(), server_context("unknown")).handshake(),
                lambda: server_context().load_cert_chain(fixture("server.chain"),
                                                         fixture("b.key")),
                lambda: Pair(client_context(), server_context()).client.read(1)):
            try:
                make()
            except (ssl.SSLError, ValueError) as error:
                failures.append(error)
        self.assertEqual(len(failures), 3)
        for error in failures:
            seen, todo = set(), [error]
            while todo:
                current = todo.pop()
                if current is None or id(current) in seen:
                    continue
                seen.add(id(current))
                self.assertFalse(type(current).__module__.startswith("componentize_py"),
                                 f"{type(current)} reachable from {error!r}")
                current.__traceback__ = None  # what unittest does to trim tracebacks
                todo += [current.__cause__, current.__context__]

    def test_configuration_problems_surface_at_the_handshake(self):
        import errno
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
        probe.close()
        no_ca = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, nothing loaded
        with no_ca.wrap_socket(socket.socket(), server_hostname="localhost") as sock:
            self.assertEqual(sock.connect_ex(("127.0.0.1", closed_port)), errno.ECONNREFUSED)
        host, port = host_port("MEMTLS_TEST_HTTPS")
        with no_ca.wrap_socket(socket.socket(), server_hostname=host,
                               do_handshake_on_connect=False) as sock:
            self.assertEqual(sock.connect_ex((host, port)), 0)
            with self.assertRaises(ssl.SSLCertVerificationError) as caught:
                sock.do_handshake()
            self.assertEqual(caught.exception.verify_code, 20)
        # A server context without a certificate: wrap_bio works, the handshake fails.
        bare = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server = bare.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
        with self.assertRaises(ssl.SSLError) as caught:
            server.do_handshake()
        self.assertNotIsInstance(caught.exception, ssl.SSLWantReadError)
        self.assertIn("load_cert_chain", str(caught.exception))

    def test_old_protocol_names_exist_and_fail_when_used(self):
        for protocol in (ssl.PROTOCOL_TLSv1, ssl.PROTOCOL_TLSv1_1):
            with self.assertWarns(DeprecationWarning):
                context = ssl.SSLContext(protocol)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            client = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(),
                                      server_hostname="localhost")
            with self.assertRaises(ssl.SSLError) as caught:
                client.do_handshake()
            self.assertEqual(caught.exception.reason, "NO_PROTOCOLS_AVAILABLE")
        self.assertEqual(int(ssl.PROTOCOL_TLSv1), 3)

    def test_only_ca_certificates_count_as_cas(self):
        context = client_context()
        context.load_verify_locations(cadata=der_of("server.chain"))  # a leaf
        self.assertEqual(context.cert_store_stats(), {"x509": 2, "crl": 0, "x509_ca": 1})
        self.assertEqual(context.get_ca_certs(True), [der_of("ca")])
        Pair(context, server_context()).handshake()

    def test_common_name_fallback_is_refused_where_it_is_asked_for(self):
        context = client_context()
        self.assertFalse(context.hostname_checks_common_name)
        with self.assertRaises(ValueError) as caught:
            context.hostname_checks_common_name = True
        self.assertIn("subjectAltName", str(caught.exception))
        context.hostname_checks_common_name = False

    def test_argument_checks_as_cpython_makes_them(self):
        pair = Pair(client_context(), server_context())
        pair.handshake()
        with self.assertRaises(ValueError):
            pair.client.get_channel_binding("unknown-type")
        with self.assertRaises(ValueError):
            client_context().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="")
        with self.assertRaises(ValueError):
            client_context().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(),
                                      server_hostname=".example.org")
        with self.assertRaises(ValueError):
            client_context().num_tickets = 1
        server = server_context()
        server.num_tickets = 1
        self.assertEqual(server.num_tickets, 1)
        context = client_context()
        context.maximum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        self.assertEqual(context.maximum_version, ssl.TLSVersion.TLSv1_2)
        context.minimum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
        self.assertEqual(context.minimum_version, ssl.TLSVersion.TLSv1_3)
        context.set_ecdh_curve(b"prime256v1")
        context.set_ecdh_curve("prime256v1")
        with self.assertRaises(ValueError):
            context.set_ecdh_curve("no-such-curve")
        bio = ssl.MemoryBIO()
        with self.assertRaises(BufferError):
            bio.write(memoryview(b"abcdef")[::2])
        with self.assertRaises(TypeError):
            bio.write("text")
        self.assertEqual(bio.write(bytearray(b"ok")), 2)
        server.set_servername_callback(None)
        self.assertIsNone(server.sni_callback)

    def test_decode_cert_helper(self):
        info = ssl._ssl._test_decode_cert(fixture("ca"))
        self.assertEqual(dict(rdn[0] for rdn in info["subject"])["commonName"],
                         "memtls test CA")
        with self.assertRaises(ssl.SSLError):
            ssl._ssl._test_decode_cert(fixture("server.key.pkcs8.der"))

    def test_udp_sockets_work_under_memtls_run(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            udp.settimeout(10)
            udp.sendto(b"datagram", udp.getsockname())
            data, _ = udp.recvfrom(100)
        self.assertEqual(data, b"datagram")


def socket_pair():
    """A connected (client, server) pair of loopback TCP sockets."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    return client, server


def finish_nonblocking(*steps):
    """Calls each (socket, operation) until all complete, waiting with select."""
    pending = list(steps)
    for _ in range(1000):
        if not pending:
            return
        for item in list(pending):
            sock, operation = item
            try:
                operation()
                pending.remove(item)
            except ssl.SSLWantReadError:
                select.select([sock], [], [], 0.05)
            except ssl.SSLWantWriteError:
                select.select([], [sock], [], 0.05)
    raise AssertionError("non-blocking operations did not finish")


# RFC 7919's ffdhe2048 group, as `openssl genpkey -genparam -algorithm DH -pkeyopt
# group:ffdhe2048` writes it.
FFDHE2048 = """-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""


class CPythonParityTests(unittest.TestCase):
    """Calls whose results CPython with OpenSSL defines, asserted as CPython gives
    them: this class runs inside Wasm on every provider, and natively under the
    host's python3 with OpenSSL (`MEMTLS_TEST_FIXTURES` naming the fixtures), so
    every expectation here is one both pass. Where CPython releases differ (the
    component's CPython is 3.14), only what they share is asserted."""

    def test_encrypted_private_keys(self):
        """Keys the openssl CLI encrypted with the password "secret" (the harness
        writes them: PKCS#8 PBES2 with PBKDF2-SHA256 and AES, with HMAC-SHA1 and
        3DES, with scrypt; OpenSSL's traditional PEM with AES and 3DES; EC and
        RSA) load with the password as str, bytes, bytearray or a callable, and
        the context then serves with them; a wrong password is OpenSSL's PEM
        error."""
        keys = [("server", "server.key.p8-aes256"), ("server", "server.key.p8-des3-sha1"),
                ("server", "server.key.p8-scrypt"), ("server", "server.key.trad-aes128"),
                ("rsa", "rsa.key.trad-des3"), ("rsa", "rsa.key.p8-aes128")]
        passwords = ["secret", b"secret", bytearray(b"secret"), lambda: "secret",
                     lambda: b"secret", lambda: bytearray(b"secret")]
        for (chain, key), password in zip(keys, passwords):
            with self.subTest(key=key):
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(fixture(chain + ".chain"), fixture(key),
                                        password=password)
                ca = "ca" if chain == "server" else chain + ".chain"
                pair = Pair(client_context(ca), context)
                pair.handshake()
                self.assertTrue(pair.client.getpeercert())
                for wrong in ("wrong", b"", lambda: "secreT"):
                    with self.assertRaises(ssl.SSLError) as raised:
                        context.load_cert_chain(fixture(chain + ".chain"), fixture(key),
                                                password=wrong)
                    self.assertEqual(raised.exception.errno, 524297)
                    self.assertIn("[SSL] PEM lib", str(raised.exception))

    def test_capath_certificates_count_once_used(self):
        """OpenSSL reads a hashed directory (``openssl rehash``) only when a
        verification needs an issuer: the stores' counts include the CA from
        ``capath`` only after a handshake used it."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(capath=fixture("capath"))
        self.assertEqual(context.cert_store_stats(), {"x509": 0, "crl": 0, "x509_ca": 0})
        self.assertEqual(context.get_ca_certs(), [])
        Pair(context, server_context()).handshake()
        self.assertEqual(context.cert_store_stats(), {"x509": 1, "crl": 0, "x509_ca": 1})
        self.assertEqual(context.get_ca_certs(binary_form=True), [der_of("ca")])

    def test_password_callbacks_as_cpython_calls_them(self):
        """The callback is called only for an encrypted key; its exceptions
        propagate; what it returns is checked."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        called = []
        context.load_cert_chain(fixture("server.chain"), fixture("server.key"),
                                password=lambda: called.append(1) or "x")
        self.assertEqual(called, [])
        encrypted = fixture("server.key.p8-aes256")

        def fails():
            raise ZeroDivisionError("from the callback")

        with self.assertRaises(ZeroDivisionError):
            context.load_cert_chain(fixture("server.chain"), encrypted, password=fails)
        with self.assertRaisesRegex(TypeError, "password callback must return a string"):
            context.load_cert_chain(fixture("server.chain"), encrypted, password=lambda: 3)
        with self.assertRaisesRegex(ValueError, "password cannot be longer than 1024 bytes"):
            context.load_cert_chain(fixture("server.chain"), encrypted, password="x" * 1025)
        with self.assertRaisesRegex(TypeError, "password should be a string or callable"):
            context.load_cert_chain(fixture("server.chain"), encrypted, password=3)

    def test_default_options_and_security_level(self):
        for protocol in (ssl.PROTOCOL_TLS_CLIENT, ssl.PROTOCOL_TLS_SERVER):
            context = ssl.SSLContext(protocol)
            self.assertEqual(ssl.OP_ALL, 0x80000050)
            self.assertEqual(int(context.options), 0x82520050)
            self.assertTrue(context.options & ssl.OP_ENABLE_MIDDLEBOX_COMPAT)
            self.assertFalse(context.options & ssl.OP_NO_TLSv1)
            self.assertIn(context.security_level, range(6))
            with self.assertRaises(AttributeError):
                context.security_level = 1

    def test_options_are_checked_and_deprecated_bits_warn(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        with self.assertRaises(OverflowError):
            context.options = 2 ** 64
        for value in ("1", 1.0, None):
            with self.assertRaises(TypeError):
                context.options = value
        with self.assertWarns(DeprecationWarning) as warned:
            context.options |= ssl.OP_NO_TLSv1
        self.assertEqual(str(warned.warning),
                         "ssl.OP_NO_SSL*/ssl.OP_NO_TLS* options are deprecated")
        self.assertEqual(warned.filename, __file__)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            context.options |= ssl.OP_NO_SSLv3  # set already: no warning
            context.options &= ~ssl.OP_NO_TLSv1  # cleared: no warning
        with self.assertWarns(DeprecationWarning) as warned:
            context.minimum_version = ssl.TLSVersion.TLSv1_1
        self.assertEqual(str(warned.warning), "ssl.TLSVersion.TLSv1_1 is deprecated")
        self.assertEqual(warned.filename, __file__)

    def test_internal_types_are_immutable_and_not_instantiable(self):
        for cls in (ssl.MemoryBIO, ssl.SSLSession, ssl._ssl._SSLContext,
                    ssl._ssl.Certificate):
            with self.assertRaises(TypeError) as caught:
                cls.extra = 1
            self.assertEqual(str(caught.exception),
                             f"cannot set 'extra' attribute of immutable type "
                             f"'_ssl.{cls.__name__}'")
        for cls in (ssl.SSLSession, ssl._ssl.Certificate):
            with self.assertRaises(TypeError) as caught:
                cls()
            self.assertEqual(str(caught.exception),
                             f"cannot create '_ssl.{cls.__name__}' instances")
        with self.assertRaises(TypeError):
            type("Sub", (ssl.MemoryBIO,), {})
        # ssl.py's own subclass stays an ordinary class.
        ssl.SSLContext.parity_marker = True
        del ssl.SSLContext.parity_marker

    def test_server_hostname_with_nul_or_the_wrong_side(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        for name in ("a\x00b.test", b"a\x00b.test"):
            with self.assertRaises(TypeError) as caught:
                context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname=name)
            self.assertIn("without null bytes", str(caught.exception))
        with self.assertRaises(ssl.SSLError) as caught:
            context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
        self.assertTrue(caught.exception.args[1].startswith(
            "Cannot create a server socket with a PROTOCOL_TLS_CLIENT context"))

    def test_session_stats(self):
        client = client_context()
        self.assertEqual(list(client.session_stats()), [
            "number", "connect", "connect_good", "connect_renegotiate", "accept",
            "accept_good", "accept_renegotiate", "hits", "misses", "timeouts",
            "cache_full"])
        server = server_context()
        pair = Pair(client, server)
        self.assertEqual(client.session_stats()["connect"], 0, "counted at the handshake")
        pair.handshake()
        stats = client.session_stats()
        self.assertEqual((stats["number"], stats["connect"], stats["connect_good"]),
                         (0, 1, 1))
        self.assertEqual(server.session_stats()["accept_good"], 1)

    def test_load_dh_params(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        path = fixture("ffdhe2048.pem")
        with open(path, "w") as file:
            file.write(FFDHE2048)
        self.assertIsNone(context.load_dh_params(path))
        with self.assertRaises(FileNotFoundError) as caught:
            context.load_dh_params(fixture("missing.pem"))
        self.assertEqual(caught.exception.filename, fixture("missing.pem"))
        with self.assertRaises(ssl.SSLError) as caught:
            context.load_dh_params(fixture("ca"))
        self.assertEqual((caught.exception.reason, caught.exception.library),
                         ("NO_START_LINE", "PEM"))
        self.assertTrue(str(caught.exception).startswith("[PEM: NO_START_LINE] no start line"))

    def test_certificate_and_key_loading_errors(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with self.assertRaises(ssl.SSLError) as caught:
            context.load_cert_chain(fixture("server.key"))  # no certificate
        self.assertTrue(str(caught.exception).startswith("[SSL] PEM lib"))
        self.assertEqual(caught.exception.library, "SSL")
        with self.assertRaises(FileNotFoundError):
            context.load_cert_chain(fixture("missing.pem"))
        with self.assertRaises(TypeError) as caught:
            context.load_cert_chain(fixture("server.chain"), fixture("server.key"), 1)
        self.assertEqual(str(caught.exception), "password should be a string or callable")
        with self.assertRaises(TypeError) as caught:
            context.load_cert_chain(1)
        self.assertEqual(str(caught.exception), "certfile should be a valid filesystem path")
        # A password for a plain key is never asked for.
        context.load_cert_chain(fixture("server.chain"), fixture("server.key"),
                                lambda: 1 / 0)
        with self.assertRaises(ssl.SSLError) as caught:
            context.load_cert_chain(fixture("server.chain"), fixture("b.key"))
        self.assertEqual((caught.exception.reason, caught.exception.library),
                         ("KEY_VALUES_MISMATCH", "X509"))
        self.assertTrue(str(caught.exception).startswith(
            "[X509: KEY_VALUES_MISMATCH] key values mismatch"))

    def test_trust_loading_errors(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        for cadata in ("", b""):
            with self.assertRaises(ValueError) as caught:
                context.load_verify_locations(cadata=cadata)
            self.assertEqual(str(caught.exception), "Empty certificate data")
        for cadata in ("caf\u00e9", object()):
            with self.assertRaises(TypeError) as caught:
                context.load_verify_locations(cadata=cadata)
            self.assertEqual(str(caught.exception),
                             "cadata should be an ASCII string or a bytes-like object")
        for cadata, says in (("garbage", "no start line"), (b"garbage", "not enough data")):
            with self.assertRaises(ssl.SSLError) as caught:
                context.load_verify_locations(cadata=cadata)
            self.assertTrue(caught.exception.args[1].startswith(
                f"{says}: cadata does not contain a certificate"), caught.exception)
        with self.assertRaises(ssl.SSLError) as caught:
            context.load_verify_locations(cafile=fixture("server.key"))
        self.assertEqual((caught.exception.reason, caught.exception.library),
                         ("NO_CERTIFICATE_OR_CRL_FOUND", "X509"))
        self.assertEqual(context.cert_store_stats(), {"x509": 0, "crl": 0, "x509_ca": 0})


class SocketTests(unittest.TestCase):
    """``wrap_socket``: blocking, timeouts, non-blocking, EOF handling."""

    def wrapped_pair(self, suppress_ragged_eofs=True):
        raw_client, raw_server = socket_pair()
        raw_client.setblocking(False)
        raw_server.setblocking(False)
        client = client_context().wrap_socket(raw_client, server_hostname="localhost",
                                              do_handshake_on_connect=False,
                                              suppress_ragged_eofs=suppress_ragged_eofs)
        server = server_context().wrap_socket(raw_server, server_side=True,
                                              do_handshake_on_connect=False)
        finish_nonblocking((client, client.do_handshake), (server, server.do_handshake))
        return client, server

    def test_nonblocking_handshake_and_data(self):
        client, server = self.wrapped_pair()
        self.assertEqual(client.version(), server.version())
        client.sendall(b"hello over TCP")
        received = []
        finish_nonblocking((server, lambda: received.append(server.recv(100))))
        self.assertEqual(received, [b"hello over TCP"])
        with self.assertRaises(ssl.SSLWantReadError):
            server.recv(100)
        client.close()
        server.close()

    def test_nonblocking_partial_sends_never_duplicate(self):
        # Far more than the socket buffers hold (2 MiB: 128 times the 16 KiB
        # each side's buffer is set to), sent by a program that retries
        # SSLWantWriteError with the same data (as ssl.py's sendall does).
        client, server = self.wrapped_pair()
        for sock in (client, server):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        payload = bytes(range(256)) * 8192
        sent, received = 0, bytearray()
        for _ in range(100_000):
            if sent < len(payload):
                try:
                    sent += client.send(payload[sent:])
                except ssl.SSLWantWriteError:
                    pass
            try:
                while True:
                    received += server.recv(65536)
            except ssl.SSLWantReadError:
                pass
            if len(received) >= len(payload):
                break
            select.select([server], [client] if sent < len(payload) else [], [], 0.05)
        self.assertEqual(sent, len(payload))
        self.assertEqual(len(received), len(payload))
        self.assertEqual(bytes(received), payload)

    def test_a_blocked_call_keeps_none_of_its_data(self):
        # CPython frees a buffer once its caller drops it, blocked call or not. A
        # reference cycle through the raised SSLWantWriteError would hold every
        # retried buffer until the cycle collector ran: a large nonblocking send
        # retried a few dozen times then ends in MemoryError.
        class Buffer(bytearray):
            pass

        client, server = self.wrapped_pair()
        for sock in (client, server):
            self.addCleanup(sock.close)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        gc.disable()
        try:
            for _ in range(256):
                buffer = Buffer(1 << 16)
                held = weakref.ref(buffer)
                blocked = False
                try:
                    client.send(buffer)
                except ssl.SSLWantWriteError:
                    blocked = True
                if blocked:
                    del buffer
                    self.assertIsNone(held(), "the blocked send still holds its data")
                    break
            else:
                self.fail("a send to a peer that never reads did not block")
        finally:
            gc.enable()

    def test_clean_close_reads_empty(self):
        client, server = self.wrapped_pair()
        with self.assertRaises(ssl.SSLWantReadError):
            server.unwrap()
        got = []
        finish_nonblocking((client, lambda: got.append(client.recv(10))))
        self.assertEqual(got, [b""])
        client.close()
        server.close()

    def test_ragged_eof(self):
        for suppress in (True, False):
            client, server = self.wrapped_pair(suppress_ragged_eofs=suppress)
            server.close()  # no close_notify: CPython's close() does not send one
            got = []
            if suppress:
                finish_nonblocking((client, lambda: got.append(client.recv(10))))
                self.assertEqual(got, [b""])
            else:
                with self.assertRaises(ssl.SSLEOFError):
                    finish_nonblocking((client, lambda: got.append(client.recv(10))))
            client.close()

    def test_handshake_timeout(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        raw = socket.create_connection(listener.getsockname(), timeout=0.3)
        with self.assertRaises(TimeoutError):
            client_context().wrap_socket(raw, server_hostname="localhost")
        listener.close()

    def test_nonblocking_requires_explicit_handshake(self):
        raw_client, raw_server = socket_pair()
        raw_client.setblocking(False)
        with self.assertRaises(ValueError):
            client_context().wrap_socket(raw_client, server_hostname="localhost")
        raw_server.close()


class StdlibClientTests(unittest.TestCase):
    """Unmodified stdlib clients against the host's servers."""

    def test_urllib_with_custom_ca(self):
        host, port = host_port("MEMTLS_TEST_HTTPS")
        with urllib.request.urlopen(f"https://{host}:{port}/", context=client_context(),
                                    timeout=10) as response:
            self.assertEqual(response.status, 200)
            self.assertIn(b"s_server", response.read())

    def test_urllib_default_context_with_ssl_cert_file(self):
        # CPython's way to trust a private CA: SSL_CERT_FILE, honoured by
        # create_default_context() (load_default_certs -> set_default_verify_paths).
        host, port = host_port("MEMTLS_TEST_HTTPS")
        url = f"https://{host}:{port}/"
        saved = {name: os.environ.pop(name, None) for name in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
        # An opener makes its default context when it is built (urlopen's global
        # one, once): build one after each change, as a program started with
        # the variable set would.
        try:
            with self.assertRaises(urllib.error.URLError):
                urllib.request.build_opener().open(url, timeout=10)  # system roots alone
            os.environ["SSL_CERT_FILE"] = fixture("ca")
            self.assertEqual(ssl.get_default_verify_paths().cafile, fixture("ca"))
            with urllib.request.build_opener().open(url, timeout=10) as response:
                self.assertEqual(response.status, 200)
            del os.environ["SSL_CERT_FILE"]
            os.environ["SSL_CERT_DIR"] = os.path.dirname(fixture("ca"))
            context = ssl.create_default_context()
            with urllib.request.urlopen(url, context=context, timeout=10) as response:
                self.assertEqual(response.status, 200)
        finally:
            for name, value in saved.items():
                os.environ.pop(name, None)
                if value is not None:
                    os.environ[name] = value

    def test_urllib_certificate_failure(self):
        host, port = host_port("MEMTLS_TEST_HTTPS")
        with self.assertRaises(urllib.error.URLError) as caught:
            urllib.request.urlopen(f"https://{host}:{port}/",
                                   context=client_context("client-ca"), timeout=10)
        reason = caught.exception.reason
        self.assertIsInstance(reason, ssl.SSLCertVerificationError)
        self.assertEqual(reason.verify_code, 20)
        self.assertIn("unable to get local issuer certificate", str(reason))

    def test_http_client(self):
        host, port = host_port("MEMTLS_TEST_HTTPS")
        connection = http.client.HTTPSConnection(host, port, context=client_context(),
                                                 timeout=10)
        connection.request("GET", "/")
        sock = connection.sock
        self.assertIn(sock.version(), ("TLSv1.2", "TLSv1.3"))
        self.assertIn(("DNS", "localhost"), sock.getpeercert()["subjectAltName"])
        response = connection.getresponse()
        self.assertEqual(response.status, 200)
        self.assertIn(b"s_server", response.read())
        connection.close()

    def test_smtplib_starttls(self):
        host, port = host_port("MEMTLS_TEST_SMTP")
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.ehlo()
            self.assertTrue(smtp.has_extn("starttls"))
            code, _ = smtp.starttls(context=client_context())
            self.assertEqual(code, 220)
            self.assertIsInstance(smtp.sock, ssl.SSLSocket)
            smtp.ehlo()
            self.assertEqual(smtp.noop()[0], 250)


class AsyncioTests(unittest.TestCase):
    """``asyncio.start_server(ssl=...)`` and ``asyncio.open_connection(ssl=...)``."""

    def test_echo_over_tls(self):
        async def main():
            async def handle(reader, writer):
                line = await reader.readline()
                writer.write(line.upper())
                await writer.drain()
                writer.close()

            server = await asyncio.start_server(handle, "127.0.0.1", 0,
                                                ssl=server_context())
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_context(), server_hostname="localhost")
            writer.write(b"hello asyncio\n")
            await writer.drain()
            line = await reader.readline()
            version = writer.get_extra_info("ssl_object").version()
            writer.close()
            server.close()
            await server.wait_closed()
            return line, version

        line, version = asyncio.run(main())
        self.assertEqual(line, b"HELLO ASYNCIO\n")
        self.assertIn(version, ("TLSv1.2", "TLSv1.3"))


class HostLimitTests(unittest.TestCase):
    """What the host's limits look like from inside the program."""

    def test_the_memory_cap_is_the_programs_own_memory_error(self):
        """``memtls run`` caps the store's linear memory (1 GiB by default,
        the guest provider's included): an allocation past it fails inside the
        program as ``MemoryError`` (the host refused ``memory.grow``), and the
        program goes on; without the cap wasm32 would hand out up to 4 GiB."""
        with self.assertRaises(MemoryError):
            bytearray(1536 << 20)
        self.assertEqual(len(bytearray(16 << 20)), 16 << 20)


if __name__ == "__main__":
    import memtls
    print("memtls provider:", *memtls.implementation(), file=sys.stderr)
    unittest.main(verbosity=2, durations=8)
