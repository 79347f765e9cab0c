"""Python libraries from PyPI on memtls, inside WebAssembly.

Run by ``cargo test -p memtls-external-tests --test python`` under both providers, with the
fixtures preopened at /f and ``MEMTLS_TEST_HTTPS`` (``openssl s_server -www``, chain
``server``), ``MEMTLS_TEST_SMTP`` (aiosmtpd with STARTTLS) and
``MEMTLS_TEST_KEEP_ALIVE`` (an HTTP/1.1 keep-alive server whose responses name the
connection that carried them) and ``MEMTLS_TEST_WSS`` (the websockets library's
wss:// server on CPython's ssl, outside Wasm) in the environment; the host adds the test CA to system trust (as
``memtls run --ca-file`` does). The libraries come from
``requirements-libraries.txt`` through ``memtls python build --requirements``
(pure-Python wheels, bundled whole; PyPI's certifi among them, which memtls's
takes the place of).
"""

import asyncio
import errno
import os
import socket
import ssl
import unittest

import aiosmtplib
import certifi
import httpx
import memtls
import net_probe  # touches the network when imported: at build time
import requests
import urllib3
import websockets.asyncio.client
import websockets.asyncio.server


def fixture(name):
    """Path of a fixture file inside the component."""
    return os.path.join("/f", name)


def server(variable="MEMTLS_TEST_HTTPS"):
    """``(host, port)`` of a server the harness started."""
    host, port = os.environ[variable].rsplit(":", 1)
    return host, int(port)


https_server = server


class WholePackagesTests(unittest.TestCase):
    """--requirements bundles packages whole, so lazy imports work."""

    def test_lazy_imports_were_bundled(self):
        import sys
        self.assertIn("httpcore", sys.modules)  # httpx imports it only when used
        self.assertIn("h11", sys.modules)

    def test_what_could_not_be_imported_is_recorded(self):
        from memtls import _runner
        unbundled = dict(_runner.UNBUNDLED)
        # anyio ships a pytest plugin; pytest is not installed.
        self.assertIn("anyio.pytest_plugin", unbundled)
        self.assertIn("pytest", unbundled["anyio.pytest_plugin"])


class ImportTimeNetworkTests(unittest.TestCase):
    """Modules imported while the component is built see no network; the
    component, once running, has the network the host grants."""

    def test_import_time_probes_saw_no_network(self):
        refused = f"OSError {errno.EACCES}"
        self.assertEqual(net_probe.AT_IMPORT, {"socket": refused, "lookup": refused})

    def test_the_running_component_has_the_network(self):
        host, port = https_server()
        self.assertTrue(socket.getaddrinfo(host, port))
        with socket.create_connection((host, port), timeout=10):
            pass
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))


class Urllib3Tests(unittest.TestCase):
    """urllib3 2.x, which opens a socket when it is imported."""

    def url(self):
        host, port = https_server()
        return f"https://{host}:{port}/"

    def test_get_with_a_ca_file(self):
        with urllib3.PoolManager(ca_certs=fixture("ca")) as pool:
            response = pool.request("GET", self.url(), retries=False, timeout=10)
        self.assertEqual(response.status, 200)
        self.assertIn(b"s_server", response.data)

    def test_wrong_ca_is_refused(self):
        with urllib3.PoolManager(ca_certs=fixture("client-ca")) as pool:
            with self.assertRaises(urllib3.exceptions.SSLError) as caught:
                pool.request("GET", self.url(), retries=False, timeout=10)
        self.assertIn("certificate verify failed", str(caught.exception))


