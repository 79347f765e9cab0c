"""memtls's PEP 748 backend (``memtls.pep748``), tested inside WebAssembly.

Built with ``memtls python build`` and run with ``memtls run`` on either provider.
Fixtures come from the directory ``/f`` in the component: ``ca`` (test CA),
``server.chain``/``server.key`` (EC P-256 leaf for localhost and a.test, issued
by ``ca``), ``server.der``, ``server.key.pkcs8.der``, ``expired.*``,
``notyet.*``, ``unknown.*`` (issued by a CA that is not given), ``client.*``
(client certificate issued by ``client-ca``), ``rsa.*``, ``ed25519.*`` and
``self.*`` (self-signed for pinned.test).

Most tests connect a client TLSBuffer to a server TLSBuffer in memory. The socket
tests need ``-S inherit-network`` and are skipped without it.
"""

import base64
import os
import socket
import sys
import unittest

from tlslib import tlslib

from memtls import pep748
from memtls.pep748 import MEMTLS_BACKEND as BACKEND

F = "/f"
WOULD_BLOCK = (tlslib.WantReadError, tlslib.WantWriteError)


def path(name):
    return os.path.join(F, name)


def read(name):
    with open(path(name), "rb") as file:
        return file.read()


def first_der(pem):
    """The DER of the first certificate in PEM text."""
    text = pem.decode("ascii")
    body = text.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END", 1)[0]
    return base64.b64decode("".join(body.split()))


def chain(stem):
    """A SigningChain from /f/<stem>.chain and /f/<stem>.key (PEM files)."""
    return tlslib.SigningChain((tlslib.Certificate.from_file(path(stem + ".chain")),
                         tlslib.PrivateKey.from_file(path(stem + ".key"))))


def client_config(**options):
    options.setdefault("trust_store", tlslib.TrustStore.from_file(path("ca")))
    return tlslib.TLSClientConfiguration(**options)


def server_config(**options):
    options.setdefault("certificate_chain", (chain("server"),))
    return tlslib.TLSServerConfiguration(**options)


def buffers(client=None, server=None, name="localhost"):
    """A fresh (client, server) TLSBuffer pair."""
    client_context = BACKEND.client_context(client or client_config())
    server_context = BACKEND.server_context(server or server_config())
    return client_context.create_buffer(name), server_context.create_buffer()


def move(source, destination):
    """Moves all waiting ciphertext from one buffer to the other; returns its size."""
    data = source.process_outgoing(source.outgoing_bytes_buffered())
    if data:
        destination.process_incoming(data)
    return len(data)


