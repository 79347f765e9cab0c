"""X.509 certificates in pure Python, shown the way CPython's ``_ssl`` shows them.

:func:`decode_certificate` turns a DER certificate into the dictionary that
``ssl.SSLSocket.getpeercert()`` returns (CPython 3.11+ built on OpenSSL 3), without
``ssl`` or ``_ssl``. The other helpers give a chain builder the raw parts: PEM <-> DER,
the DER of the subject, issuer and public key, and the validity period.

The decoder accepts what OpenSSL's does where that shows in the result: an extension
whose value does not decode, or that occurs twice, is left out (``X509_get_ext_d2i``
returns NULL for both); name values are converted as ``ASN1_STRING_to_UTF8`` converts
them; times are read as ``ASN1_TIME_print`` reads them ("Bad time value" if unreadable).
Malformed input raises :class:`ValueError` naming the part at fault. Parsing is
iterative; the one nesting, a directoryName inside a GeneralName, cannot go deeper.
"""

import binascii
import re

__all__ = ["decode_certificate", "der_to_pem", "pem_to_ders", "split_ders",
           "subject_der", "issuer_der", "spki_der", "validity"]

# OpenSSL's long names for the attribute types found in names ("arc.prefix": "n:name,...").
_LONG_NAMES = {
    "2.5.4.": "3:commonName,4:surname,5:serialNumber,6:countryName,7:localityName,"
    "8:stateOrProvinceName,9:streetAddress,10:organizationName,11:organizationalUnitName,"
    "12:title,13:description,14:searchGuide,15:businessCategory,16:postalAddress,"
    "17:postalCode,18:postOfficeBox,19:physicalDeliveryOfficeName,20:telephoneNumber,"
    "21:telexNumber,22:teletexTerminalIdentifier,23:facsimileTelephoneNumber,"
    "24:x121Address,25:internationaliSDNNumber,26:registeredAddress,27:destinationIndicator,"
    "28:preferredDeliveryMethod,29:presentationAddress,30:supportedApplicationContext,"
    "31:member,32:owner,33:roleOccupant,34:seeAlso,35:userPassword,36:userCertificate,"
    "37:cACertificate,38:authorityRevocationList,39:certificateRevocationList,"
    "40:crossCertificatePair,41:name,42:givenName,43:initials,44:generationQualifier,"
    "45:x500UniqueIdentifier,46:dnQualifier,47:enhancedSearchGuide,48:protocolInformation,"
    "49:distinguishedName,50:uniqueMember,51:houseIdentifier,52:supportedAlgorithms,"
    "53:deltaRevocationList,54:dmdName,65:pseudonym,72:role,97:organizationIdentifier,"
    "98:countryCode3c,99:countryCode3n,100:dnsName",
    "1.2.840.113549.1.9.": "1:emailAddress,2:unstructuredName,3:contentType,"
    "4:messageDigest,5:signingTime,6:countersignature,7:challengePassword,"
    "8:unstructuredAddress,9:extendedCertificateAttributes,14:Extension Request,"
    "15:S/MIME Capabilities,16:S/MIME,20:friendlyName,21:localKeyID",
    "0.9.2342.19200300.100.1.": "1:userId,2:textEncodedORAddress,3:rfc822Mailbox,4:info,"
    "5:favouriteDrink,6:roomNumber,7:photo,8:userClass,9:host,10:manager,"
    "11:documentIdentifier,12:documentTitle,13:documentVersion,14:documentAuthor,"
    "15:documentLocation,20:homeTelephoneNumber,21:secretary,22:otherMailbox,"
    "23:lastModifiedTime,24:lastModifiedBy,25:domainComponent,26:aRecord,"
    "27:pilotAttributeType27,28:mXRecord,29:nSRecord,30:sOARecord,31:cNAMERecord,"
    "37:associatedDomain,38:associatedName,39:homePostalAddress,40:personalTitle,"
    "41:mobileTelephoneNumber,42:pagerTelephoneNumber,43:friendlyCountryName,"
    "44:uniqueIdentifier,45:organizationalStatus,46:janetMailbox,47:mailPreferenceOption,"
    "48:buildingName,49:dSAQuality,50:singleLevelQuality,51:subtreeMinimumQuality,"
    "52:subtreeMaximumQuality,53:personalSignature,54:dITRedirect,55:audio,"
    "56:documentPublisher",
    "1.2.643.": "3.131.1.1:INN,100.1:OGRN,100.3:SNILS,100.5:OGRNIP",
    "1.3.6.1.4.1.311.60.2.1.": "1:jurisdictionLocalityName,"
    "2:jurisdictionStateOrProvinceName,3:jurisdictionCountryName",
}
_NAMES = {prefix + arc: name for prefix, table in _LONG_NAMES.items()
          for arc, name in (entry.split(":") for entry in table.split(","))}

