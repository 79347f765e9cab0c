//! A certificate's fields as CPython's `getpeercert()` shows them (the WIT
//! `certificate-info`), read with x509-parser: the one place a certificate is
//! turned into the dictionary Python programs read, on every provider.
//!
//! CPython builds that dictionary from OpenSSL's reading of the certificate, so
//! this module shows what OpenSSL shows: attribute types by OpenSSL's long names
//! (`organizationName`), values converted as `ASN1_STRING_to_UTF8` converts them
//! (a BIT STRING value as its bytes), serial numbers as `i2a_ASN1_INTEGER`
//! writes them, times as `ASN1_TIME_print` writes them, general names as
//! `GENERAL_NAME_print` writes them, and an extension that is repeated or does
//! not decode left out (`X509_get_ext_d2i` returns NULL for both). Known
//! differences from OpenSSL, all on certificates no CA issues: x509-parser
//! refuses a certificate whose times it cannot read (OpenSSL shows "Bad time
//! value"), and a fraction of a second is shown without its trailing zeros.

use x509_parser::asn1_rs::{Any, FromDer as _, Oid, Tag};
use x509_parser::certificate::X509Certificate;
use x509_parser::error::X509Error;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::time::ASN1Time;
use x509_parser::x509::X509Name;

use crate::{Error, Result};

/// A distinguished name: its relative distinguished names in order, each a
/// list of attributes (more than one in a multi-valued RDN).
pub type DistinguishedName = Vec<Vec<NameAttribute>>;

/// One attribute of a distinguished name, e.g. `commonName` = `example.org`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAttribute {
    /// OpenSSL's long name of the attribute type, or its dotted OID.
    pub name: String,
    /// The value.
    pub value: NameValue,
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameValue {
    /// A string type, converted to text.
    Text(String),
    /// A BIT STRING (e.g. `x500UniqueIdentifier`), its unused bits cleared.
    Bits(Vec<u8>),
}

/// One subjectAltName entry: a kind as OpenSSL names it (`DNS`, `IP Address`,
/// `email`, `URI`, `DirName`, `Registered ID`, `othername`, ...) and a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AltName {
    /// The kind of name.
    pub kind: String,
    /// The value.
    pub value: AltNameValue,
}

/// A subjectAltName entry's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AltNameValue {
    /// Text, as OpenSSL prints it.
    Text(String),
    /// A directoryName.
    Directory(DistinguishedName),
}

/// What `getpeercert()` shows of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The subject.
    pub subject: DistinguishedName,
    /// The issuer.
    pub issuer: DistinguishedName,
    /// The version as people count it (1 or 3).
    pub version: u32,
    /// The serial number in upper-case hexadecimal (`-` before a negative one).
    pub serial_number: String,
    /// Start of validity, e.g. `Jan  5 09:34:43 2018 GMT`.
    pub not_before: String,
    /// End of validity, in the same form.
    pub not_after: String,
    /// The subjectAltName entries; `None` without a (unique, decodable) extension.
    pub subject_alt_names: Option<Vec<AltName>>,
    /// OCSP responder URIs (authorityInfoAccess).
    pub ocsp: Vec<String>,
    /// CA issuer URIs (authorityInfoAccess).
    pub ca_issuers: Vec<String>,
    /// CRL distribution point URIs.
    pub crl_distribution_points: Vec<String>,
    /// Whether OpenSSL counts the certificate as a CA (`X509_check_ca`), as
    /// `cert_store_stats()` and `get_ca_certs()` do.
    pub is_ca: bool,
}

