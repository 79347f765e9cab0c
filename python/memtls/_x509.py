"""X.509 certificates in pure Python, shown the way CPython's ``_ssl`` shows them.

:func:`decode_certificate` turns a DER certificate into the dict that
``ssl.SSLSocket.getpeercert()`` returns (CPython 3.11+ on OpenSSL 3), with no ``ssl``
or ``_ssl``. The other helpers give a chain builder the raw parts: PEM <-> DER, the DER
of the subject, issuer and public key, and the validity period as Unix time.

Where OpenSSL's reading shows in the dict, this module reads the same way: an
extension that occurs twice or does not decode is left out (``X509_get_ext_d2i``
returns NULL for both); name values are converted as ``ASN1_STRING_to_UTF8`` converts
them and a BIT STRING value is given as bytes; times are read as ``ASN1_TIME_print``
reads them, "Bad time value" when it cannot. Input must be DER, with the slack
OpenSSL allows in tag and length octets; the BER OpenSSL also takes (indefinite
lengths, constructed strings, data after the certificate) is refused. Malformed input
raises :class:`ValueError` naming the part at fault. Parsing is iterative, and the
one nesting (a directoryName inside a GeneralName) cannot go deeper.
"""

import binascii
import calendar
import datetime
import re

__all__ = ["decode_certificate", "is_ca", "der_to_pem", "pem_to_ders", "split_ders",
           "subject_der", "issuer_der", "spki_der", "validity"]

# OpenSSL's long names for the attribute types seen in names, by OID arc.
_LONG_NAMES = {
    "2.5.4.": """
        3=commonName, 4=surname, 5=serialNumber, 6=countryName, 7=localityName,
        8=stateOrProvinceName, 9=streetAddress, 10=organizationName, 11=organizationalUnitName,
        12=title, 13=description, 14=searchGuide, 15=businessCategory, 16=postalAddress,
        17=postalCode, 18=postOfficeBox, 19=physicalDeliveryOfficeName, 20=telephoneNumber,
        21=telexNumber, 22=teletexTerminalIdentifier, 23=facsimileTelephoneNumber,
        24=x121Address, 25=internationaliSDNNumber, 26=registeredAddress,
        27=destinationIndicator, 28=preferredDeliveryMethod, 29=presentationAddress,
        30=supportedApplicationContext, 31=member, 32=owner, 33=roleOccupant, 34=seeAlso,
        35=userPassword, 36=userCertificate, 37=cACertificate, 38=authorityRevocationList,
        39=certificateRevocationList, 40=crossCertificatePair, 41=name, 42=givenName,
        43=initials, 44=generationQualifier, 45=x500UniqueIdentifier, 46=dnQualifier,
        47=enhancedSearchGuide, 48=protocolInformation, 49=distinguishedName, 50=uniqueMember,
        51=houseIdentifier, 52=supportedAlgorithms, 53=deltaRevocationList, 54=dmdName,
        65=pseudonym, 72=role, 97=organizationIdentifier, 98=countryCode3c, 99=countryCode3n,
        100=dnsName""",
    "1.2.840.113549.1.9.": """
        1=emailAddress, 2=unstructuredName, 3=contentType, 4=messageDigest, 5=signingTime,
        6=countersignature, 7=challengePassword, 8=unstructuredAddress,
        9=extendedCertificateAttributes, 14=Extension Request, 15=S/MIME Capabilities,
        16=S/MIME, 20=friendlyName, 21=localKeyID""",
    "0.9.2342.19200300.100.1.": """
        1=userId, 2=textEncodedORAddress, 3=rfc822Mailbox, 4=info, 5=favouriteDrink,
        6=roomNumber, 7=photo, 8=userClass, 9=host, 10=manager, 11=documentIdentifier,
        12=documentTitle, 13=documentVersion, 14=documentAuthor, 15=documentLocation,
        20=homeTelephoneNumber, 21=secretary, 22=otherMailbox, 23=lastModifiedTime,
        24=lastModifiedBy, 25=domainComponent, 26=aRecord, 27=pilotAttributeType27, 28=mXRecord,
        29=nSRecord, 30=sOARecord, 31=cNAMERecord, 37=associatedDomain, 38=associatedName,
        39=homePostalAddress, 40=personalTitle, 41=mobileTelephoneNumber,
        42=pagerTelephoneNumber, 43=friendlyCountryName, 44=uniqueIdentifier,
        45=organizationalStatus, 46=janetMailbox, 47=mailPreferenceOption, 48=buildingName,
        49=dSAQuality, 50=singleLevelQuality, 51=subtreeMinimumQuality,
        52=subtreeMaximumQuality, 53=personalSignature, 54=dITRedirect, 55=audio,
        56=documentPublisher""",
    "1.3.6.1.4.1.311.60.2.1.": """
        1=jurisdictionLocalityName, 2=jurisdictionStateOrProvinceName,
        3=jurisdictionCountryName""",
    "1.2.643.": """
        3.131.1.1=INN, 100.1=OGRN, 100.3=SNILS, 100.5=OGRNIP""",
}
_NAMES = {prefix + entry.split("=")[0].strip(): entry.split("=")[1]
          for prefix, table in _LONG_NAMES.items() for entry in table.split(",")}