_SAN, _AIA, _CRLDP = "2.5.29.17", "1.3.6.1.5.5.7.1.1", "2.5.29.31"
_OCSP, _CA_ISSUERS = "1.3.6.1.5.5.7.48.1", "1.3.6.1.5.5.7.48.2"
# otherName types GENERAL_NAME_print shows (id-on-dnsSRV must be IA5String, the rest UTF8String)
_OTHERNAMES = {"1.3.6.1.5.5.7.8.9": "SmtpUTF8Mailbox", "1.3.6.1.5.5.7.8.5": "XmppAddr",
               "1.3.6.1.5.5.7.8.7": "SRVName", "1.3.6.1.4.1.311.20.2.3": "UPN",
               "1.3.6.1.5.5.7.8.8": "NAIRealm"}
_SRV_NAME = "1.3.6.1.5.5.7.8.7"
# Universal tags OpenSSL accepts as a name value (ASN1_PRINTABLE); those it converts to
# text at decoding time (so a bad one fails the decoding), and the DirectoryString tags.
_VALUE_TAGS = frozenset((0x03, 0x07, 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x12,
                         0x13, 0x14, 0x16, 0x1C, 0x1D, 0x1E, 0x30))
_CANON_TAGS = frozenset((0x0C, 0x13, 0x14, 0x16, 0x1C, 0x1E))
_DIRECTORY_TAGS = frozenset((0x0C, 0x13, 0x14, 0x1C, 0x1E))
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


class _Malformed(ValueError):
    """An encoding OpenSSL's decoder itself rejects (not merely one it cannot show)."""


# --- DER ---
def _tlv(data, what):
    """Split the first TLV off ``data``; return (tag, content, rest).

    Tags of the high-number form come back as 0x1F plus their class and constructed
    bits: nothing here expects one, so they only need to be skipped over.
    """
    size = len(data)
    if size < 2:
        raise _Malformed(f"{what}: truncated DER")
    tag, pos = data[0], 1
    if tag & 0x1F == 0x1F:
        while pos < size and data[pos] & 0x80:
            pos += 1
        pos += 1
    if pos >= size:
        raise _Malformed(f"{what}: truncated DER")
    length, pos = data[pos], pos + 1
    if length & 0x80:
        count = length & 0x7F
        if count == 0:
            raise _Malformed(f"{what}: indefinite length is not DER")
        if count > 8 or pos + count > size:
            raise _Malformed(f"{what}: bad length octets")
        length, pos = int.from_bytes(data[pos:pos + count], "big"), pos + count
    if pos + length > size:
        raise _Malformed(f"{what}: length runs past the end of the data")
    return tag, data[pos:pos + length], data[pos + length:]


def _items(data, what):
    """All TLVs that make up ``data``, as (tag, content, whole encoding) triples."""
    out = []
    while data:
        tag, content, rest = _tlv(data, what)
        out.append((tag, content, data[:len(data) - len(rest)]))
        data = rest
    return out


def _only(data, tag, what, of=False):
    """``data`` must be exactly one TLV with ``tag``; return its content. ``of`` marks a
    SEQUENCE OF or SET OF, where OpenSSL does not check the constructed bit."""
    got, content, rest = _tlv(data, what)
    if (got | 0x20 if of else got) != tag or rest:
        raise _Malformed(f"{what}: expected one element with tag 0x{tag:02X}, got 0x{got:02X}"
                         + (" and trailing data" if rest else ""))
    return content


def _integer(content, what):
    """A DER INTEGER's value; empty or padded encodings are rejected as OpenSSL does."""
    if not content:
        raise _Malformed(f"{what}: empty INTEGER")
    if len(content) > 1 and (content[0], content[1] >> 7) in ((0, 0), (0xFF, 1)):
        raise _Malformed(f"{what}: INTEGER has superfluous leading octets")
    return int.from_bytes(content, "big", signed=True)