/// Reads `der` (one DER certificate, nothing after it) as `getpeercert()`
/// shows it; a configuration error naming what is wrong otherwise.
pub fn certificate_info(der: &[u8]) -> Result<CertificateInfo> {
    let cert = match X509Certificate::from_der(der) {
        Ok(([], cert)) => cert,
        Ok((rest, _)) => {
            return Err(Error::config(format!(
                "the certificate is followed by {} more bytes",
                rest.len()
            )));
        }
        Err(x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e)) => {
            return Err(Error::config(format!(
                "the bytes are not a DER X.509 certificate: {}",
                parse_failure(&e)
            )));
        }
        Err(x509_parser::nom::Err::Incomplete(_)) => {
            return Err(Error::config(
                "the bytes are not a DER X.509 certificate (they end before it does)",
            ));
        }
    };
    let subject = show_name(cert.subject(), "subject")?;
    let issuer = show_name(cert.issuer(), "issuer")?;
    let subject_alt_names = match unique(&cert, ALT_NAMES) {
        Some(ParsedExtension::SubjectAlternativeName(san)) => Some(
            san.general_names
                .iter()
                .map(show_general_name)
                .collect::<Result<Vec<_>>>()?,
        ),
        _ => None,
    };
    let (mut ocsp, mut ca_issuers) = (Vec::new(), Vec::new());
    if let Some(ParsedExtension::AuthorityInfoAccess(aia)) = unique(&cert, INFO_ACCESS) {
        for access in &aia.accessdescs {
            let GeneralName::URI(uri) = access.access_location else {
                continue;
            };
            match access.access_method.to_id_string().as_str() {
                OCSP => ocsp.push(uri.to_string()),
                CA_ISSUERS => ca_issuers.push(uri.to_string()),
                _ => {}
            }
        }
    }
    let mut crl_distribution_points = Vec::new();
    if let Some(ParsedExtension::CRLDistributionPoints(points)) = unique(&cert, CRL_POINTS) {
        for point in points.iter() {
            if let Some(DistributionPointName::FullName(names)) = &point.distribution_point {
                crl_distribution_points.extend(names.iter().filter_map(|n| match n {
                    GeneralName::URI(uri) => Some(uri.to_string()),
                    _ => None,
                }));
            }
        }
    }
    Ok(CertificateInfo {
        subject,
        issuer,
        version: cert.version().0.saturating_add(1),
        serial_number: serial_text(cert.raw_serial()),
        not_before: time_text(&cert.validity().not_before),
        not_after: time_text(&cert.validity().not_after),
        subject_alt_names,
        ocsp,
        ca_issuers,
        crl_distribution_points,
        is_ca: is_ca(&cert),
    })
}

/// Why x509-parser refused a certificate, as a sentence (its DER errors'
/// `Display` shows Rust debug forms).
fn parse_failure(e: &X509Error) -> String {
    use x509_parser::asn1_rs::Error as Der;
    match e {
        X509Error::Der(der) => match der {
            Der::UnexpectedTag {
                expected: Some(want),
                actual,
            } => format!(
                "a field has ASN.1 tag {} where tag {} belongs",
                actual.0, want.0
            ),
            Der::UnexpectedTag { actual, .. } => {
                format!("a field has the unexpected ASN.1 tag {}", actual.0)
            }
            Der::Incomplete(_) => "it ends before its last field does".into(),
            Der::InvalidLength => "a length is invalid".into(),
            Der::IndefiniteLengthUnexpected => "it uses an indefinite length (BER, not DER)".into(),
            Der::DerConstraintFailed(_) => "it is BER, not DER".into(),
            Der::InvalidDateTime => "a time is not valid".into(),
            Der::StringInvalidCharset => "a string has characters its type forbids".into(),
            Der::IntegerTooLarge => "an integer is too large".into(),
            _ => "its DER encoding is malformed".into(),
        },
        X509Error::NomError(_) => "its DER encoding is malformed".into(),
        // The rest are x509-parser's own sentences ("invalid X.509 name").
        other => other.to_string(),
    }
}

const ALT_NAMES: &str = "2.5.29.17";
const INFO_ACCESS: &str = "1.3.6.1.5.5.7.1.1";
const CRL_POINTS: &str = "2.5.29.31";
const BASIC_CONSTRAINTS: &str = "2.5.29.19";
const KEY_USAGE: &str = "2.5.29.15";
const OCSP: &str = "1.3.6.1.5.5.7.48.1";
const CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";

/// The extension `oid` as `X509_get_ext_d2i` finds it: `None` when absent,
/// repeated, or not decodable.
fn unique<'c>(cert: &'c X509Certificate<'_>, oid: &str) -> Option<&'c ParsedExtension<'c>> {
    let mut found = cert
        .extensions()
        .iter()
        .filter(|e| e.oid.to_id_string() == oid);
    let only = found.next()?;
    if found.next().is_some() {
        return None;
    }
    match only.parsed_extension() {
        ParsedExtension::ParseError { .. } | ParsedExtension::UnsupportedExtension { .. } => None,
        parsed => Some(parsed),
    }
}

/// `X509_check_ca`: a key usage without keyCertSign never makes a CA;
/// otherwise basicConstraints decides where present, and without it a
/// self-signed version 1 certificate, or one whose key usage allows
/// keyCertSign, is a CA.
fn is_ca(cert: &X509Certificate<'_>) -> bool {
    let usage = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == KEY_USAGE);
    if let Some(usage) = usage {
        match usage.parsed_extension() {
            ParsedExtension::KeyUsage(k) if k.key_cert_sign() => {}
            _ => return false,
        }
    }
    match unique(cert, BASIC_CONSTRAINTS) {
        Some(ParsedExtension::BasicConstraints(b)) => b.ca,
        _ if cert.version().0 == 0 && cert.subject().as_raw() == cert.issuer().as_raw() => true,
        _ => usage.is_some(),
    }
}