_SAN, _AIA, _CRLDP = "2.5.29.17", "1.3.6.1.5.5.7.1.1", "2.5.29.31"
_BASIC_CONSTRAINTS, _KEY_USAGE = "2.5.29.19", "2.5.29.15"
_OCSP, _CA_ISSUERS = "1.3.6.1.5.5.7.48.1", "1.3.6.1.5.5.7.48.2"
# otherName types GENERAL_NAME_print shows: SRVName must be an IA5String, the rest UTF8.
_OTHER_NAMES = {"1.3.6.1.5.5.7.8.9": "SmtpUTF8Mailbox", "1.3.6.1.5.5.7.8.5": "XmppAddr",
                "1.3.6.1.5.5.7.8.7": "SRVName", "1.3.6.1.4.1.311.20.2.3": "UPN",
                "1.3.6.1.5.5.7.8.8": "NAIRealm"}
# Universal tags OpenSSL takes as a name value (ASN1_PRINTABLE); the ones it converts
# to UTF-8 while decoding a Name (so a bad one fails the decoding); DirectoryString.
_VALUE_TAGS = frozenset((0x03, 0x07, 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x12,
                         0x13, 0x14, 0x16, 0x1C, 0x1D, 0x1E, 0x30))
_CANON_TAGS = frozenset((0x0C, 0x13, 0x14, 0x16, 0x1C, 0x1E))
_DIRECTORY_TAGS = frozenset((0x0C, 0x13, 0x14, 0x1C, 0x1E))
_CHAR_WIDTHS = {0x0C: 0, 0x12: 1, 0x13: 1, 0x14: 1, 0x16: 1, 0x1A: 1, 0x1C: 4, 0x1E: 2}
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
_TIME_REST = rb"(?P<mo>\d\d)(?P<d>\d\d)(?P<h>\d\d)(?P<mi>\d\d)(?:(?P<s>\d\d)%s)?" \
    rb"(?:Z|(?P<z>[+-])(?P<oh>\d\d)(?P<om>\d\d))"
_TIMES = {0x17: re.compile(rb"(?P<y>\d\d)" + _TIME_REST % rb"(?P<f>)"),   # no fraction
          0x18: re.compile(rb"(?P<c>\d\d)(?P<y>\d\d)" + _TIME_REST % rb"(?P<f>\.\d+)?")}
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


class _Malformed(ValueError):
    """An encoding OpenSSL's decoder rejects (rather than one it decodes but cannot show)."""


# --- DER ---
def _tlv(data, what):
    """Split the first TLV off ``data``: (tag, content, rest). A tag number written in
    the long form comes back in the short one if it fits (OpenSSL reads it so), else
    as the first octet: nothing here expects such a tag, it only needs skipping."""
    size, tag, pos, number = len(data), data[0] if data else 0, 1, 0
    while tag & 0x1F == 0x1F and (pos == 1 or data[pos - 1] & 0x80):
        if pos >= min(size, 5):
            raise _Malformed(f"{what}: truncated DER or tag number too large")
        number, pos = number << 7 | data[pos] & 0x7F, pos + 1
    if pos > 1:
        tag = tag & 0xE0 | number if number < 31 else tag
    if pos >= size:
        raise _Malformed(f"{what}: truncated DER")
    length, pos = data[pos], pos + 1
    if length & 0x80:
        count = length & 0x7F
        if count == 0:
            raise _Malformed(f"{what}: indefinite length (BER, not DER)")
        if count > 8 or pos + count > size:
            raise _Malformed(f"{what}: bad length octets")
        length, pos = int.from_bytes(data[pos:pos + count], "big"), pos + count
    if pos + length > size:
        raise _Malformed(f"{what}: length runs past the end of the data")
    return tag, data[pos:pos + length], data[pos + length:]