class DefaultPolicyTests(unittest.TestCase):
    """This suite runs under the default policy: no `insecure` interface."""

    def test_names_are_checked_even_when_the_application_does_not(self):
        # Libraries that match names themselves (ldap3, ...) turn check_hostname
        # off. Without the insecure interface the host still checks the chain and
        # the name: a matching name connects, a wrong one is refused saying why.
        context = ssl.create_default_context()
        context.check_hostname = False
        with socket.create_connection(https_server(), timeout=10) as sock:
            with context.wrap_socket(sock, server_hostname="localhost") as tls:
                self.assertIn("subjectAltName", tls.getpeercert())
        with socket.create_connection(https_server(), timeout=10) as sock:
            with self.assertRaises(ssl.SSLCertVerificationError) as caught:
                context.wrap_socket(sock, server_hostname="wrong.example")
        self.assertEqual(caught.exception.verify_code, 62)
        self.assertIn("check_hostname is False, but the host checks names",
                      str(caught.exception))
        # With no name to check, the host refuses to skip the check.
        with socket.create_connection(https_server(), timeout=10) as sock:
            with self.assertRaises(ssl.SSLError) as caught:
                context.wrap_socket(sock)
        self.assertEqual(caught.exception.reason, "NOT_PERMITTED")
        self.assertIn("check_hostname is False", str(caught.exception))
        self.assertIn("disabled by the embedder's policy", str(caught.exception))


class RequestsTests(unittest.TestCase):
    """requests, verifying by default with certifi's bundle."""

    def url(self):
        host, port = https_server()
        return f"https://{host}:{port}/"

    def test_certifi_is_the_providers_system_trust(self):
        self.assertEqual(certifi.where(), memtls.SYSTEM_TRUST_BUNDLE)
        self.assertTrue(os.path.exists(certifi.where()))
        with self.assertRaises(OSError):
            certifi.contents()

    def test_default_trust(self):
        response = requests.get(self.url(), timeout=10)
        self.assertEqual(response.status_code, 200)
        self.assertIn("s_server", response.text)

    def test_verify_with_a_ca_file(self):
        response = requests.get(self.url(), verify=fixture("ca"), timeout=10)
        self.assertEqual(response.status_code, 200)

    def test_wrong_ca_is_refused(self):
        with self.assertRaises(requests.exceptions.SSLError) as caught:
            requests.get(self.url(), verify=fixture("client-ca"), timeout=10)
        self.assertIn("certificate verify failed", str(caught.exception))

    def test_verify_false_needs_the_hosts_permission(self):
        # The default policy (this suite's) has no `insecure` interface: an
        # unverified request fails before anything is sent, saying why.
        with self.assertRaises(requests.exceptions.SSLError) as caught:
            requests.get(self.url(), verify=False, timeout=10)
        said = str(caught.exception)
        self.assertIn("NOT_PERMITTED", said)
        self.assertIn("verify_mode is CERT_NONE", said)
        self.assertIn("--allow-insecure", said)

    def test_session_reuses_its_connection(self):
        host, port = server("MEMTLS_TEST_KEEP_ALIVE")
        url = f"https://{host}:{port}/"
        with requests.Session() as session:
            bodies = [session.get(url, timeout=10).text for _ in range(3)]
        self.assertEqual(len(set(bodies)), 1, bodies)  # one connection carried all three
        self.assertTrue(bodies[0].startswith("connection "), bodies)


class HttpxTests(unittest.TestCase):
    """httpx, whose transport (httpcore) is imported lazily, sync and async."""

    def url(self):
        host, port = https_server()
        return f"https://{host}:{port}/"

    def test_sync_default_trust(self):
        with httpx.Client(timeout=10) as client:
            response = client.get(self.url())
        self.assertEqual(response.status_code, 200)
        self.assertIn("s_server", response.text)

    def test_sync_wrong_ca_is_refused(self):
        wrong = ssl.create_default_context(cafile=fixture("client-ca"))
        with httpx.Client(verify=wrong, timeout=10) as client:
            with self.assertRaises(httpx.ConnectError) as caught:
                client.get(self.url())
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(caught.exception))

    def test_async(self):
        async def fetch():
            async with httpx.AsyncClient(timeout=10) as client:
                return await client.get(self.url())

        response = asyncio.run(fetch())
        self.assertEqual(response.status_code, 200)