def _oid(content, what):
    """A DER OBJECT IDENTIFIER as dotted text."""
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
    """Check a BIT STRING's content (an unused-bits octet of 0-7 comes first)."""
    if not content or content[0] > 7:
        raise _Malformed(f"{what}: bad BIT STRING")


def _value(tag, content, what):
    """Check a universal-type value the way OpenSSL's decoder checks it."""
    checks = {0x01: lambda: len(content) == 1, 0x05: lambda: not content,
              0x02: lambda: _integer(content, what) is not None,
              0x0A: lambda: _integer(content, what) is not None,
              0x06: lambda: _oid(content, what), 0x03: lambda: _bits(content, what) is None,
              0x1E: lambda: len(content) % 2 == 0, 0x1C: lambda: len(content) % 4 == 0}
    if tag in checks and not checks[tag]() or tag in (0x00, 0x10, 0x11) or (
            0x20 <= tag <= 0x3F and tag not in (0x30, 0x31)):
        raise _Malformed(f"{what}: bad value of universal type {tag & 0x1F}")


def _algorithm(content, what):
    """Check an AlgorithmIdentifier: an OID, then optional parameters of any type."""
    parts = _items(content, what)
    if not 1 <= len(parts) <= 2 or parts[0][0] != 0x06:
        raise _Malformed(f"{what}: bad AlgorithmIdentifier")
    _oid(parts[0][1], what)
    if len(parts) == 2:
        _value(parts[1][0], parts[1][1], what)


# --- the certificate's fields ---
def _fields(der):
    """Check a certificate's structure; return its TBSCertificate fields by name
    (contents, except whole encodings for subject, issuer and spki)."""
    if not isinstance(der, (bytes, bytearray, memoryview)):
        raise TypeError("a certificate is DER bytes")
    cert = _items(_only(bytes(der), 0x30, "Certificate"), "Certificate")
    if [tag for tag, _, _ in cert] != [0x30, 0x30, 0x03]:
        raise _Malformed("Certificate: expected tbsCertificate, signatureAlgorithm, signature")
    _algorithm(cert[1][1], "signatureAlgorithm")
    _bits(cert[2][1], "signature")
    tbs = _items(cert[0][1], "tbsCertificate")
    out = {"version": 0, "extensions": None}
    if tbs and tbs[0][0] == 0xA0:
        out["version"] = _integer(_only(tbs.pop(0)[1], 0x02, "version"), "version")
    order = ["serialNumber", "signature", "issuer", "validity", "subject", "spki"]
    tags = [t | 0x20 * (i in (2, 4)) for i, (t, _, _) in enumerate(tbs[:6])]  # Names: OF
    if tags != [0x02, 0x30, 0x30, 0x30, 0x30, 0x30]:
        raise _Malformed("tbsCertificate: fields missing or out of order")
    for name, (_, content, whole) in zip(order, tbs):
        out[name] = whole if name in ("issuer", "subject", "spki") else content
    _integer(out["serialNumber"], "serialNumber")
    _algorithm(out["signature"], "tbsCertificate signature")
    out["issuer"], out["subject"] = _name(out["issuer"], "issuer"), _name(out["subject"], "subject")
    out["issuer_der"], out["subject_der"] = tbs[2][2], tbs[4][2]
    spki = _items(out["spki"][len(out["spki"]) - len(tbs[5][1]):], "subjectPublicKeyInfo")
    if [t for t, _, _ in spki] != [0x30, 0x03]:
        raise _Malformed("subjectPublicKeyInfo: expected algorithm and key")
    _algorithm(spki[0][1], "subjectPublicKeyInfo algorithm")
    _bits(spki[1][1], "subjectPublicKey")
    times = _items(out["validity"], "validity")
    if len(times) != 2 or any(t not in (0x17, 0x18) for t, _, _ in times):
        raise _Malformed("validity: expected two times")
    out["validity"] = [(t, c) for t, c, _ in times]
    _in_order([t for t, _, _ in tbs[6:]], [0x81, 0x82, 0xA3], "tbsCertificate")
    for tag, content, _ in tbs[6:]:
        if tag == 0xA3:
            out["extensions"] = _extensions(_only(content, 0x30, "extensions", of=True))
        else:
            _bits(content, "unique identifier")
    return out


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
    """``parse`` applied to extension ``oid``'s value, or None where OpenSSL's
    X509_get_ext_d2i gives NULL: absent, present twice, or not decodable."""
    found = [value for ext_oid, value in fields["extensions"] or () if ext_oid == oid]
    if len(found) != 1:
        return None
    try:
        tag, content, _ = _tlv(found[0], oid)   # what follows the value is ignored
        if tag | 0x20 != 0x30:
            return None
        return parse(content)
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
    """Check the AttributeTypeAndValues making up one RDN. With ``canon``, values
    OpenSSL converts to UTF-8 while decoding a Name must convert."""
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