def _items(data, what):
    """The TLVs that make up ``data``, as (tag, content, whole encoding) triples."""
    view, out = memoryview(data), []   # a view, so that each step copies no more than it reads
    while view:
        tag, content, rest = _tlv(view, what)
        out.append((tag, bytes(content), bytes(view[:len(view) - len(rest)])))
        view = rest
    return out


def _only(data, tag, what, of=False):
    """``data`` must be one TLV with ``tag``; return its content. ``of`` marks a SEQUENCE
    OF or SET OF, where OpenSSL ignores the constructed bit."""
    got, content, rest = _tlv(data, what)
    if (got | 0x20 if of else got) != tag or rest:
        raise _Malformed(f"{what}: expected one element with tag 0x{tag:02X}, got 0x{got:02X}"
                         + (" and trailing data" if rest else ""))
    return content


def _in_order(tags, allowed, what):
    """Check that ``tags`` takes each of ``allowed`` at most once, in that order."""
    for tag in tags:
        if tag not in allowed:
            raise _Malformed(f"{what}: unexpected or repeated element with tag 0x{tag:02X}")
        allowed = allowed[allowed.index(tag) + 1:]


def _integer(content, what):
    """An INTEGER's value; empty and padded encodings are refused, as OpenSSL does."""
    if not content or len(content) > 1 and (content[0], content[1] >> 7) in ((0, 0), (255, 1)):
        raise _Malformed(f"{what}: INTEGER is empty or not minimally encoded")
    return int.from_bytes(content, "big", signed=True)


def _oid(content, what):
    """An OBJECT IDENTIFIER as dotted text."""
    if not content or content[-1] & 0x80:
        raise _Malformed(f"{what}: bad OBJECT IDENTIFIER")
    arcs, value = [], 0
    for i, octet in enumerate(content):
        if octet == 0x80 and (i == 0 or not content[i - 1] & 0x80):
            raise _Malformed(f"{what}: OBJECT IDENTIFIER arc has a leading 0x80")
        value = value << 7 | octet & 0x7F
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first] + arcs[1:]))


def _bits(content, what):
    """Check a BIT STRING's content: an unused-bits octet of 0-7, then the bits."""
    if not content or content[0] > 7:
        raise _Malformed(f"{what}: bad BIT STRING")


def _value(tag, content, what):
    """Check a value of any type as OpenSSL's decoder checks it (only universal types
    are looked into; constructed, i.e. BER, string encodings are refused)."""
    checks = {0x01: lambda: len(content) == 1, 0x05: lambda: not content,
              0x02: lambda: _integer(content, what), 0x0A: lambda: _integer(content, what),
              0x06: lambda: _oid(content, what), 0x03: lambda: _bits(content, what),
              0x1E: lambda: len(content) % 2 == 0, 0x1C: lambda: len(content) % 4 == 0}
    if checks.get(tag, lambda: True)() is False or tag in (0x10, 0x11) or (
            0x20 <= tag <= 0x3F and tag not in (0x30, 0x31)):
        raise _Malformed(f"{what}: bad value of universal type {tag & 0x1F}")


def _algorithm(content, what):
    """Check an AlgorithmIdentifier: an OID, then optional parameters of any type."""
    parts = _items(content, what)
    if not 1 <= len(parts) <= 2 or parts[0][0] != 0x06 or parts[-1][0] == 0:
        raise _Malformed(f"{what}: bad AlgorithmIdentifier")
    _oid(parts[0][1], what)
    for tag, value, _ in parts[1:]:
        _value(tag, value, what)


