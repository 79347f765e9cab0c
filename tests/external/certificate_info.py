"""CPython's reading of certificates, for tests/external/certificate_info.rs.

Reads a JSON list of PEM file paths (argv[1]) and prints, by path, what
``_ssl._test_decode_cert`` (the C code behind ``getpeercert()``) returns for the
first certificate, or the error it raises, and whether OpenSSL counts it as a CA
(``cert_store_stats()["x509_ca"]``). Tuples become lists, bytes {"bytes": hex}.
"""

import json
import ssl
import sys

import _ssl


def plain(value):
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    return value


out = {}
with open(sys.argv[1], encoding="utf-8") as paths:
    for path in json.load(paths):
        entry = {}
        try:
            entry["decoded"] = plain(_ssl._test_decode_cert(path))
        except Exception as error:  # what CPython raises is the finding
            entry["error"] = f"{type(error).__name__}: {error}"
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.load_verify_locations(cafile=path)
            entry["ca"] = context.cert_store_stats()["x509_ca"] == 1
        except Exception:
            entry["ca"] = None
        out[path] = entry
json.dump(out, sys.stdout)
