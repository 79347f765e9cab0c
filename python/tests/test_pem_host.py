"""memtls._pem (PEM and DER framing) against CPython's own helpers, on the host (not in
WebAssembly). What certificates say is read by the provider and checked against CPython
in tests/external/certificate_info.rs. Run from the repository with
``python3 -m unittest discover -s python/tests -p test_pem_host.py``.
"""

import importlib.util
import os
import shutil
import ssl
import subprocess
import tempfile
import unittest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# _pem is loaded from its file: the memtls package itself needs the Wasm bindings.
PEM = _load("memtls_pem", os.path.join(PYTHON_DIR, "memtls", "_pem.py"))


@unittest.skipIf(shutil.which("openssl") is None, "the openssl command is not installed")
class FramingAgainstCPython(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="memtls-pem-")
        self.addCleanup(shutil.rmtree, self.dir)

    def make(self, name, key="ec"):
        """A self-signed certificate from the openssl CLI's defaults; its PEM text."""
        args = ["-newkey", "rsa:2048"] if key == "rsa" else [
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        subprocess.run(["openssl", "req", "-x509", *args, "-nodes", "-keyout", name + ".key",
                        "-out", name + ".pem", "-subj", "/CN=" + name],
                       check=True, capture_output=True, cwd=self.dir)
        with open(os.path.join(self.dir, name + ".pem"), encoding="ascii") as f:
            return f.read()

    def test_pem_and_der_as_cpython_frames_them(self):
        for key in ("ec", "rsa"):
            pem = self.make("c-" + key, key)
            der = ssl.PEM_cert_to_DER_cert(pem)
            self.assertEqual(PEM.pem_to_ders(pem), [der])
            self.assertEqual(PEM.pem_to_ders("junk before\n" + pem + "junk after"), [der])
            self.assertEqual(PEM.der_to_pem(der), ssl.DER_cert_to_PEM_cert(der))

    def test_concatenated_der_splits_at_certificate_boundaries(self):
        ders = [ssl.PEM_cert_to_DER_cert(self.make(n, k)) for n, k in (("a", "ec"), ("b", "rsa"))]
        self.assertEqual(PEM.split_ders(b"".join(ders)), ders)
        for broken in (ders[0][:-1], b"\x31" + ders[0][1:], ders[0] + b"\x30"):
            with self.assertRaises(ValueError):
                PEM.split_ders(broken)

    def test_bad_base64_is_a_value_error(self):
        with self.assertRaises(ValueError):
            PEM.pem_to_ders("-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----")


if __name__ == "__main__":
    unittest.main()