# --- the certificate ---
def _fields(der):
    """Check a certificate's structure; return its parts by name."""
    if not isinstance(der, (bytes, bytearray, memoryview)):
        raise TypeError(f"a certificate is DER bytes, not {type(der).__name__}")
    cert = _items(_only(bytes(der), 0x30, "Certificate"), "Certificate")
    if [tag for tag, _, _ in cert] != [0x30, 0x30, 0x03]:
        raise _Malformed("Certificate: expected tbsCertificate, signatureAlgorithm, signature")
    _algorithm(cert[1][1], "signatureAlgorithm")
    _bits(cert[2][1], "signature")
    tbs = _items(cert[0][1], "tbsCertificate")
    version = _integer(_only(tbs.pop(0)[1], 0x02, "version"), "version") \
        if tbs and tbs[0][0] == 0xA0 else 0
    if [t | 0x20 * (i in (2, 4)) for i, (t, _, _) in enumerate(tbs[:6])] != [2] + [0x30] * 5:
        raise _Malformed("tbsCertificate: fields missing or out of order")
    serial, signature, issuer, times, subject, spki = tbs[:6]
    _algorithm(signature[1], "tbsCertificate signature")
    key = _items(spki[1], "subjectPublicKeyInfo")
    if [t for t, _, _ in key] != [0x30, 0x03]:
        raise _Malformed("subjectPublicKeyInfo: expected algorithm and key")
    _algorithm(key[0][1], "subjectPublicKeyInfo algorithm")
    _bits(key[1][1], "subjectPublicKey")
    times = [(t, c) for t, c, _ in _items(times[1], "validity")]
    if len(times) != 2 or any(t not in (0x17, 0x18) for t, _ in times):
        raise _Malformed("validity: expected two times")
    _in_order([t for t, _, _ in tbs[6:]], [0x81, 0x82, 0xA3], "tbsCertificate")
    extensions = []
    for tag, content, _ in tbs[6:]:
        if tag == 0xA3:
            extensions = _extensions(_only(content, 0x30, "extensions", of=True))
        else:
            _bits(content, "unique identifier")
    return {"version": version, "serial": _integer(serial[1], "serialNumber"),
            "issuer": _name(issuer[2], "issuer"), "subject": _name(subject[2], "subject"),
            "issuer_der": issuer[2], "subject_der": subject[2], "spki": spki[2],
            "validity": times, "extensions": extensions}


def _extensions(content):
    """The extensions as (OID, extnValue content) pairs."""
    out = []
    for tag, ext, _ in _items(content, "extensions"):
        parts = _items(ext, "extension") if tag == 0x30 else []
        if [t for t, _, _ in parts] not in ([0x06, 0x04], [0x06, 0x01, 0x04]):
            raise _Malformed("extension: expected extnID, critical, extnValue")
        if len(parts) == 3 and len(parts[1][1]) != 1:
            raise _Malformed("extension: critical is not a one-octet BOOLEAN")
        out.append((_oid(parts[0][1], "extnID"), parts[-1][1]))
    return out


def _extension(fields, oid, parse):
    """``parse`` applied to the content of extension ``oid``'s SEQUENCE, or None where
    X509_get_ext_d2i gives NULL: absent, present twice, or not decodable."""
    found = [value for ext_oid, value in fields["extensions"] if ext_oid == oid]
    try:
        tag, content, _ = _tlv(found[0], oid) if len(found) == 1 else (0, b"", b"")
        return parse(content) if tag | 0x20 == 0x30 else None  # what follows is ignored
    except _Malformed:
        return None


# --- names ---
def _name(data, what):
    """Check a Name; return its attributes as (RDN index, OID, tag, value) tuples."""
    attrs = []
    for index, (tag, rdn, _) in enumerate(_items(_only(data, 0x30, what, of=True), what)):
        if tag | 0x20 != 0x31:
            raise _Malformed(f"{what}: RDN is not a SET")
        attrs += _attributes(rdn, index, what, canon=True)
    return attrs


def _attributes(rdn, index, what, canon):
    """Check the AttributeTypeAndValues of one RDN. With ``canon`` (a whole Name), the
    values OpenSSL converts to UTF-8 while decoding must convert."""
    attrs = []
    for tag, atv, _ in _items(rdn, what):
        parts = _items(atv, what) if tag == 0x30 else []
        if len(parts) != 2 or parts[0][0] != 0x06 or parts[1][0] not in _VALUE_TAGS:
            raise _Malformed(f"{what}: bad AttributeTypeAndValue")
        oid, (vtag, value, _) = _oid(parts[0][1], what), parts[1]
        _value(vtag, value, what)
        if canon and vtag in _CANON_TAGS:
            try:
                _text(vtag, value, what)
            except ValueError as error:
                raise _Malformed(str(error)) from None
        attrs.append((index, oid, vtag, value))
    return attrs