/// A name as `getpeercert()` shows it.
fn show_name(name: &X509Name<'_>, what: &str) -> Result<DistinguishedName> {
    name.iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    Ok(NameAttribute {
                        name: long_name(atv.attr_type()),
                        value: name_value(atv.attr_value(), what)?,
                    })
                })
                .collect()
        })
        .collect()
}

/// A name's value converted as `ASN1_STRING_to_UTF8` converts it.
fn name_value(value: &Any<'_>, what: &str) -> Result<NameValue> {
    let data = value.data;
    let bad = |why: &str| Error::config(format!("the certificate's {what} has {why}"));
    let wide = |width: usize, kind: &str| -> Result<NameValue> {
        if !data.len().is_multiple_of(width) {
            return Err(bad(&format!("a {kind} of odd length")));
        }
        data.chunks(width)
            .map(|c| {
                let point = c.iter().fold(0u32, |n, b| n << 8 | u32::from(*b));
                char::from_u32(point)
                    .ok_or_else(|| bad(&format!("a {kind} with a character outside Unicode")))
            })
            .collect::<Result<String>>()
            .map(NameValue::Text)
    };
    match value.tag() {
        Tag::Utf8String => std::str::from_utf8(data)
            .map(|s| NameValue::Text(s.to_string()))
            .map_err(|_| bad("a UTF8String that is not UTF-8")),
        Tag::NumericString
        | Tag::PrintableString
        | Tag::T61String
        | Tag::Ia5String
        | Tag::VisibleString => Ok(NameValue::Text(
            data.iter().map(|&b| char::from(b)).collect(),
        )),
        Tag::UniversalString => wide(4, "UniversalString"),
        Tag::BmpString => wide(2, "BMPString"),
        Tag::BitString => Ok(NameValue::Bits(match data {
            [unused, bits @ .., last] => {
                let mut out = bits.to_vec();
                out.push(last & (0xffu8.checked_shl(u32::from(*unused)).unwrap_or(0)));
                out
            }
            _ => Vec::new(),
        })),
        other => Err(bad(&format!(
            "a value of ASN.1 type {} that cannot be shown as text",
            other.0
        ))),
    }
}

/// One subjectAltName entry as `GENERAL_NAME_print` writes it.
fn show_general_name(name: &GeneralName<'_>) -> Result<AltName> {
    let text = |kind: &str, value: String| AltName {
        kind: kind.into(),
        value: AltNameValue::Text(value),
    };
    Ok(match name {
        GeneralName::RFC822Name(s) => text("email", s.to_string()),
        GeneralName::DNSName(s) => text("DNS", s.to_string()),
        GeneralName::URI(s) => text("URI", s.to_string()),
        GeneralName::DirectoryName(n) => AltName {
            kind: "DirName".into(),
            value: AltNameValue::Directory(show_name(n, "subjectAltName")?),
        },
        GeneralName::RegisteredID(oid) => {
            let name = long_name(oid);
            text(
                "Registered ID",
                if name.len() < 2048 {
                    name
                } else {
                    "<INVALID>".into()
                },
            )
        }
        GeneralName::IPAddress(ip) => text("IP Address", ip_text(ip)),
        GeneralName::X400Address(_) => text("X400Name", "<unsupported>".into()),
        GeneralName::EDIPartyName(_) => text("EdiPartyName", "<unsupported>".into()),
        GeneralName::OtherName(oid, value) => text("othername", other_name(oid, value)),
        GeneralName::Invalid(tag, _) => {
            return Err(Error::config(format!(
                "the certificate's subjectAltName has an entry of type {} that does not \
                 decode (a name that is not ASCII, or a malformed one)",
                tag.0
            )));
        }
    })
}

/// An IP address as OpenSSL prints it: dotted for IPv4, eight upper-case hex
/// groups for IPv6, `<invalid>` for other lengths.
fn ip_text(ip: &[u8]) -> String {
    match ip {
        [a, b, c, d] => format!("{a}.{b}.{c}.{d}"),
        _ if ip.len() == 16 => ip
            .chunks(2)
            .map(|g| format!("{:X}", u16::from_be_bytes([g[0], g[1]])))
            .collect::<Vec<_>>()
            .join(":"),
        _ => "<invalid>".into(),
    }
}