class WebsocketsTests(unittest.TestCase):
    """websockets: a wss:// server and client, both in this component."""

    def test_wss_echo(self):
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(fixture("server.chain"), fixture("server.key"))
        client_ctx = ssl.create_default_context(cafile=fixture("ca"))

        async def echo(connection):
            async for message in connection:
                await connection.send(message.upper())

        async def main():
            async with websockets.asyncio.server.serve(echo, "127.0.0.1", 0,
                                                       ssl=server_ctx) as ws_server:
                port = ws_server.sockets[0].getsockname()[1]
                async with websockets.asyncio.client.connect(
                        f"wss://localhost:{port}/", ssl=client_ctx) as client:
                    replies = []
                    for text in ("hello", "memtls"):
                        await client.send(text)
                        replies.append(await client.recv())
                    return replies

        self.assertEqual(asyncio.run(main()), ["HELLO", "MEMTLS"])


    def test_wss_client_against_a_native_server(self):
        # The server is websockets on CPython's ssl (OpenSSL), outside Wasm.
        host, port = server("MEMTLS_TEST_WSS")

        async def main():
            async with websockets.asyncio.client.connect(
                    f"wss://{host}:{port}/", ssl=ssl.create_default_context(
                        cafile=fixture("ca"))) as client:
                await client.send("hello")
                return await client.recv()

        self.assertEqual(asyncio.run(main()), "native hello")


class AiosmtplibTests(unittest.TestCase):
    """aiosmtplib: STARTTLS against aiosmtpd."""

    def test_starttls(self):
        host, port = server("MEMTLS_TEST_SMTP")

        async def main():
            client = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False,
                                     tls_context=ssl.create_default_context(
                                         cafile=fixture("ca")), timeout=10)
            await client.connect()
            await client.starttls()
            errors, message = await client.sendmail(
                "a@memtls.test", ["b@memtls.test"], "Subject: hi\r\n\r\nover TLS\r\n")
            await client.quit()
            return errors, message

        errors, message = asyncio.run(main())
        self.assertEqual(errors, {})
        self.assertIn("OK", message)


class HostIdentityTests(unittest.TestCase):
    """requests presents an identity the host holds (``memtls.use_identity``) to
    ``MEMTLS_TEST_MTLS``, ``openssl s_server -Verify 1``: the key never enters this
    program. The harness grants the identity ``client`` on every provider it runs
    (on the guest provider, the host signs through ``host-signer``)."""

    def test_an_identity_not_granted_is_refused(self):
        context = ssl.create_default_context()
        with self.assertRaises(ssl.SSLError) as caught:
            memtls.use_identity(context, "someone-else")
        said = str(caught.exception)
        self.assertIn("NOT_PERMITTED", said)
        self.assertIn('host identity "someone-else" is not granted', said)

    def test_requests_with_a_host_identity(self):
        context = ssl.create_default_context()
        memtls.use_identity(context, "client")

        class Adapter(requests.adapters.HTTPAdapter):
            def init_poolmanager(self, *args, **kwargs):
                kwargs["ssl_context"] = context
                return super().init_poolmanager(*args, **kwargs)

        host, port = server("MEMTLS_TEST_MTLS")
        with requests.Session() as session:
            session.mount("https://", Adapter())
            response = session.get(f"https://{host}:{port}/", timeout=10)
        self.assertEqual(response.status_code, 200)
        # s_server -www's page shows the certificate it received.
        self.assertIn("Client certificate", response.text)
        self.assertNotIn("no client certificate available", response.text)

    def test_http_client_with_an_encrypted_client_key(self):
        """http.client presents a certificate whose key the openssl CLI encrypted
        (PKCS#8 PBES2, ``openssl pkcs8 -topk8 -v2 aes-256-cbc``): the provider
        decrypts it with the password ``load_cert_chain`` was given, and
        ``s_server -Verify 1`` verifies the certificate on its side."""
        import http.client

        context = ssl.create_default_context()
        context.load_cert_chain(fixture("client.chain"), fixture("client.key.p8-aes256"),
                                password=lambda: "secret")
        host, port = server("MEMTLS_TEST_MTLS")
        connection = http.client.HTTPSConnection(host, port, context=context, timeout=10)
        try:
            connection.request("GET", "/")
            page = connection.getresponse().read().decode()
        finally:
            connection.close()
        self.assertIn("Client certificate", page)
        with self.assertRaises(ssl.SSLError) as caught:
            context.load_cert_chain(fixture("client.chain"), fixture("client.key.p8-aes256"),
                                    password="not the password")
        self.assertIn("PEM lib", str(caught.exception))
        self.assertIn("bad decrypt", str(caught.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2, durations=8)