def _text(tag, value, what):
    """A name value as text, converted as ASN1_STRING_to_UTF8 converts it."""
    width = _CHAR_WIDTHS.get(tag)
    if width is None:
        raise ValueError(f"{what}: a value of ASN.1 type {tag} cannot be shown as text")
    if width < 2:
        return _utf8(value, what) if width == 0 else value.decode("latin-1")
    points = [int.from_bytes(value[i:i + width], "big") for i in range(0, len(value), width)]
    if any(0xD800 <= p < 0xE000 or p > 0x10FFFF for p in points):
        raise ValueError(f"{what}: {'BMP' if width == 2 else 'Universal'}String has a "
                         "character outside Unicode")
    return "".join(map(chr, points))


def _show_name(attrs, what):
    """A checked Name as getpeercert() shows it: a tuple of RDNs of (name, value) pairs."""
    rdns, last = [], None
    for index, oid, tag, value in attrs:
        if index != last:
            rdns.append([])
            last = index
        if tag != 0x03:
            shown = _text(tag, value, what)
        else:   # a BIT STRING is given as its bytes, with the unused bits cleared
            shown = value[1:-1] + bytes([value[-1] & 0xFF << value[0] & 0xFF]) \
                if len(value) > 1 else b""
        rdns[-1].append((_NAMES.get(oid, oid), shown))
    return tuple(map(tuple, rdns))


def _utf8(value, what):
    """Bytes as text, strictly, as PyUnicode_FromStringAndSize takes them."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{what}: not valid UTF-8") from None


# --- general names and the extensions made of them ---
def _general_names(content, what):
    """Check a GeneralNames' content; return its entries as (tag, value) pairs."""
    out = []
    for tag, body, _ in _items(content, what):
        if tag == 0xA0:                                   # otherName
            parts = _items(body, what)
            value = _items(parts[1][1], what) if len(parts) == 2 else []
            if [t for t, _, _ in parts] != [0x06, 0xA0] or len(value) != 1:
                raise _Malformed(f"{what}: bad otherName")
            _value(*value[0][:2], what)
            body = (_oid(parts[0][1], what),) + value[0][:2]
        elif tag == 0xA4:                                 # directoryName
            body = _name(body, what)
        elif tag == 0xA5:                                 # ediPartyName
            parts = _items(body, what)
            strings = [_items(part, what) for _, part, _ in parts]
            if [t for t, _, _ in parts] not in ([0xA1], [0xA0, 0xA1]) or any(
                    len(s) != 1 or s[0][0] not in _DIRECTORY_TAGS for s in strings):
                raise _Malformed(f"{what}: bad ediPartyName")
            for (vtag, value, _), in strings:
                _value(vtag, value, what)
        elif tag == 0x88:                                 # registeredID
            body = _oid(body, what)
        elif tag not in (0x81, 0x82, 0x86, 0x87, 0xA3):  # email, DNS, URI, IP, X.400
            raise _Malformed(f"{what}: unknown GeneralName tag 0x{tag:02X}")
        out.append((tag, body))
    return out


def _show_general_name(tag, body):
    """One GeneralName as getpeercert() shows it: a (kind, value) pair."""
    kinds = {0x81: "email", 0x82: "DNS", 0x86: "URI"}
    if tag in kinds:
        return kinds[tag], _utf8(body, "subjectAltName " + kinds[tag])
    if tag == 0xA4:
        return "DirName", _show_name(body, "subjectAltName DirName")
    if tag == 0x88:
        name = _NAMES.get(body, body)
        return "Registered ID", name if len(name) < 2048 else "<INVALID>"
    if tag == 0x87:
        if len(body) == 4:
            return "IP Address", "%d.%d.%d.%d" % tuple(body)
        return "IP Address", ":".join("%X" % int.from_bytes(body[i:i + 2], "big") for i in
                                      range(0, 16, 2)) if len(body) == 16 else "<invalid>"
    # The rest is GENERAL_NAME_print's text, read back with BIO_gets, split at ':'.
    text = {0xA3: b"X400Name:<unsupported>", 0xA5: b"EdiPartyName:<unsupported>"}.get(tag)
    if text is None:
        oid, vtag, value = body
        text = b"othername:<unsupported>"
        if oid in _OTHER_NAMES and vtag == (0x16 if _OTHER_NAMES[oid] == "SRVName" else 0x0C):
            text = b"othername:%s:%s" % (_OTHER_NAMES[oid].encode(), value.split(b"\0")[0])
    read = text[:2046]   # BIO_gets: at most 2046 bytes, up to and including a newline
    kind, _, value = read[:read.index(b"\n") + 1 if b"\n" in read else None].partition(b":")
    return kind.decode("ascii"), _utf8(value, "subjectAltName " + kind.decode("ascii"))


