"""memtls._x509 against CPython's own decoder, on the host (not in WebAssembly).

Generates certificates with the ``openssl`` CLI and checks that
``_x509.decode_certificate`` returns what ``_ssl._test_decode_cert`` (the C code behind
``getpeercert()``) returns for them, plus the chain-building helpers. Run from the
repository with ``python3 -m unittest discover -s python/tests -p test_x509_host.py``.
"""

import calendar
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name, path=None, search=None):
    """Import module ``name`` from ``path`` (a file) or from the directories ``search``."""
    spec = (importlib.util.spec_from_file_location(name, path) if path else
            importlib.machinery.PathFinder.find_spec(name, search))
    if spec is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _host_ssl():
    """CPython's C ``_ssl``: python/_ssl.py (memtls's replacement) may shadow it on
    sys.path, so the directories holding that file are skipped."""
    module = sys.modules.get("_ssl")
    if module is not None and hasattr(module, "_test_decode_cert"):
        return module
    search = [p for p in sys.path if os.path.abspath(p or os.curdir) != PYTHON_DIR]
    try:
        return _load("_ssl", search=search)
    except ImportError:
        return None


# _x509 is loaded from its file: the memtls package itself needs the Wasm bindings.
X509 = _load("memtls_x509", os.path.join(PYTHON_DIR, "memtls", "_x509.py"))
HOST_SSL = _host_ssl()

CONFIG = """
[req]
distinguished_name = dn
prompt = no
string_mask = {mask}
[dn]
{dn}
[ext]
{ext}
[dir_sect]
CN = Directory Name
O = Dir Org
"""


@unittest.skipIf(shutil.which("openssl") is None, "the openssl command is not installed")
@unittest.skipIf(HOST_SSL is None or not hasattr(HOST_SSL, "_test_decode_cert"),
                 "CPython's C _ssl module is not available (this test is for the host)")