/// An otherName as OpenSSL prints the kinds it knows (`UPN:user@example.org`,
/// up to a NUL), `<unsupported>` otherwise.
fn other_name(oid: &Oid<'_>, explicit: &[u8]) -> String {
    const KNOWN: &[(&str, &str, Tag)] = &[
        ("1.3.6.1.5.5.7.8.9", "SmtpUTF8Mailbox", Tag::Utf8String),
        ("1.3.6.1.5.5.7.8.5", "XmppAddr", Tag::Utf8String),
        ("1.3.6.1.5.5.7.8.7", "SRVName", Tag::Ia5String),
        ("1.3.6.1.4.1.311.20.2.3", "UPN", Tag::Utf8String),
        ("1.3.6.1.5.5.7.8.8", "NAIRealm", Tag::Utf8String),
    ];
    let dotted = oid.to_id_string();
    let value = Any::from_der(explicit)
        .ok()
        .and_then(|(_, wrapper)| Any::from_der(wrapper.data).ok())
        .map(|(_, value)| value);
    match (KNOWN.iter().find(|(o, ..)| *o == dotted), value) {
        (Some((_, name, tag)), Some(value)) if value.tag() == *tag => {
            let text = value.data.split(|b| *b == 0).next().unwrap_or_default();
            match std::str::from_utf8(text) {
                Ok(text) => format!("{name}:{text}"),
                Err(_) => "<unsupported>".into(),
            }
        }
        _ => "<unsupported>".into(),
    }
}

/// The serial number as `i2a_ASN1_INTEGER` writes it (upper-case hex, `-`
/// first when negative) and CPython reads it back: past 35 octets OpenSSL
/// breaks the line, and the reading keeps the backslash and the newline.
fn serial_text(raw: &[u8]) -> String {
    let negative = raw.first().is_some_and(|b| b & 0x80 != 0);
    let mut magnitude = raw.to_vec();
    if negative {
        // Two's complement: invert and add one.
        for b in magnitude.iter_mut() {
            *b = !*b;
        }
        for b in magnitude.iter_mut().rev() {
            let (sum, carry) = b.overflowing_add(1);
            *b = sum;
            if !carry {
                break;
            }
        }
    }
    let start = magnitude
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(magnitude.len().saturating_sub(1));
    let magnitude = if magnitude.is_empty() {
        &[0u8][..]
    } else {
        &magnitude[start..]
    };
    let mut text: String = magnitude
        .iter()
        .take(35)
        .map(|b| format!("{b:02X}"))
        .collect();
    if magnitude.len() > 35 {
        text.push_str("\\\n");
    }
    if negative { format!("-{text}") } else { text }
}

/// A time as `ASN1_TIME_print` writes it: `Jan  5 09:34:43 2018 GMT`.
fn time_text(time: &ASN1Time) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = time.to_datetime();
    let fraction = match t.nanosecond() {
        0 => String::new(),
        n => format!(".{n:09}").trim_end_matches('0').to_string(),
    };
    format!(
        "{} {:2} {:02}:{:02}:{:02}{fraction} {} GMT",
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    )
}

/// OpenSSL's long name of an attribute type (`commonName`), or the dotted OID.
fn long_name(oid: &Oid<'_>) -> String {
    let dotted = oid.to_id_string();
    LONG_NAMES
        .iter()
        .find_map(|(prefix, table)| {
            let arc = dotted.strip_prefix(prefix)?;
            table.split(',').find_map(|entry| {
                let (number, name) = entry.split_once('=')?;
                (number.trim() == arc).then(|| name.trim().to_string())
            })
        })
        .unwrap_or(dotted)
}