def _access_descriptions(content):
    """Check an AuthorityInfoAccess value; return (method OID, (tag, value)) pairs."""
    out = []
    for tag, body, _ in _items(content, "authorityInfoAccess"):
        parts = _items(body, "authorityInfoAccess") if tag == 0x30 else []
        if len(parts) != 2 or parts[0][0] != 0x06:
            raise _Malformed("authorityInfoAccess: bad AccessDescription")
        out.append((_oid(parts[0][1], "accessMethod"),
                    _general_names(parts[1][2], "accessLocation")[0]))
    return out


def _distribution_points(content):
    """Check a CRLDistributionPoints value; return the fullName GeneralNames of each."""
    out = []
    for tag, body, _ in _items(content, "cRLDistributionPoints"):
        if tag != 0x30:
            raise _Malformed("cRLDistributionPoints: DistributionPoint is not a SEQUENCE")
        parts = _items(body, "DistributionPoint")      # [0] name, [1] reasons, [2] issuer
        _in_order([t | 0x20 * (t == 0x82) for t, _, _ in parts], [0xA0, 0x81, 0xA2],
                  "DistributionPoint")
        for ptag, pbody, _ in parts:
            if ptag == 0x81:
                _bits(pbody, "reasons")
            elif ptag | 0x20 == 0xA2:
                _general_names(pbody, "cRLIssuer")
            else:
                ntag, names, rest = _tlv(pbody, "distributionPoint")
                if rest or ntag | 0x20 not in (0xA0, 0xA1):
                    raise _Malformed("distributionPoint: bad DistributionPointName")
                if ntag | 0x20 == 0xA0:
                    out.append(_general_names(names, "fullName"))
                else:   # nameRelativeToCRLIssuer: checked, never shown
                    _attributes(names, 0, "nameRelativeToCRLIssuer", canon=False)
    return out


