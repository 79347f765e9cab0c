//! What messages and pins need from a certificate: its subject's common name and
//! first DNS name, its validity period and its extended key usage, read from the
//! DER with bounds checks only (the bytes come from peers).

/// One DER element: (tag, contents, rest after it).
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *der.first()?;
    let first = *der.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*der.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, der.get(header..end)?, der.get(end..)?))
}

/// The elements of a constructed value, in order.
fn children(mut der: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while let Some((tag, body, rest)) = element(der) {
        out.push((tag, body));
        der = rest;
    }
    out
}

const COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];
const SUBJECT_ALT_NAME: [u8; 3] = [0x55, 0x1d, 0x11];
const EXTENDED_KEY_USAGE: [u8; 3] = [0x55, 0x1d, 0x25];
/// id-kp-serverAuth, 1.3.6.1.5.5.7.3.1.
const SERVER_AUTH: [u8; 8] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];

/// The subject's common name, if it has one.
fn common_name(subject: &[u8]) -> Option<String> {
    for (_, set) in children(subject) {
        for (_, pair) in children(set) {
            let parts = children(pair);
            if let [(0x06, oid), (_, value), ..] = parts.as_slice()
                && *oid == COMMON_NAME
            {
                return Some(String::from_utf8_lossy(value).into_owned());
            }
        }
    }
    None
}

/// The value (what the OCTET STRING holds) of the extension `oid` in a
/// certificate's `[3]` extensions field, if it has that extension.
fn extension<'a>(extensions: &'a [u8], oid: &[u8]) -> Option<&'a [u8]> {
    let (_, list, _) = element(extensions)?;
    children(list).into_iter().find_map(|(_, extension)| {
        let parts = children(extension);
        match (parts.first(), parts.last()) {
            (Some((0x06, id)), Some((0x04, value))) if *id == oid => Some(*value),
            _ => None,
        }
    })
}

/// The first DNS name or IP address of the subjectAltName extension.
fn first_alt_name(extensions: &[u8]) -> Option<String> {
    let (_, names, _) = element(extension(extensions, &SUBJECT_ALT_NAME)?)?;
    for (tag, name) in children(names) {
        match tag {
            0x82 => return Some(String::from_utf8_lossy(name).into_owned()),
            0x87 if name.len() == 4 => {
                return Some(format!("{}.{}.{}.{}", name[0], name[1], name[2], name[3]));
            }
            _ => {}
        }
    }
    None
}

/// Whether the certificate's extended key usage lets it authenticate a TLS
/// server: yes without the extension, otherwise only when it lists serverAuth
/// (webpki's rule for chains). `None` when the bytes are not a certificate.
pub(crate) fn allows_server_auth(der: &[u8]) -> Option<bool> {
    let fields = tbs_fields(der)?;
    let Some(eku) = fields
        .iter()
        .find(|(tag, _)| *tag == 0xa3)
        .and_then(|(_, e)| extension(e, &EXTENDED_KEY_USAGE))
    else {
        return Some(true);
    };
    let (_, purposes, _) = element(eku)?;
    Some(
        children(purposes)
            .iter()
            .any(|(tag, oid)| *tag == 0x06 && *oid == SERVER_AUTH),
    )
}

/// The fields of a certificate's `tbsCertificate` after the optional version:
/// serial, signature, issuer, validity, subject, key, then extensions.
fn tbs_fields(der: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let (_, certificate, _) = element(der)?;
    let (_, tbs, _) = element(certificate)?;
    let mut fields = children(tbs);
    if fields.first().is_some_and(|(tag, _)| *tag == 0xa0) {
        fields.remove(0);
    }
    Some(fields)
}

