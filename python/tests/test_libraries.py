"""Python libraries from PyPI on memtls, inside WebAssembly.

Run by ``cargo test -p memtls-tests --test python`` under both providers, with the
fixtures preopened at /f and ``MEMTLS_TEST_HTTPS`` (``openssl s_server -www``, chain
``server``) in the environment; the host adds the test CA to system trust (as
``memtls run --ca-file`` does). The libraries are pure-Python wheels that
``cargo xtask setup`` installs into ``target/python-deps``, PyPI's certifi
included: memtls's certifi takes its place.
"""

import errno
import os
import socket
import unittest

import certifi
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