/// OpenSSL's long names for the attribute types seen in names, by OID arc.
const LONG_NAMES: &[(&str, &str)] = &[
    (
        "2.5.4.",
        "3=commonName, 4=surname, 5=serialNumber, 6=countryName, 7=localityName, \
         8=stateOrProvinceName, 9=streetAddress, 10=organizationName, \
         11=organizationalUnitName, 12=title, 13=description, 14=searchGuide, \
         15=businessCategory, 16=postalAddress, 17=postalCode, 18=postOfficeBox, \
         19=physicalDeliveryOfficeName, 20=telephoneNumber, 21=telexNumber, \
         22=teletexTerminalIdentifier, 23=facsimileTelephoneNumber, 24=x121Address, \
         25=internationaliSDNNumber, 26=registeredAddress, 27=destinationIndicator, \
         28=preferredDeliveryMethod, 29=presentationAddress, \
         30=supportedApplicationContext, 31=member, 32=owner, 33=roleOccupant, 34=seeAlso, \
         35=userPassword, 36=userCertificate, 37=cACertificate, \
         38=authorityRevocationList, 39=certificateRevocationList, \
         40=crossCertificatePair, 41=name, 42=givenName, 43=initials, \
         44=generationQualifier, 45=x500UniqueIdentifier, 46=dnQualifier, \
         47=enhancedSearchGuide, 48=protocolInformation, 49=distinguishedName, \
         50=uniqueMember, 51=houseIdentifier, 52=supportedAlgorithms, \
         53=deltaRevocationList, 54=dmdName, 65=pseudonym, 72=role, \
         97=organizationIdentifier, 98=countryCode3c, 99=countryCode3n, 100=dnsName",
    ),
    (
        "1.2.840.113549.1.9.",
        "1=emailAddress, 2=unstructuredName, 3=contentType, 4=messageDigest, \
         5=signingTime, 6=countersignature, 7=challengePassword, 8=unstructuredAddress, \
         9=extendedCertificateAttributes, 14=Extension Request, 15=S/MIME Capabilities, \
         16=S/MIME, 20=friendlyName, 21=localKeyID",
    ),
    (
        "0.9.2342.19200300.100.1.",
        "1=userId, 2=textEncodedORAddress, 3=rfc822Mailbox, 4=info, 5=favouriteDrink, \
         6=roomNumber, 7=photo, 8=userClass, 9=host, 10=manager, 11=documentIdentifier, \
         12=documentTitle, 13=documentVersion, 14=documentAuthor, 15=documentLocation, \
         20=homeTelephoneNumber, 21=secretary, 22=otherMailbox, 23=lastModifiedTime, \
         24=lastModifiedBy, 25=domainComponent, 26=aRecord, 27=pilotAttributeType27, \
         28=mXRecord, 29=nSRecord, 30=sOARecord, 31=cNAMERecord, 37=associatedDomain, \
         38=associatedName, 39=homePostalAddress, 40=personalTitle, \
         41=mobileTelephoneNumber, 42=pagerTelephoneNumber, 43=friendlyCountryName, \
         44=uniqueIdentifier, 45=organizationalStatus, 46=janetMailbox, \
         47=mailPreferenceOption, 48=buildingName, 49=dSAQuality, 50=singleLevelQuality, \
         51=subtreeMinimumQuality, 52=subtreeMaximumQuality, 53=personalSignature, \
         54=dITRedirect, 55=audio, 56=documentPublisher",
    ),
    (
        "1.3.6.1.4.1.311.60.2.1.",
        "1=jurisdictionLocalityName, 2=jurisdictionStateOrProvinceName, \
         3=jurisdictionCountryName",
    ),
    (
        "1.2.643.",
        "3.131.1.1=INN, 100.1=OGRN, 100.3=SNILS, 100.5=OGRNIP",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers_are_written_as_openssl_writes_them() {
        assert_eq!(serial_text(&[0x00]), "00");
        assert_eq!(serial_text(&[0x01, 0x02]), "0102");
        assert_eq!(serial_text(&[0x00, 0xff]), "FF");
        assert_eq!(serial_text(&[0xff]), "-01");
        assert_eq!(serial_text(&[0x80]), "-80");
        let long = [0x11u8; 40];
        assert_eq!(serial_text(&long), format!("{}\\\n", "11".repeat(35)));
    }

    #[test]
    fn long_names_and_addresses() {
        let cn = Oid::from(&[2, 5, 4, 3]).unwrap();
        assert_eq!(long_name(&cn), "commonName");
        let dc = Oid::from(&[0, 9, 2342, 19200300, 100, 1, 25]).unwrap();
        assert_eq!(long_name(&dc), "domainComponent");
        let private = Oid::from(&[1, 2, 3, 4]).unwrap();
        assert_eq!(long_name(&private), "1.2.3.4");
        assert_eq!(ip_text(&[192, 0, 2, 7]), "192.0.2.7");
        let v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7];
        assert_eq!(ip_text(&v6), "2001:DB8:0:0:0:1:0:7");
        assert_eq!(ip_text(&[1, 2, 3]), "<invalid>");
    }

    #[test]
    fn what_is_not_a_certificate_is_named() {
        for bad in [&b""[..], b"\x30\x03\x02\x01\x00", b"not a certificate"] {
            let e = certificate_info(bad).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::Configuration);
            assert!(e.message.contains("not a DER X.509 certificate"), "{e}");
            assert!(
                !e.message.contains("Tag(") && !e.message.contains("Some("),
                "{e}"
            );
        }
    }
}
