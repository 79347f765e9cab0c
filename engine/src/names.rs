//! What messages and pins need from a certificate: its subject's common name
//! and first DNS name, its validity period, its extended key usage, and its
//! subject and issuer names (for the path-building budget), read with
//! x509-parser (the bytes come from peers; anything it cannot parse is
//! `None`).

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer as _;

/// The certificate in `der`, if it is one.
fn parse(der: &[u8]) -> Option<X509Certificate<'_>> {
    X509Certificate::from_der(der).ok().map(|(_, cert)| cert)
}

/// Whether the certificate's extended key usage lets it authenticate a TLS
/// server: yes without the extension, otherwise only when it lists serverAuth
/// (webpki's rule for chains). `None` when the bytes are not a certificate
/// (or the extension is malformed or repeated).
pub(crate) fn allows_server_auth(der: &[u8]) -> Option<bool> {
    match parse(der)?.extended_key_usage().ok()? {
        None => Some(true),
        Some(eku) => Some(eku.value.server_auth),
    }
}

/// The validity period, `(not before, not after)` in seconds since the epoch
/// (`None` for times before it).
pub(crate) fn validity(der: &[u8]) -> Option<(u64, u64)> {
    let cert = parse(der)?;
    let period = cert.validity();
    Some((
        u64::try_from(period.not_before.timestamp()).ok()?,
        u64::try_from(period.not_after.timestamp()).ok()?,
    ))
}

/// Whether the certificate names itself as its issuer (self-issued, as
/// `openssl req -x509` makes them); `None` when the bytes are not a certificate.
pub(crate) fn is_self_issued(der: &[u8]) -> Option<bool> {
    let (subject, issuer) = subject_and_issuer(der)?;
    Some(subject == issuer)
}

/// The certificate's subject and issuer names (their DER, compared byte for
/// byte as webpki compares them); `None` when the bytes are not a
/// certificate.
pub(crate) fn subject_and_issuer(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let cert = parse(der)?;
    let tbs = &cert.tbs_certificate;
    Some((tbs.subject.as_raw(), tbs.issuer.as_raw()))
}

/// The first DNS name or IPv4 address of the subjectAltName extension.
fn first_alt_name(cert: &X509Certificate<'_>) -> Option<String> {
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|name| match name {
        GeneralName::DNSName(dns) => Some((*dns).to_owned()),
        GeneralName::IPAddress([a, b, c, d]) => Some(format!("{a}.{b}.{c}.{d}")),
        _ => None,
    })
}

/// How a message names the certificate: `"www.example.org" (CN=example)`,
/// or `None` when the bytes are not a certificate.
pub(crate) fn certificate_name(der: &[u8]) -> Option<String> {
    let cert = parse(der)?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .map(|cn| String::from_utf8_lossy(cn.as_slice()).into_owned());
    let shorten = |s: String| -> String {
        if s.chars().count() > 80 {
            s.chars().take(80).chain("...".chars()).collect()
        } else {
            s
        }
    };
    match (first_alt_name(&cert).map(shorten), cn.map(shorten)) {
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
        let mut old = rcgen::CertificateParams::new(vec!["old.example".into()]).unwrap();
        old.not_before = rcgen::date_time_ymd(1960, 1, 1);
        let old = old.self_signed(&key).unwrap();
        // Before the epoch: no time in seconds since it.
        assert_eq!(validity(old.der()), None);
    }
}