def handshake(client, server, rounds=20):
    done = {"client": False, "server": False}
    for _ in range(rounds):
        for name, side, peer in (("client", client, server), ("server", server, client)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except WOULD_BLOCK:
                    pass
            move(side, peer)
        if all(done.values()) and not (client.outgoing_bytes_buffered()
                                       or server.outgoing_bytes_buffered()):
            return client, server
    raise AssertionError("the handshake did not finish")


def connected(client=None, server=None, name="localhost"):
    return handshake(*buffers(client, server, name))


def failed_handshake(client, server, rounds=20):
    """Runs a handshake that must fail; returns {"client": exc, "server": exc} with
    the TLSError each side raised (None for a side that raised none). A side whose
    handshake finished is read from, so an alert sent afterwards surfaces."""
    errors = {"client": None, "server": None}
    done = {"client": False, "server": False}
    for _ in range(rounds):
        moved = 0
        for name, side, peer in (("client", client, server), ("server", server, client)):
            if errors[name] is None:
                try:
                    if done[name]:
                        side.read(1)
                    else:
                        side.do_handshake()
                        done[name] = True
                except WOULD_BLOCK:
                    pass
                except tlslib.TLSError as error:
                    errors[name] = error
            moved += move(side, peer)
        if all(errors.values()) or (any(errors.values()) and not moved):
            break
    if not any(errors.values()):
        raise AssertionError("the handshake did not fail")
    return errors


def write_all(writer, data):
    """Writes all of ``data`` into a buffer whose outgoing side has room."""
    view = memoryview(data)
    while view:
        view = view[writer.write(view):]


def transfer(writer, reader, payload, piece=16 * 1024, rounds=100000):
    """Sends ``payload`` from writer to reader through a ``piece``-sized pipe;
    returns (bytes received, largest outgoing buffer, largest incoming buffer)."""
    sent, received, in_flight = 0, bytearray(), b""
    most_out = most_in = 0
    for _ in range(rounds):
        if len(received) == len(payload):
            return bytes(received), most_out, most_in
        if sent < len(payload):
            try:
                sent += writer.write(memoryview(payload)[sent:])
            except tlslib.WantWriteError:
                pass
        most_out = max(most_out, writer.outgoing_bytes_buffered())
        if not in_flight:
            in_flight = writer.process_outgoing(piece)
        if in_flight:
            try:
                reader.process_incoming(in_flight)
                in_flight = b""
            except tlslib.WantReadError:
                pass
        most_in = max(most_in, reader.incoming_bytes_buffered())
        try:
            received += reader.read(64 * 1024)
        except tlslib.WantReadError:
            pass
    raise AssertionError(f"transfer stalled after {len(received)} of {len(payload)} bytes")


class BackendTests(unittest.TestCase):
    def test_backend_holds_the_classes(self):
        self.assertIsInstance(BACKEND, tlslib.Backend)
        self.assertIs(BACKEND.client_context, pep748.ClientContext)
        self.assertIs(BACKEND.server_context, pep748.ServerContext)
        self.assertIs(BACKEND.validate_config, pep748.validate_config)

    def test_buffers_and_sockets_have_no_public_constructor(self):
        with self.assertRaises(TypeError):
            pep748.TLSBuffer()
        with self.assertRaises(TypeError):
            pep748.TLSSocket()

    def test_classes_implement_the_protocols(self):
        client, server = buffers()
        self.assertIn(tlslib.TLSBuffer, type(client).__mro__)
        self.assertIn(tlslib.ClientContext, type(client.context).__mro__)
        self.assertIn(tlslib.ServerContext, type(server.context).__mro__)
        self.assertIn(tlslib.TLSSocket, pep748.TLSSocket.__mro__)

    def test_context_keeps_its_configuration(self):
        config = client_config()
        context = BACKEND.client_context(config)
        self.assertIs(context.configuration, config)
        self.assertIs(context.create_buffer("localhost").context, context)


class HandshakeTests(unittest.TestCase):
    def test_fresh_client_buffer(self):
        client, _ = buffers()
        self.assertIsNone(client.cipher())
        self.assertIsNone(client.negotiated_protocol())
        self.assertIsNone(client.negotiated_tls_version)
        self.assertIsNone(client.getpeercert())
        self.assertEqual(client.incoming_bytes_buffered(), 0)
        self.assertGreater(client.outgoing_bytes_buffered(), 0)  # the ClientHello

    def test_handshake_and_data_both_ways(self):
        client, server = connected()
        for side in (client, server):
            self.assertEqual(side.negotiated_tls_version, tlslib.TLSVersion.TLSv1_3)
            self.assertIsInstance(side.cipher(), tlslib.CipherSuite)
            self.assertIsNone(side.negotiated_protocol())
        self.assertEqual(client.cipher(), server.cipher())
        self.assertEqual(client.getpeercert(), read("server.der"))
        self.assertIsNone(server.getpeercert())
        write_all(client, b"ping")
        move(client, server)
        self.assertEqual(server.read(100), b"ping")
        write_all(server, b"pong")
        move(server, client)
        self.assertEqual(client.read(100), b"pong")

    def test_read_into_a_buffer(self):
        client, server = connected()
        write_all(client, b"into the buffer")
        move(client, server)
        target = bytearray(64)
        count = server.read(64, target)
        self.assertEqual(bytes(target[:count]), b"into the buffer")
        write_all(client, b"abcdef")
        move(client, server)
        small = bytearray(4)
        self.assertEqual(server.read(0, small), 4)  # amt <= 0: the buffer's size
        self.assertEqual(bytes(small), b"abcd")
        self.assertEqual(server.read(10), b"ef")

    def test_contexts_make_many_connections(self):
        client_context = BACKEND.client_context(client_config())
        server_context = BACKEND.server_context(server_config())
        for _ in range(3):
            client, server = handshake(client_context.create_buffer("localhost"),
                                       server_context.create_buffer())
            write_all(client, b"again")
            move(client, server)
            self.assertEqual(server.read(10), b"again")

    def test_second_name_in_the_certificate(self):
        client, _ = connected(name="a.test")
        self.assertEqual(client.getpeercert(), read("server.der"))


class VersionTests(unittest.TestCase):
    def test_tls12_only(self):
        client, server = connected(
            client_config(highest_supported_version=tlslib.TLSVersion.TLSv1_2))
        self.assertEqual(client.negotiated_tls_version, tlslib.TLSVersion.TLSv1_2)
        self.assertEqual(server.negotiated_tls_version, tlslib.TLSVersion.TLSv1_2)

    def test_tls13_only(self):
        client, server = connected(
            client_config(lowest_supported_version=tlslib.TLSVersion.TLSv1_3),
            server_config(lowest_supported_version=tlslib.TLSVersion.TLSv1_3,
                          highest_supported_version=tlslib.TLSVersion.TLSv1_3))
        self.assertEqual(client.negotiated_tls_version, tlslib.TLSVersion.TLSv1_3)

    def test_open_ended_values(self):
        client, _ = connected(
            client_config(lowest_supported_version=tlslib.TLSVersion.MINIMUM_SUPPORTED,
                          highest_supported_version=tlslib.TLSVersion.MAXIMUM_SUPPORTED))
        self.assertEqual(client.negotiated_tls_version, tlslib.TLSVersion.TLSv1_3)

    def test_version_mismatch_fails_on_both_sides(self):
        errors = failed_handshake(*buffers(
            client_config(highest_supported_version=tlslib.TLSVersion.TLSv1_2),
            server_config(lowest_supported_version=tlslib.TLSVersion.TLSv1_3)))
        self.assertIsInstance(errors["server"], pep748.MemtlsError)
        self.assertEqual((errors["server"].kind, errors["server"].detail), ("alert-sent", 70))
        self.assertIsInstance(errors["client"], pep748.MemtlsError)
        self.assertEqual((errors["client"].kind, errors["client"].detail),
                         ("alert-received", 70))  # protocol_version


class CipherTests(unittest.TestCase):
    def test_each_tls12_suite_can_be_chosen(self):
        for stem, suites in (
                ("server", (tlslib.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                            tlslib.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                            tlslib.CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)),
                ("rsa", (tlslib.CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                         tlslib.CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                         tlslib.CipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256))):
            for suite in suites:
                with self.subTest(suite=suite.name):
                    client, server = connected(
                        client_config(ciphers=(suite,),
                                      highest_supported_version=tlslib.TLSVersion.TLSv1_2),
                        server_config(certificate_chain=(chain(stem),)))
                    self.assertEqual(client.cipher(), suite)
                    self.assertEqual(server.cipher(), suite)
                    self.assertEqual(client.negotiated_tls_version, tlslib.TLSVersion.TLSv1_2)

    def test_each_tls13_suite_can_be_chosen(self):
        for suite in (tlslib.CipherSuite.TLS_AES_128_GCM_SHA256,
                      tlslib.CipherSuite.TLS_AES_256_GCM_SHA384,
                      tlslib.CipherSuite.TLS_CHACHA20_POLY1305_SHA256):
            with self.subTest(suite=suite.name):
                client, server = connected(client_config(ciphers=(suite,)))
                self.assertEqual(client.cipher(), suite)
                self.assertEqual(server.cipher(), suite)

    def test_tlslib_default_list_keeps_tls13(self):
        client, _ = connected(client_config(ciphers=tlslib.DEFAULT_CIPHER_LIST),
                              server_config(ciphers=tlslib.DEFAULT_CIPHER_LIST))
        self.assertEqual(client.negotiated_tls_version, tlslib.TLSVersion.TLSv1_3)

    def test_no_common_suite_fails(self):
        errors = failed_handshake(*buffers(
            client_config(ciphers=(tlslib.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,),
                          highest_supported_version=tlslib.TLSVersion.TLSv1_2),
            server_config(ciphers=(tlslib.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,))))
        self.assertIsInstance(errors["server"], tlslib.TLSError)
        self.assertIsInstance(errors["client"], tlslib.TLSError)

    def test_suite_for_the_wrong_key_type_fails(self):
        errors = failed_handshake(*buffers(
            client_config(ciphers=(tlslib.CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,),
                          highest_supported_version=tlslib.TLSVersion.TLSv1_2)))
        self.assertIsInstance(errors["server"], tlslib.TLSError)


class AlpnTests(unittest.TestCase):
    def test_next_protocol_member(self):
        client, server = connected(
            client_config(inner_protocols=(tlslib.NextProtocol.H2, tlslib.NextProtocol.HTTP1)),
            server_config(inner_protocols=(tlslib.NextProtocol.H2,)))
        self.assertIs(client.negotiated_protocol(), tlslib.NextProtocol.H2)
        self.assertIs(server.negotiated_protocol(), tlslib.NextProtocol.H2)

    def test_every_next_protocol(self):
        for protocol in tlslib.NextProtocol:
            with self.subTest(protocol=protocol.name):
                client, server = connected(
                    client_config(inner_protocols=(protocol,)),
                    server_config(inner_protocols=tuple(tlslib.NextProtocol)))
                self.assertIs(client.negotiated_protocol(), protocol)
                self.assertIs(server.negotiated_protocol(), protocol)

    def test_unknown_protocol_is_bytes(self):
        client, server = connected(client_config(inner_protocols=(b"memtls/1",)),
                                   server_config(inner_protocols=(b"x", b"memtls/1")))
        self.assertEqual(client.negotiated_protocol(), b"memtls/1")
        self.assertEqual(server.negotiated_protocol(), b"memtls/1")

    def test_only_the_client_offers(self):
        client, server = connected(client_config(inner_protocols=(tlslib.NextProtocol.H2,)))
        self.assertIsNone(client.negotiated_protocol())
        self.assertIsNone(server.negotiated_protocol())

    def test_no_overlap_fails(self):
        errors = failed_handshake(*buffers(
            client_config(inner_protocols=(tlslib.NextProtocol.H2,)),
            server_config(inner_protocols=(tlslib.NextProtocol.HTTP1,))))
        self.assertEqual((errors["server"].kind, errors["server"].detail), ("alert-sent", 120))
        self.assertEqual((errors["client"].kind, errors["client"].detail),
                         ("alert-received", 120))  # no_application_protocol


class ClientCertificateTests(unittest.TestCase):
    def config(self):
        return server_config(trust_store=tlslib.TrustStore.from_file(path("client-ca")))

    def test_required_and_present(self):
        client, server = connected(client_config(certificate_chain=chain("client")),
                                   self.config())
        self.assertEqual(server.getpeercert(), first_der(read("client.chain")))
        write_all(client, b"hello from a known client")
        move(client, server)
        self.assertEqual(server.read(100), b"hello from a known client")

    def test_required_and_absent(self):
        errors = failed_handshake(*buffers(client_config(), self.config()))
        self.assertIsInstance(errors["server"], pep748.CertificateVerificationError)
        self.assertEqual(errors["server"].reason, "no-certificate")
        self.assertIn("no certificate", str(errors["server"]))
        self.assertIsInstance(errors["client"], tlslib.TLSError)

    def test_certificate_from_another_ca(self):
        errors = failed_handshake(*buffers(client_config(certificate_chain=chain("server")),
                                           self.config()))
        self.assertIsInstance(errors["server"], pep748.CertificateVerificationError)
        self.assertIn(errors["server"].reason, ("unknown-issuer", "other"))
        self.assertIsInstance(errors["client"], tlslib.TLSError)


class VerificationTests(unittest.TestCase):
    def reject(self, reason, words, stem="server", name="localhost", store=None):
        client, server = buffers(
            client_config(**({"trust_store": store} if store is not None else {})),
            server_config(certificate_chain=(chain(stem),)), name)
        errors = failed_handshake(client, server)
        error = errors["client"]
        self.assertIsInstance(error, pep748.CertificateVerificationError)
        self.assertEqual(error.reason, reason)
        self.assertIn(words, str(error))
        # The server learns of it from the client's alert.
        self.assertIsInstance(errors["server"], pep748.MemtlsError)
        self.assertEqual(errors["server"].kind, "alert-received")
        # The failure sticks.
        with self.assertRaises(pep748.CertificateVerificationError):
            client.do_handshake()
        return error

    def test_unknown_issuer(self):
        self.reject("unknown-issuer", "not issued by a trusted authority", stem="unknown")

    def test_expired(self):
        self.reject("expired", "expired", stem="expired")

    def test_not_yet_valid(self):
        self.reject("not-yet-valid", "not valid yet", stem="notyet")

    def test_name_mismatch(self):
        self.reject("name-mismatch", "'wrong.test'", name="wrong.test")

    def test_no_server_hostname(self):
        self.reject("name-mismatch", "no server_hostname", name=None)

    def test_system_trust_does_not_know_the_test_ca(self):
        for store in (tlslib.TrustStore.system(), tlslib.TrustStore()):
            with self.subTest(store=store):
                errors = failed_handshake(*buffers(client_config(trust_store=store)))
                self.assertIsInstance(errors["client"], pep748.CertificateVerificationError)

    def test_self_signed_certificate_as_trust_anchor(self):
        client, _ = connected(
            client_config(trust_store=tlslib.TrustStore.from_file(path("self.chain"))),
            server_config(certificate_chain=(chain("self"),)), name="pinned.test")
        self.assertEqual(client.getpeercert(), first_der(read("self.chain")))


class ConfigurationSourceTests(unittest.TestCase):
    def test_der_buffers(self):
        signing = tlslib.SigningChain((tlslib.Certificate.from_buffer(read("server.der")),
                                tlslib.PrivateKey.from_buffer(read("server.key.pkcs8.der"))))
        client, _ = connected(
            client_config(trust_store=tlslib.TrustStore.from_buffer(read("ca"))),
            server_config(certificate_chain=(signing,)))
        self.assertEqual(client.getpeercert(), read("server.der"))

    def test_der_files(self):
        signing = tlslib.SigningChain((tlslib.Certificate.from_file(path("server.der")),
                                tlslib.PrivateKey.from_file(path("server.key.pkcs8.der"))))
        connected(server=server_config(certificate_chain=(signing,)))

    def test_pem_buffers(self):
        signing = tlslib.SigningChain((tlslib.Certificate.from_buffer(read("server.chain")),
                                tlslib.PrivateKey.from_buffer(read("server.key"))))
        connected(server=server_config(certificate_chain=(signing,)))

    def test_key_inside_the_certificate_pem(self):
        both = read("server.chain") + read("server.key")
        signing = tlslib.SigningChain((tlslib.Certificate.from_buffer(both), None))
        client, _ = connected(server=server_config(certificate_chain=(signing,)))
        self.assertEqual(client.getpeercert(), read("server.der"))

    def test_extra_chain_certificates(self):
        signing = tlslib.SigningChain((tlslib.Certificate.from_file(path("server.chain")),
                                tlslib.PrivateKey.from_file(path("server.key"))),
                               [tlslib.Certificate.from_file(path("ca"))])
        connected(server=server_config(certificate_chain=(signing,)))

    def test_rsa_and_ed25519_keys(self):
        for stem in ("rsa", "ed25519"):
            with self.subTest(key=stem):
                client, _ = connected(server=server_config(certificate_chain=(chain(stem),)))
                self.assertEqual(client.getpeercert(), first_der(read(stem + ".chain")))

    def test_server_picks_the_chain_for_the_requested_name(self):
        config = server_config(certificate_chain=(chain("self"), chain("server")))
        client, _ = connected(server=config, name="localhost")
        self.assertEqual(client.getpeercert(), read("server.der"))
        pinned = client_config(trust_store=tlslib.TrustStore.from_file(path("self.chain")))
        client, _ = connected(pinned, config, name="pinned.test")
        self.assertEqual(client.getpeercert(), first_der(read("self.chain")))

    def test_missing_file(self):
        signing = tlslib.SigningChain((tlslib.Certificate.from_file(path("missing.pem")),
                                tlslib.PrivateKey.from_file(path("server.key"))))
        context = BACKEND.server_context(server_config(certificate_chain=(signing,)))
        with self.assertRaises(tlslib.ConfigurationError) as caught:
            context.create_buffer()
        self.assertIn("missing.pem", str(caught.exception))

    def test_garbage_key(self):
        signing = tlslib.SigningChain((tlslib.Certificate.from_file(path("server.chain")),
                                tlslib.PrivateKey.from_buffer(b"not a key")))
        context = BACKEND.server_context(server_config(certificate_chain=(signing,)))
        with self.assertRaises(tlslib.ConfigurationError):
            context.create_buffer()

    def test_key_of_another_certificate(self):
        signing = tlslib.SigningChain((tlslib.Certificate.from_file(path("server.chain")),
                                tlslib.PrivateKey.from_file(path("client.key"))))
        context = BACKEND.server_context(server_config(certificate_chain=(signing,)))
        with self.assertRaises(tlslib.ConfigurationError):
            context.create_buffer()

    def test_no_key_anywhere(self):
        signing = tlslib.SigningChain((tlslib.Certificate.from_file(path("server.chain")), None))
        context = BACKEND.server_context(server_config(certificate_chain=(signing,)))
        with self.assertRaises(tlslib.ConfigurationError) as caught:
            context.create_buffer()
        self.assertIn("no PrivateKey", str(caught.exception))


class ValidateConfigTests(unittest.TestCase):
    def refused(self, config, *words):
        with self.assertRaises(tlslib.ConfigurationError) as caught:
            BACKEND.validate_config(config)
        for word in words:
            self.assertIn(word, str(caught.exception))
        return caught.exception

    def test_valid_configurations_pass(self):
        for config in (tlslib.TLSClientConfiguration(), client_config(), server_config(),
                       server_config(trust_store=tlslib.TrustStore.from_file(path("client-ca"))),
                       client_config(certificate_chain=chain("client"),
                                     ciphers=list(tlslib.CipherSuite)[:3],
                                     inner_protocols=(tlslib.NextProtocol.H2, b"x"),
                                     lowest_supported_version=tlslib.TLSVersion.TLSv1_2,
                                     highest_supported_version=tlslib.TLSVersion.TLSv1_3)):
            self.assertIsNone(BACKEND.validate_config(config))

    def test_objects_by_identifier(self):
        self.refused(client_config(trust_store=tlslib.TrustStore.from_id(b"store")),
                     "TrustStore.from_id")
        by_id = tlslib.Certificate.from_id(b"cert")
        self.refused(server_config(certificate_chain=(tlslib.SigningChain((by_id, None)),)),
                     "Certificate.from_id")
        self.refused(server_config(certificate_chain=(tlslib.SigningChain(
            (tlslib.Certificate.from_file(path("server.chain")), None), [by_id]),)),
            "Certificate.from_id")
        self.refused(client_config(certificate_chain=tlslib.SigningChain(
            (tlslib.Certificate.from_file(path("client.chain")),
             tlslib.PrivateKey.from_id(b"key")))),
            "PrivateKey.from_id")

    def test_empty_certificate(self):
        certificate = tlslib.Certificate.from_id(b"x")
        certificate._id = None
        self.refused(server_config(certificate_chain=(tlslib.SigningChain((certificate, None)),)),
                     "empty")

    def test_versions_memtls_cannot_do(self):
        self.refused(client_config(lowest_supported_version=tlslib.TLSVersion.MAXIMUM_SUPPORTED),
                     "MAXIMUM_SUPPORTED")
        self.refused(client_config(highest_supported_version=tlslib.TLSVersion.MINIMUM_SUPPORTED),
                     "MINIMUM_SUPPORTED")
        self.refused(client_config(lowest_supported_version=tlslib.TLSVersion.TLSv1_3,
                                   highest_supported_version=tlslib.TLSVersion.TLSv1_2), "above")
        self.refused(client_config(lowest_supported_version="TLSv1.1"),
                     "TLS 1.2 and TLS 1.3 only")

    def test_cipher_suites_memtls_lacks(self):
        for suite in (tlslib.CipherSuite.TLS_AES_128_CCM_SHA256,
                      tlslib.CipherSuite.TLS_AES_128_CCM_8_SHA256,
                      tlslib.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM):
            with self.subTest(suite=suite.name):
                self.refused(client_config(ciphers=(suite,)), suite.name, "does not support")
        self.refused(server_config(ciphers=(0x002C,)), "0x002C")
        self.refused(client_config(ciphers=()), "empty")
        self.refused(client_config(ciphers=(tlslib.CipherSuite.TLS_AES_128_GCM_SHA256,),
                                   highest_supported_version=tlslib.TLSVersion.TLSv1_2),
                     "none of the given cipher suites")

    def test_server_configurations_memtls_refuses(self):
        self.refused(tlslib.TLSServerConfiguration(), "at least one SigningChain")
        self.refused(server_config(certificate_chain=[]), "at least one SigningChain")
        self.refused(server_config(trust_store=tlslib.TrustStore.system()), "system store")

    def test_bad_protocol_names(self):
        self.refused(client_config(inner_protocols=(b"",)), "1 to 255")
        self.refused(client_config(inner_protocols=(b"x" * 256,)), "1 to 255")
        self.refused(client_config(inner_protocols=("h2",)), "NextProtocol or bytes")

    def test_errors_surface_when_the_context_is_used(self):
        context = BACKEND.client_context(
            client_config(trust_store=tlslib.TrustStore.from_id(b"x")))
        with self.assertRaises(tlslib.ConfigurationError):
            context.create_buffer("localhost")
        context = BACKEND.server_context(tlslib.TLSServerConfiguration())
        with self.assertRaises(tlslib.ConfigurationError):
            context.create_buffer()


class FlowTests(unittest.TestCase):
    def test_handshake_wants_write_then_read(self):
        client, server = buffers()
        with self.assertRaises(tlslib.WantWriteError):  # the ClientHello is waiting
            client.do_handshake()
        move(client, server)
        with self.assertRaises(tlslib.WantReadError):
            client.do_handshake()
        with self.assertRaises(tlslib.WantReadError):
            client.read(10)
        handshake(client, server)

    def test_garbage_from_the_network(self):
        _, server = buffers()
        server.process_incoming(b"GET / HTTP/1.1\r\n\r\n")  # the error waits for the next call
        with self.assertRaises(pep748.MemtlsError) as caught:
            server.do_handshake()
        self.assertEqual(caught.exception.kind, "protocol")
        with self.assertRaises(pep748.MemtlsError):  # and stays
            server.read(10)
        # The outgoing buffer holds the fatal alert for the peer (content type 21).
        self.assertGreater(server.outgoing_bytes_buffered(), 0)
        self.assertEqual(server.process_outgoing(-1)[:1], b"\x15")

    def test_read_with_nothing_arrived(self):
        client, server = connected()
        with self.assertRaises(tlslib.WantReadError):
            server.read(10)
        with self.assertRaises(tlslib.WantReadError):
            server.read(10, bytearray(10))

    def test_byte_counts(self):
        client, server = connected()
        write_all(client, b"x" * 1000)
        waiting = client.outgoing_bytes_buffered()
        self.assertGreater(waiting, 1000)
        first = client.process_outgoing(10)
        self.assertEqual(len(first), 10)
        self.assertEqual(client.outgoing_bytes_buffered(), waiting - 10)
        self.assertEqual(client.process_outgoing(0), b"")
        rest = client.process_outgoing(-1)
        self.assertEqual(len(rest), waiting - 10)
        self.assertEqual(client.outgoing_bytes_buffered(), 0)
        self.assertEqual(client.process_outgoing(100), b"")
        server.process_incoming(first)
        server.process_incoming(memoryview(rest))
        self.assertEqual(server.incoming_bytes_buffered(), 0)
        self.assertEqual(server.read(5000), b"x" * 1000)

    def test_write_until_the_outgoing_buffer_is_full(self):
        client, server = connected()
        total = 0
        with self.assertRaises(tlslib.WantWriteError):
            for _ in range(1000):
                total += client.write(b"y" * 100000)
        self.assertGreater(total, 0)
        self.assertLess(client.outgoing_bytes_buffered(), 512 * 1024)
        got = bytearray()
        while len(got) < total:
            data = client.process_outgoing(16 * 1024)
            if data:
                server.process_incoming(data)
            try:
                got += server.read(1 << 20)
            except tlslib.WantReadError:  # only part of a record has arrived
                pass
        self.assertEqual(bytes(got), b"y" * total)
        self.assertGreater(client.write(b"more"), 0)

    def test_short_write_of_a_large_buffer(self):
        client, _ = connected()
        count = client.write(bytearray(10 * 1024 * 1024))
        self.assertGreater(count, 0)
        self.assertLessEqual(count, 64 * 1024)

    def test_full_connection_refuses_more_input(self):
        client, server = connected()
        payload = os.urandom(300 * 1024)
        wire = bytearray()
        view = memoryview(payload)
        while view:
            try:
                view = view[client.write(view):]
            except tlslib.WantWriteError:
                pass
            wire += client.process_outgoing(-1)
        server.process_incoming(bytes(wire))  # one chunk: the connection takes part
        held = server.incoming_bytes_buffered()
        self.assertGreater(held, 0)
        with self.assertRaises(tlslib.WantReadError):
            server.process_incoming(b"z" * 10)
        self.assertEqual(server.incoming_bytes_buffered(), held)
        got = bytearray()
        while len(got) < len(payload):
            got += server.read(1 << 20)
        self.assertEqual(bytes(got), payload)
        self.assertEqual(server.incoming_bytes_buffered(), 0)

    def test_large_data_both_ways_with_bounded_buffers(self):
        client, server = connected()
        for writer, reader in ((client, server), (server, client)):
            payload = os.urandom(3 * 1024 * 1024 + 7)
            received, most_out, most_in = transfer(writer, reader, payload)
            self.assertEqual(received, payload)
            self.assertLess(most_out, 256 * 1024)
            self.assertLessEqual(most_in, 16 * 1024)


class ShutdownTests(unittest.TestCase):
    def test_clean_close_in_both_directions(self):
        client, server = connected()
        write_all(client, b"first ")
        write_all(client, b"second")
        with self.assertRaises(tlslib.WantReadError):  # our close_notify is queued
            client.shutdown()
        move(client, server)
        got = b""
        while len(got) < 12:
            got += server.read(100)
        self.assertEqual(got, b"first second")
        self.assertEqual(server.read(100), b"")  # the client's close_notify
        write_all(server, b"reply after the client's close_notify")
        server.shutdown()  # the client's close_notify is in: done at once
        move(server, client)
        self.assertEqual(client.read(100), b"reply after the client's close_notify")
        self.assertEqual(client.read(100), b"")
        self.assertEqual(client.read(100), b"")
        client.shutdown()
        self.assertEqual(client.outgoing_bytes_buffered(), 0)

    def test_both_sides_shut_down_in_turn(self):
        client, server = connected()
        done = set()
        for _ in range(10):
            for name, side, peer in (("client", client, server), ("server", server, client)):
                if name not in done:
                    try:
                        side.shutdown()
                        done.add(name)
                    except tlslib.WantReadError:
                        pass
                move(side, peer)
        self.assertEqual(done, {"client", "server"})

    def test_ragged_eof(self):
        client, server = connected()
        write_all(client, b"last words")
        move(client, server)
        server.process_eof()
        self.assertEqual(server.read(100), b"last words")
        with self.assertRaises(tlslib.RaggedEOF):
            server.read(100)
        with self.assertRaises(tlslib.TLSError):
            server.process_incoming(b"more")

    def test_ragged_eof_during_handshake(self):
        client, server = buffers()
        move(client, server)
        server.process_eof()
        with self.assertRaises(tlslib.WantWriteError):  # its reply to the ClientHello waits
            server.do_handshake()
        server.process_outgoing(-1)  # ... and is lost: the transport is gone
        with self.assertRaises(tlslib.RaggedEOF):
            server.do_handshake()

    def test_end_of_stream_after_close_notify_is_clean(self):
        client, server = connected()
        with self.assertRaises(tlslib.WantReadError):
            client.shutdown()
        move(client, server)
        server.process_eof()
        self.assertEqual(server.read(100), b"")

    def test_shutdown_with_unread_data_piling_up(self):
        client, server = connected()
        payload = os.urandom(200 * 1024)
        view = memoryview(payload)
        with self.assertRaises(tlslib.WantReadError):
            server.shutdown()
        client_closing = False
        for _ in range(200):
            if view:
                try:
                    view = view[client.write(view):]
                except tlslib.WantWriteError:
                    pass
            elif not client_closing:
                client_closing = True
                with self.assertRaises(tlslib.WantReadError):
                    client.shutdown()
            data = client.process_outgoing(32 * 1024)
            if data:
                try:
                    server.process_incoming(data)
                except tlslib.WantReadError:
                    pass
            try:
                server.shutdown()
                break
            except tlslib.WantReadError:
                pass
        else:
            self.fail("the server never saw the client's close_notify")


class SocketTests(unittest.TestCase):
    def setUp(self):
        try:
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                probe.bind(("127.0.0.1", 0))
            finally:
                probe.close()
        except OSError as error:
            self.skipTest(f"no network here ({error}); run with -S inherit-network")

    def test_listening_socket(self):
        listener = BACKEND.server_context(server_config()).connect(("127.0.0.1", 0))
        try:
            host, port = listener.getsockname()
            self.assertEqual(host, "127.0.0.1")
            self.assertGreater(port, 0)
            listener.listen(5)
            self.assertIsInstance(listener.fileno(), int)
            with self.assertRaises(BlockingIOError):
                listener.accept()
            self.assertIsNone(listener.cipher())
            self.assertIsNone(listener.negotiated_tls_version)
            self.assertIsNone(listener.getpeercert())
            with self.assertRaises(tlslib.TLSError):
                listener.recv(10)
        finally:
            listener.close()
        listener.close()

    def test_connection_refused(self):
        spare = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
        spare.close()
        with self.assertRaises(OSError):
            BACKEND.client_context(client_config()).connect(("127.0.0.1", port))

    def test_server_configuration_error_at_connect(self):
        with self.assertRaises(tlslib.ConfigurationError):
            BACKEND.server_context(tlslib.TLSServerConfiguration()).connect(("127.0.0.1", 0))


def main():
    # The script runs through exec() under the name __main__ but is not
    # sys.modules["__main__"], so unittest.main() would find no tests: collect
    # them from this namespace and exit non-zero on any failure instead.
    namespace = globals()
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for value in list(namespace.values()):
        if isinstance(value, type) and issubclass(value, unittest.TestCase):
            suite.addTests(loader.loadTestsFromTestCase(value))
    print(f"memtls provider: {pep748._core.implementation()[0]}")
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