def _in_order(tags, allowed, what):
    """Check that ``tags`` takes each of ``allowed`` at most once, in that order."""
    for tag in tags:
        if tag not in allowed:
            raise _Malformed(f"{what}: unexpected or repeated element with tag 0x{tag:02X}")
        allowed = allowed[allowed.index(tag) + 1:]


def _text(tag, value, what):
    """A name value as text, converted as ASN1_STRING_to_UTF8 converts it."""
    width = {0x0C: 0, 0x12: 1, 0x13: 1, 0x14: 1, 0x16: 1, 0x1A: 1, 0x1C: 4, 0x1E: 2}.get(tag)
    if width is None:
        raise ValueError(f"{what}: a value of ASN.1 type {tag} cannot be shown as text")
    if width == 0:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{what}: UTF8String is not valid UTF-8") from None
    if width == 1:
        return value.decode("latin-1")
    points = [int.from_bytes(value[i:i + width], "big") for i in range(0, len(value), width)]
    if len(value) % width or any(0xD800 <= p < 0xE000 or p > 0x10FFFF for p in points):
        raise ValueError(f"{what}: bad {'BMP' if width == 2 else 'Universal'}String")
    return "".join(map(chr, points))


def _show_name(attrs, what):
    """A checked Name as getpeercert() shows it: a tuple of RDNs of (name, value) pairs."""
    rdns, last = [], None
    for index, oid, tag, value in attrs:
        if index != last:
            rdns.append([])
            last = index
        if tag == 0x03:   # a BIT STRING (x500UniqueIdentifier) is shown as its bytes
            value = value[1:-1] + bytes([value[-1] & 0xFF << value[0] & 0xFF]) if value[1:] else b""
        else:
            value = _text(tag, value, what)
        rdns[-1].append((_NAMES.get(oid, oid), value))
    return tuple(map(tuple, rdns))


# --- general names ---
def _general_names(content, what):
    """Check a GeneralNames' content; return its entries as (tag, value) pairs."""
    out = []
    for tag, body, _ in _items(content, what):
        if tag == 0xA0:                                   # otherName
            parts = _items(body, what)
            if [t for t, _, _ in parts] != [0x06, 0xA0]:
                raise _Malformed(f"{what}: bad otherName")
            vtag, value, rest = _tlv(parts[1][1], what)
            if rest:
                raise _Malformed(f"{what}: bad otherName value")
            _value(vtag, value, what)
            body = (_oid(parts[0][1], what), vtag, value)
        elif tag == 0xA4:                                 # directoryName
            body = _name(body, what)
        elif tag == 0xA5:                                 # ediPartyName
            parts = _items(body, what)
            if [t for t, _, _ in parts] not in ([0xA1], [0xA0, 0xA1]):
                raise _Malformed(f"{what}: bad ediPartyName")
            for _, part, _ in parts:
                vtag, value, rest = _tlv(part, what)
                if vtag not in _DIRECTORY_TAGS or rest:
                    raise _Malformed(f"{what}: bad DirectoryString in ediPartyName")
                _value(vtag, value, what)
        elif tag == 0x88:                                 # registeredID
            body = _oid(body, what)
        elif tag not in (0x81, 0x82, 0x86, 0x87, 0xA3):  # email, DNS, URI, IP, X.400
            raise _Malformed(f"{what}: unknown GeneralName tag 0x{tag:02X}")
        out.append((tag, body))
    return out