# --- serial number and times ---
def _serial(value):
    """The serial number as i2a_ASN1_INTEGER writes it and BIO_gets reads it back:
    uppercase hex; past 35 octets OpenSSL breaks the line, where the reading stops."""
    magnitude = abs(value).to_bytes(max(1, (abs(value).bit_length() + 7) // 8), "big")
    text = magnitude[:35].hex().upper() + ("\\\n" if len(magnitude) > 35 else "")
    return "-" + text if value < 0 else text


def _time(tag, text):
    """Read a UTCTime or GeneralizedTime as OpenSSL's ossl_asn1_time_to_tm does (seconds
    optional; 'Z' or a +hhmm/-hhmm offset). Return the UTC (year, month, day, hour,
    minute, second) and the fraction of a second as ASN1_TIME_print shows it."""
    match = _TIMES[tag].fullmatch(text)
    if not match:
        raise ValueError(f"time value {text!r} is not in a form OpenSSL reads")
    n = {key: int(match.groupdict().get(key) or 0) for key in "c y mo d h mi s oh om".split()}
    year = n["c"] * 100 + n["y"] if tag == 0x18 else n["y"] + (2000 if n["y"] < 50 else 1900)
    fields = [year, n["mo"], n["d"], n["h"], n["mi"], n["s"]]
    month_days = [31, 28 + calendar.isleap(year), 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    if not (1 <= n["mo"] <= 12 and 1 <= n["d"] <= month_days[n["mo"] - 1] and n["h"] < 24
            and n["mi"] < 60 and n["s"] < 60 and n["oh"] <= 12 and n["om"] < 60):
        raise ValueError(f"time value {text!r} has a field out of range")
    shift = (n["oh"] * 60 + n["om"]) * (60 if match.group("z") == b"-" else -60)
    if shift:   # OpenSSL's OPENSSL_gmtime_adj works in the years 1900-9999
        try:
            moment = datetime.datetime(*fields) + datetime.timedelta(seconds=shift)
        except (ValueError, OverflowError):
            moment = datetime.datetime.min
        if moment.year < 1900:
            raise ValueError(f"time value {text!r} is out of range")
        fields = list(moment.timetuple()[:6])
    return fields, (match.group("f") or b"").decode("ascii")


def _show_time(tag, text):
    """A time as ASN1_TIME_print writes it, e.g. 'Jan  5 09:34:43 2018 GMT'."""
    try:
        (year, month, day, hour, minute, second), fraction = _time(tag, text)
    except ValueError:
        return "Bad time value"
    return "%s %2d %02d:%02d:%02d%s %d GMT" % (_MONTHS[month - 1], day, hour, minute,
                                               second, fraction, year)


# --- the API ---
def is_ca(der):
    """Whether the certificate is a CA the way OpenSSL counts one (``X509_check_ca``,
    which ``cert_store_stats()`` and ``get_ca_certs()`` use): a key usage without
    keyCertSign never is; otherwise basicConstraints decides where present, and
    without it a version 1 self-signed certificate or one whose key usage allows
    keyCertSign is."""
    fields = _fields(der)
    usage = [value for oid, value in fields["extensions"] if oid == _KEY_USAGE]
    if usage:
        try:
            tag, bits, _ = _tlv(usage[0], "keyUsage")
        except _Malformed:
            return False
        # A BIT STRING: the unused-bits octet, then keyCertSign is bit 5 (0x04).
        if tag != 0x03 or len(bits) < 2 or not bits[1] & 0x04:
            return False
    constraints = _extension(fields, _BASIC_CONSTRAINTS,
                             lambda content: _items(content, "basicConstraints"))
    if constraints is not None:
        return bool(constraints) and constraints[0][0] == 0x01 \
            and any(bytes(constraints[0][1]))
    if fields["version"] == 0 and fields["subject_der"] == fields["issuer_der"]:
        return True
    return bool(usage)


def decode_certificate(der):
    """Decode a DER certificate into the dict ``ssl.SSLSocket.getpeercert()`` returns:
    subject, issuer, version, serialNumber, notBefore and notAfter, and, where the
    certificate has them, subjectAltName, OCSP, caIssuers and crlDistributionPoints."""
    fields = _fields(der)
    version = fields["version"]
    out = {"subject": _show_name(fields["subject"], "subject"),
           "issuer": _show_name(fields["issuer"], "issuer"),
           # X509_get_version() + 1 in a C long: 0 when out of range, wrapping at the top
           "version": (version + 1 + 2 ** 63) % 2 ** 64 - 2 ** 63
           if -2 ** 63 <= version < 2 ** 63 else 0,
           "serialNumber": _serial(fields["serial"]),
           "notBefore": _show_time(*fields["validity"][0]),
           "notAfter": _show_time(*fields["validity"][1])}
    names = _extension(fields, _SAN, lambda content: _general_names(content, "subjectAltName"))
    if names is not None:
        out["subjectAltName"] = tuple(_show_general_name(*name) for name in names)
    access = _extension(fields, _AIA, _access_descriptions) or ()
    for key, method in (("OCSP", _OCSP), ("caIssuers", _CA_ISSUERS)):
        uris = tuple(_utf8(value, key) for oid, (tag, value) in access
                     if oid == method and tag == 0x86)
        if uris:
            out[key] = uris
    points = _extension(fields, _CRLDP, _distribution_points) or ()
    uris = tuple(_utf8(value, "crlDistributionPoints") for names in points
                 for tag, value in names if tag == 0x86)
    if uris:
        out["crlDistributionPoints"] = uris
    return out


def subject_der(der):
    """The DER encoding of the certificate's subject Name."""
    return _fields(der)["subject_der"]


def issuer_der(der):
    """The DER encoding of the certificate's issuer Name."""
    return _fields(der)["issuer_der"]


def spki_der(der):
    """The DER encoding of the certificate's SubjectPublicKeyInfo."""
    return _fields(der)["spki"]


def validity(der):
    """(notBefore, notAfter) as Unix timestamps in whole seconds."""
    try:
        return tuple(calendar.timegm(_time(*time)[0]) for time in _fields(der)["validity"])
    except _Malformed:
        raise
    except ValueError as error:
        raise ValueError(f"validity: {error}") from None


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
    """Split concatenated DER certificates (``cadata`` bytes); each must be well formed."""
    ders, data = [], bytes(data)
    while data:
        _, _, rest = _tlv(data, "certificate")
        ders.append(data[:len(data) - len(rest)])
        _fields(ders[-1])
        data = rest
    return ders
