"""PEM and DER framing of certificates: PEM text <-> DER bytes, and concatenated DER
split into certificates. What a certificate *says* is read by the provider
(``_core.decode_certificate``, the interface's ``decode-certificate``), never here.
"""

import binascii
import re

__all__ = ["der_to_pem", "pem_to_ders", "split_ders"]

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def der_to_pem(der):
    """A DER certificate as PEM text, laid out as ``ssl.DER_cert_to_PEM_cert`` does."""
    text = binascii.b2a_base64(bytes(der), newline=False).decode("ascii")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def pem_to_ders(text):
    """The DER bytes of each CERTIFICATE block in PEM ``text`` (str or bytes), in order;
    text outside the blocks is ignored."""
    if isinstance(text, str):
        text = text.encode("ascii", "replace")
    ders = []
    for match in _PEM.finditer(bytes(text)):
        try:
            ders.append(binascii.a2b_base64(re.sub(rb"\s+", b"", match.group(1)),
                                            strict_mode=True))
        except binascii.Error as error:
            raise ValueError(f"PEM CERTIFICATE block is not valid base64: {error}") from None
        if not ders[-1]:
            raise ValueError("PEM CERTIFICATE block is empty")
    return ders


def split_ders(data):
    """Split concatenated DER certificates (``cadata`` bytes) by their outer SEQUENCE
    headers; ``ValueError`` naming the offset where one is cut short or is no SEQUENCE.
    Each piece is a certificate only if the provider can read it (the caller checks)."""
    data, ders, at = bytes(data), [], 0
    while at < len(data):
        if data[at] != 0x30 or at + 2 > len(data):
            raise ValueError(f"no DER SEQUENCE at offset {at}")
        length, start = data[at + 1], at + 2
        if length & 0x80:
            count = length & 0x7F
            if not 1 <= count <= 4 or start + count > len(data):
                raise ValueError(f"bad DER length at offset {at}")
            length, start = int.from_bytes(data[start:start + count], "big"), start + count
        if start + length > len(data):
            raise ValueError(f"the certificate at offset {at} is cut short")
        ders.append(data[at:start + length])
        at = start + length
    return ders