def _utf8(value, what):
    """Raw bytes as text, strictly, as PyUnicode_FromStringAndSize takes them."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{what}: not valid UTF-8") from None


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
        if len(body) == 16:
            return "IP Address", ":".join("%X" % int.from_bytes(body[i:i + 2], "big")
                                          for i in range(0, 16, 2))
        return "IP Address", "<invalid>"
    # The rest is GENERAL_NAME_print's text, read back with BIO_gets and split at ':'.
    text = {0xA3: b"X400Name:<unsupported>", 0xA5: b"EdiPartyName:<unsupported>"}.get(tag)
    if text is None:
        oid, vtag, value = body
        text = b"othername:<unsupported>"
        if oid in _OTHERNAMES and vtag == (0x16 if oid == _SRV_NAME else 0x0C):
            text = b"othername:%s:%s" % (_OTHERNAMES[oid].encode(), value.split(b"\0")[0])
    text = text[:2046].split(b"\n")[0] + (b"\n" if b"\n" in text[:2046] else b"")
    kind, _, value = text.partition(b":")
    return _utf8(kind, "subjectAltName"), _utf8(value, "subjectAltName " + kind.decode())


def _access_descriptions(content):
    """Check an AuthorityInfoAccess value; return (method OID, GeneralName) pairs."""
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
        parts = _items(body, "DistributionPoint") if tag == 0x30 else [(tag, b"", b"")]
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
def _serial(content):
    """The serial number as i2a_ASN1_INTEGER writes it and BIO_gets reads it back
    (uppercase hex; past 35 octets OpenSSL breaks the line, and the reading stops)."""
    value = int.from_bytes(content, "big", signed=True)
    magnitude = abs(value).to_bytes(max(1, (abs(value).bit_length() + 7) // 8), "big")
    text = magnitude[:35].hex().upper() + ("\\\n" if len(magnitude) > 35 else "")
    return "-" + text if value < 0 else text


def _time(tag, text):
    """Read a UTCTime/GeneralizedTime as OpenSSL's ossl_asn1_time_to_tm does (seconds
    optional; 'Z' or a +hhmm/-hhmm offset). Return (Unix time, fraction as printed)."""
    generalized, size, pos = tag == 0x18, len(text), 0
    if size < (13 if generalized else 11):
        raise ValueError("time value too short")
    values = [19 if generalized else None]          # century (UTCTime: below)
    limits = [(0, 99), (0, 99), (1, 12), (1, 31), (0, 23), (0, 59), (0, 59)]
    for i in range(0 if generalized else 1, 7):
        if i == 6 and text[pos:pos + 1] in (b"Z", b"+", b"-"):
            values.append(0)                          # no seconds
            break
        pair = text[pos:pos + 2]
        if not (len(pair) == 2 and pair.isdigit()) or pos + 2 >= size:
            raise ValueError("time value is not digits followed by a zone")
        number, pos = int(pair), pos + 2
        if not limits[i][0] <= number <= limits[i][1]:
            raise ValueError("time field out of range")
        if i == 0:
            values[0] = number
        else:
            values.append(number)
    century, year, month, day, hour, minute, second = values
    year = century * 100 + year if generalized else year + (2000 if year < 50 else 1900)
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > [31, 28 + leap, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]:
        raise ValueError("no such day in that month")
    fraction = b""
    if generalized and text[pos:pos + 1] == b".":
        end = pos + 1
        while end < size and text[end:end + 1].isdigit():
            end += 1
        if end == pos + 1 or end == size:
            raise ValueError("bad fraction of a second")
        fraction, pos = text[pos:end], end
    stamp = _days(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    zone = text[pos:pos + 1]
    if zone in (b"+", b"-"):
        offset = text[pos + 1:]
        if not (len(offset) == 4 and offset.isdigit()) or int(offset[:2]) > 12 \
                or int(offset[2:]) > 59:
            raise ValueError("bad time zone offset")
        shift = int(offset[:2]) * 3600 + int(offset[2:]) * 60
        stamp += shift if zone == b"-" else -shift
        if shift and not _days(1900, 1, 1) * 86400 <= stamp < _days(10000, 1, 1) * 86400:
            raise ValueError("time out of range")
    elif zone != b"Z" or pos + 1 != size:
        raise ValueError("time value does not end in Z")
    if generalized and size > 15 and text[14:15] == b".":   # as ASN1_TIME_print finds it
        end = 15
        while end < size and text[end:end + 1].isdigit():
            end += 1
        fraction = text[14:end]
    return stamp, fraction.decode("ascii")


def _days(year, month, day):
    """Days from 1970-01-01 to a date of the proleptic Gregorian calendar."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _civil(days):
    """The (year, month, day) a count of days from 1970-01-01 falls on."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, doy - (153 * mp + 2) // 5 + 1


def _show_time(tag, text):
    """A time as ASN1_TIME_print writes it, e.g. 'Jan  5 09:34:43 2018 GMT'."""
    try:
        stamp, fraction = _time(tag, text)
    except ValueError:
        return "Bad time value"
    days, seconds = divmod(stamp, 86400)
    year, month, day = _civil(days)
    return "%s %2d %02d:%02d:%02d%s %d GMT" % (
        _MONTHS[month - 1], day, seconds // 3600, seconds // 60 % 60, seconds % 60, fraction, year)


# --- public API ---
def decode_certificate(der):
    """Decode a DER certificate into the dict ``ssl.SSLSocket.getpeercert()`` returns:
    subject, issuer, version, serialNumber, notBefore, notAfter, and where present
    subjectAltName, OCSP, caIssuers and crlDistributionPoints."""
    fields = _fields(der)
    version = fields["version"]
    out = {"subject": _show_name(fields["subject"], "subject"),
           "issuer": _show_name(fields["issuer"], "issuer"),
           "version": (version + 1 + 2 ** 63) % 2 ** 64 - 2 ** 63 if -2 ** 63 <= version < 2 ** 63 else 0,
           "serialNumber": _serial(fields["serialNumber"]),
           "notBefore": _show_time(*fields["validity"][0]),
           "notAfter": _show_time(*fields["validity"][1])}
    names = _extension(fields, _SAN, lambda c: _general_names(c, "subjectAltName"))
    if names is not None:
        out["subjectAltName"] = tuple(_show_general_name(*name) for name in names)
    access = _extension(fields, _AIA, _access_descriptions) or ()
    for key, method in (("OCSP", _OCSP), ("caIssuers", _CA_ISSUERS)):
        uris = tuple(_utf8(body, key) for oid, (tag, body) in access
                     if oid == method and tag == 0x86)
        if uris:
            out[key] = uris
    points = _extension(fields, _CRLDP, _distribution_points) or ()
    uris = tuple(_utf8(body, "crlDistributionPoints") for names in points
                 for tag, body in names if tag == 0x86)
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
    """(notBefore, notAfter) as Unix timestamps (seconds; fractions dropped)."""
    (tag1, text1), (tag2, text2) = _fields(der)["validity"]
    try:
        return _time(tag1, text1)[0], _time(tag2, text2)[0]
    except ValueError as error:
        raise ValueError(f"validity: {error}") from None


def der_to_pem(der):
    """A DER certificate as PEM text, wrapped as ``ssl.DER_cert_to_PEM_cert`` does."""
    text = binascii.b2a_base64(bytes(der), newline=False).decode("ascii")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def pem_to_ders(text):
    """The DER bytes of every CERTIFICATE block in PEM ``text`` (str or bytes), in
    order; text outside the blocks is ignored."""
    if isinstance(text, str):
        text = text.encode("ascii", "replace")
    ders = []
    for match in _PEM.finditer(bytes(text)):
        body = re.sub(rb"\s+", b"", match.group(1))
        try:
            ders.append(binascii.a2b_base64(body, strict_mode=True) if body else b"")
        except (binascii.Error, TypeError) as error:
            raise ValueError(f"PEM CERTIFICATE block is not valid base64: {error}") from None
        if not ders[-1]:
            raise ValueError("PEM CERTIFICATE block is empty")
    return ders


def split_ders(data):
    """Split concatenated DER certificates (as ``cadata`` bytes hold them); each must
    be a well-formed certificate."""
    ders, data = [], bytes(data)
    while data:
        _, _, rest = _tlv(data, "certificate")
        ders.append(data[:len(data) - len(rest)])
        _fields(ders[-1])
        data = rest
    return ders