/// Seconds since the Unix epoch of an X.509 time (UTCTime or GeneralizedTime,
/// `Z` only, as RFC 5280 requires).
fn seconds(tag: u8, text: &[u8]) -> Option<u64> {
    let digits = |range: std::ops::Range<usize>| -> Option<u64> {
        let part = text.get(range)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let (year, rest) = match (tag, text.len()) {
        (0x17, 13) => {
            let yy = digits(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (0x18, 15) => (digits(0..4)?, 4),
        _ => return None,
    };
    if text.last() != Some(&b'Z') {
        return None;
    }
    let month = digits(rest..rest + 2)?;
    let day = digits(rest + 2..rest + 4)?;
    let (h, m, sec) = (
        digits(rest + 4..rest + 6)?,
        digits(rest + 6..rest + 8)?,
        digits(rest + 8..rest + 10)?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), years >= 1970 only.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// The validity period, `(not before, not after)` in seconds since the epoch.
pub(crate) fn validity(der: &[u8]) -> Option<(u64, u64)> {
    let fields = tbs_fields(der)?;
    let (_, period) = fields.get(3)?;
    match children(period).as_slice() {
        [(t1, from), (t2, until)] => Some((seconds(*t1, from)?, seconds(*t2, until)?)),
        _ => None,
    }
}

/// Whether the certificate names itself as its issuer (self-issued, as
/// `openssl req -x509` makes them); `None` when the bytes are not a certificate.
pub(crate) fn is_self_issued(der: &[u8]) -> Option<bool> {
    let fields = tbs_fields(der)?;
    Some(fields.get(2)? == fields.get(4)?)
}

/// The certificate's subject and issuer names (their DER contents, compared
/// byte for byte as webpki compares them); `None` when the bytes are not a
/// certificate.
pub(crate) fn subject_and_issuer(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let fields = tbs_fields(der)?;
    Some((fields.get(4)?.1, fields.get(2)?.1))
}

/// How a message names the certificate: `"www.example.org" (CN=example)`,
/// or `None` when the bytes are not a certificate.
pub(crate) fn certificate_name(der: &[u8]) -> Option<String> {
    let fields = tbs_fields(der)?;
    let subject = fields.get(4).map(|(_, s)| *s)?;
    let cn = common_name(subject);
    let san = fields
        .iter()
        .find(|(tag, _)| *tag == 0xa3)
        .and_then(|(_, e)| first_alt_name(e));
    let shorten = |s: String| -> String {
        if s.chars().count() > 80 {
            s.chars().take(80).chain("...".chars()).collect()
        } else {
            s
        }
    };
    match (san.map(shorten), cn.map(shorten)) {
        (Some(san), Some(cn)) if san == cn => Some(format!("\"{san}\"")),
        (Some(san), Some(cn)) => Some(format!("\"{san}\" (CN={cn})")),
        (Some(san), None) => Some(format!("\"{san}\"")),
        (None, Some(cn)) => Some(format!("CN={cn}")),
        (None, None) => Some("a certificate without subject names".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_certificate_and_garbage_gives_none() {
        let mut params = rcgen::CertificateParams::new(vec!["www.example.org".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Example Web");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            certificate_name(cert.der()).as_deref(),
            Some("\"www.example.org\" (CN=Example Web)")
        );
        let der = cert.der().to_vec();
        for cut in 0..der.len() {
            let _ = certificate_name(&der[..cut]);
        }
        assert_eq!(certificate_name(b"\x30\x84\xff\xff\xff\xff"), None);
        for cut in 0..der.len() {
            let _ = validity(&der[..cut]);
        }
        assert_eq!(certificate_name(b""), None);
    }

    #[test]
    fn self_issued_is_issuer_equal_to_subject() {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Example CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).unwrap();
        assert_eq!(is_self_issued(ca.der()), Some(true));
        let leaf = rcgen::CertificateParams::new(vec!["www.example.org".into()])
            .unwrap()
            .signed_by(&rcgen::KeyPair::generate().unwrap(), &ca)
            .unwrap();
        assert_eq!(is_self_issued(leaf.der()), Some(false));
        assert_eq!(is_self_issued(b"not a certificate"), None);
    }
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn validity_is_read_in_seconds() {
        let mut params = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2001, 2, 3);
        params.not_after = rcgen::date_time_ymd(2061, 12, 31);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        // 2001-02-03T00:00:00Z and 2061-12-31T00:00:00Z (GeneralizedTime after 2049).
        assert_eq!(validity(cert.der()), Some((981_158_400, 2_903_212_800)));
        assert_eq!(seconds(0x17, b"700101000000Z"), Some(0));
        assert_eq!(seconds(0x17, b"700101000000+"), None);
        assert_eq!(seconds(0x18, b"19691231235959Z"), None);
    }
}
