"""PyPI and standard-library clients inside WebAssembly, on memtls, against real
servers from Debian's packages on loopback, each serving TLS with the fixtures'
``server`` chain (CA ``/f/ca``) and confirming TLS on its own side.

Run by ``cargo test -p memtls-external-tests --test python servers_in_wasm`` on
every provider under the default policy (no ``insecure`` interface; the test CA
is not in system trust: each client names it). The environment names
the servers: ``MEMTLS_TEST_LDAP`` / ``MEMTLS_TEST_LDAPS`` (slapd),
``MEMTLS_TEST_REDIS`` (a TLS-only port), ``MEMTLS_TEST_POSTGRES`` (``hostssl``
only, SCRAM), ``MEMTLS_TEST_IMAP`` / ``MEMTLS_TEST_IMAPS`` (Dovecot),
``MEMTLS_TEST_SMTP`` (aiosmtpd with STARTTLS), ``MEMTLS_TEST_HTTPS`` (``openssl
s_server -www``); ``MEMTLS_TEST_PASSWORD`` is every account's password.
"""

import asyncio
import imaplib
import os
import smtplib
import ssl
import unittest
from email.message import EmailMessage

import aiohttp
import ldap3
import pg8000.native
import redis

PASSWORD = os.environ.get("MEMTLS_TEST_PASSWORD", "")
BASE = "dc=memtls,dc=test"


def server(variable):
    """``(host, port)`` of a server the harness started."""
    host, port = os.environ[variable].rsplit(":", 1)
    return host, int(port)


def verifying_context():
    """A client context verifying the fixtures' CA, as applications make one."""
    return ssl.create_default_context(cafile="/f/ca")


class Ldap3Tests(unittest.TestCase):
    """ldap3 sets ``check_hostname = False`` and checks names itself; under the
    default policy memtls checks the name anyway, so it runs without the
    ``insecure`` interface and a wrong name is still refused."""

    def tls(self, name="localhost"):
        return ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file="/f/ca", sni=name)

    def search(self, connection):
        self.assertTrue(connection.bind(), connection.result)
        connection.search(BASE, "(cn=alice)", attributes=["mail"])
        self.assertEqual([str(e.mail) for e in connection.entries], ["alice@memtls.test"])

    def test_ldaps(self):
        host, port = server("MEMTLS_TEST_LDAPS")
        endpoint = ldap3.Server(host, port, use_ssl=True, tls=self.tls())
        with ldap3.Connection(endpoint, f"cn=admin,{BASE}", PASSWORD) as connection:
            self.search(connection)
            self.assertIsNotNone(connection.socket.version())

    def test_start_tls(self):
        host, port = server("MEMTLS_TEST_LDAP")
        endpoint = ldap3.Server(host, port, tls=self.tls())
        connection = ldap3.Connection(endpoint, f"cn=admin,{BASE}", PASSWORD)
        connection.open()
        self.assertTrue(connection.start_tls(), connection.result)
        self.assertTrue(connection.tls_started)
        self.search(connection)
        connection.unbind()

    def test_a_wrong_name_is_refused(self):
        host, port = server("MEMTLS_TEST_LDAPS")
        endpoint = ldap3.Server(host, port, use_ssl=True, tls=self.tls("wrong.test"))
        with self.assertRaises(ldap3.core.exceptions.LDAPSocketOpenError) as caught:
            ldap3.Connection(endpoint, f"cn=admin,{BASE}", PASSWORD, auto_bind=True)
        self.assertIn("wrong.test", str(caught.exception))


class RedisTests(unittest.TestCase):
    def test_set_and_get_over_tls(self):
        host, port = server("MEMTLS_TEST_REDIS")
        client = redis.Redis(host=host, port=port, ssl=True, ssl_ca_certs="/f/ca")
        self.assertTrue(client.set("memtls", b"in wasm"))
        self.assertEqual(client.get("memtls"), b"in wasm")
        # The server's own view: this connection is TLS.
        self.assertGreaterEqual(client.info("server")["tcp_port"], 0)
        client.close()

    def test_a_wrong_ca_is_refused(self):
        host, port = server("MEMTLS_TEST_REDIS")
        client = redis.Redis(host=host, port=port, ssl=True, ssl_ca_certs="/f/client-ca")
        with self.assertRaises(redis.exceptions.ConnectionError) as caught:
            client.ping()
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(caught.exception))


class Pg8000Tests(unittest.TestCase):
    def test_query_over_ssl_with_scram(self):
        host, port = server("MEMTLS_TEST_POSTGRES")
        connection = pg8000.native.Connection(
            "memtls", host=host, port=port, database="postgres", password=PASSWORD,
            ssl_context=verifying_context())
        try:
            # The server's own view of this connection.
            [[ssl_on, version]] = connection.run(
                "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            self.assertTrue(ssl_on)
            self.assertIn(version, ("TLSv1.2", "TLSv1.3"))
        finally:
            connection.close()


class ImapTests(unittest.TestCase):
    def check(self, imap):
        imap.login("alice", PASSWORD)
        status, _ = imap.select("INBOX")
        self.assertEqual(status, "OK")
        imap.logout()

    def test_imap4_ssl(self):
        host, port = server("MEMTLS_TEST_IMAPS")
        self.check(imaplib.IMAP4_SSL(host, port, ssl_context=verifying_context()))

    def test_starttls(self):
        host, port = server("MEMTLS_TEST_IMAP")
        imap = imaplib.IMAP4(host, port)
        imap.starttls(ssl_context=verifying_context())
        self.check(imap)


class SmtplibTests(unittest.TestCase):
    def test_email_message_over_starttls(self):
        """An unmodified script: ``EmailMessage`` needs ``email.policy``, which
        the standard library imports lazily (the build bundles it)."""
        message = EmailMessage()
        message["From"] = "alice@memtls.test"
        message["To"] = "bob@memtls.test"
        message["Subject"] = "from wasm"
        message.set_content("sent over STARTTLS")
        host, port = server("MEMTLS_TEST_SMTP")
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.starttls(context=verifying_context())
            self.assertEqual(smtp.send_message(message), {})


class AiohttpTests(unittest.TestCase):
    def test_get(self):
        host, port = server("MEMTLS_TEST_HTTPS")

        async def get():
            async with aiohttp.ClientSession() as session:
                async with session.get(f"https://{host}:{port}/",
                                       ssl=verifying_context()) as response:
                    return response.status, await response.text()

        status, page = asyncio.run(get())
        self.assertEqual(status, 200)
        self.assertIn("Ciphers supported", page)


if __name__ == "__main__":
    unittest.main(verbosity=2)