class DecodeAgainstCPython(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="memtls-x509-")
        self.addCleanup(shutil.rmtree, self.dir)

    def openssl(self, *args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=self.dir)

    def make(self, name, dn, ext, *extra, mask="utf8only"):
        """A self-signed P-256 certificate; returns the path of its PEM file."""
        with open(os.path.join(self.dir, name + ".cnf"), "w", encoding="utf-8") as f:
            f.write(CONFIG.format(dn=dn, ext=ext, mask=mask))
        self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-utf8",
                     "-config", name + ".cnf", "-extensions", "ext", *extra)
        return os.path.join(self.dir, name + ".pem")

    def assert_same(self, path):
        with open(path, encoding="ascii") as f:
            (der,) = X509.pem_to_ders(f.read())
        expected = HOST_SSL._test_decode_cert(path)
        self.assertEqual(X509.decode_certificate(der), expected)
        return der, expected

    def test_names_alt_names_and_urls(self):
        path = self.make(
            "rich",
            "C = DE\nO = Zürich AG\nOU = Ωmega\nCN = rich.test\nemailAddress = a@rich.test\n"
            "1.2.3.4 = custom",
            "subjectAltName = DNS:rich.test, DNS:*.rich.test, IP:192.0.2.7, IP:2001:db8::1:0:7,"
            " IP:::1, email:a@rich.test, URI:https://rich.test/x, RID:1.2.3.4, dirName:dir_sect,"
            " otherName:1.3.6.1.4.1.311.20.2.3;UTF8:upn@rich.test, otherName:1.2.3;UTF8:x\n"
            "authorityInfoAccess = OCSP;URI:http://ocsp.rich.test/, caIssuers;URI:http://ca.test/c\n"
            "crlDistributionPoints = URI:http://crl.rich.test/a.crl, URI:ldap://crl.test/cn=x")
        _, info = self.assert_same(path)
        self.assertIn(("IP Address", "2001:DB8:0:0:0:1:0:7"), info["subjectAltName"])
        self.assertEqual(info["OCSP"], ("http://ocsp.rich.test/",))

    def test_multivalued_rdn_bmpstring_far_future_and_odd_serials(self):
        path = self.make("bmp", "CN = Żółw 名\nO = plain", "basicConstraints = CA:TRUE",
                         "-days", "20000", "-set_serial", "-0x" + "ab" * 40, mask="default")
        der, info = self.assert_same(path)
        self.assertTrue(info["serialNumber"].startswith("-ABAB"))
        self.assertEqual(X509.validity(der)[1], cert_time(info["notAfter"]))
        self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-keyout", "mv.key", "-out", "mv.pem", "-subj",
                     "/DC=test/DC=memtls/CN=a+O=b+UID=c", "-multivalue-rdn", "-set_serial", "0")
        _, info = self.assert_same(os.path.join(self.dir, "mv.pem"))
        self.assertEqual(len(info["subject"][-1]), 3)

    def test_version_1_certificate_signed_by_a_ca(self):
        ca = self.make("ca", "CN = Test CA", "basicConstraints = critical, CA:TRUE")
        self.openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=leaf")
        self.openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                     "-out", "leaf.pem", "-days", "3")
        leaf, info = self.assert_same(os.path.join(self.dir, "leaf.pem"))
        self.assertEqual(info["version"], 1)
        with open(ca, encoding="ascii") as f:
            (ca_der,) = X509.pem_to_ders("junk before\n" + f.read() + "junk after")
        self.assertEqual(X509.issuer_der(leaf), X509.subject_der(ca_der))
        self.assertNotEqual(X509.subject_der(leaf), X509.subject_der(ca_der))
        self.openssl("x509", "-in", "leaf.pem", "-pubkey", "-noout", "-out", "leaf.pub")
        self.openssl("pkey", "-pubin", "-in", "leaf.pub", "-outform", "DER", "-out", "leaf.spki")
        with open(os.path.join(self.dir, "leaf.spki"), "rb") as f:
            self.assertEqual(X509.spki_der(leaf), f.read())
        self.assertEqual(X509.validity(leaf), (cert_time(info["notBefore"]),
                                               cert_time(info["notAfter"])))
        self.assertEqual(X509.pem_to_ders(X509.der_to_pem(leaf)), [leaf])
        self.assertEqual(X509.split_ders(leaf + ca_der), [leaf, ca_der])

    def test_ca_counting_matches_openssl(self):
        # cert_store_stats()["x509_ca"] and get_ca_certs() count what OpenSSL's
        # X509_check_ca calls a CA; memtls's _ssl uses is_ca for the same.
        import ssl  # the host's: CPython with OpenSSL
        cases = {
            "ca-true": "basicConstraints = critical, CA:TRUE",
            "ca-false": "basicConstraints = critical, CA:FALSE",
            "no-extensions": "subjectKeyIdentifier = hash",
            "ku-certsign": "keyUsage = keyCertSign, cRLSign",
            "ku-signature": "keyUsage = digitalSignature",
            "ca-without-certsign": "basicConstraints = CA:TRUE\nkeyUsage = digitalSignature",
        }
        for name, ext in cases.items():
            path = self.make(name, f"CN = {name}", ext)
            with open(path, encoding="ascii") as f:
                pem = f.read()
            (der,) = X509.pem_to_ders(pem)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.load_verify_locations(cadata=pem)
            with self.subTest(name):
                self.assertEqual(X509.is_ca(der), context.cert_store_stats()["x509_ca"] == 1)
        # `openssl req -x509` with its defaults (CA:TRUE) is a CA.
        self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-keyout", "d.key", "-out", "d.pem", "-subj", "/CN=d")
        with open(os.path.join(self.dir, "d.pem"), encoding="ascii") as f:
            self.assertTrue(X509.is_ca(X509.pem_to_ders(f.read())[0]))

    def test_malformed_input_raises_value_error(self):
        path = self.make("bad", "CN = bad", "subjectAltName = DNS:bad.test")
        with open(path, encoding="ascii") as f:
            (der,) = X509.pem_to_ders(f.read())
        for broken in (der[:-1], der[:40], der + b"\0", b"", b"\x30\x80" + der[4:]):
            with self.assertRaises(ValueError):
                X509.decode_certificate(broken)
        with self.assertRaises(ValueError):
            X509.pem_to_ders("-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----")


def cert_time(text):
    """Unix time of a notBefore/notAfter text ('Jan  5 09:34:43 2018 GMT')."""
    return calendar.timegm(time.strptime(text, "%b %d %H:%M:%S %Y GMT"))


if __name__ == "__main__":
    unittest.main()
