"""Python libraries from PyPI on memtls, inside WebAssembly.

Run by ``cargo test -p memtls-tests --test python`` under both providers, with the
fixtures preopened at /f and ``MEMTLS_TEST_HTTPS`` (``openssl s_server -www``, chain
``server``) in the environment; the host adds the test CA to system trust (as
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

import certifi
import httpx
import memtls
import net_probe  # touches the network when imported: at build time
import requests
import urllib3


def fixture(name):
    """Path of a fixture file inside the component."""
    return os.path.join("/f", name)


def https_server():
    """``(host, port)`` of the HTTPS server the harness started."""
    host, port = os.environ["MEMTLS_TEST_HTTPS"].rsplit(":", 1)
    return host, int(port)


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

    def test_session(self):
        with requests.Session() as session:
            statuses = [session.get(self.url(), timeout=10).status_code for _ in range(3)]
        self.assertEqual(statuses, [200, 200, 200])


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


if __name__ == "__main__":
    unittest.main(verbosity=2)
