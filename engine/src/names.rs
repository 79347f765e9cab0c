//! Names a certificate for messages: its subject's common name and first DNS
//! name, read from the DER with bounds checks only (the bytes come from peers).

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

/// The first DNS name or IP address of the subjectAltName extension.
fn first_alt_name(extensions: &[u8]) -> Option<String> {
    let (_, list, _) = element(extensions)?;
    for (_, extension) in children(list) {
        let parts = children(extension);
        let Some((0x06, oid)) = parts.first() else {
            continue;
        };
        if *oid != SUBJECT_ALT_NAME {
            continue;
        }
        let (_, value) = parts.last()?;
        let (_, names, _) = element(value)?;
        for (tag, name) in children(names) {
            match tag {
                0x82 => return Some(String::from_utf8_lossy(name).into_owned()),
                0x87 if name.len() == 4 => {
                    return Some(format!("{}.{}.{}.{}", name[0], name[1], name[2], name[3]));
                }
                _ => {}
            }
        }
    }
    None
}

/// How a message names the certificate: `"www.example.org" (CN=example)`,
/// or `None` when the bytes are not a certificate.
pub(crate) fn certificate_name(der: &[u8]) -> Option<String> {
    let (_, certificate, _) = element(der)?;
    let (_, tbs, _) = element(certificate)?;
    let mut fields = children(tbs);
    if fields.first().is_some_and(|(tag, _)| *tag == 0xa0) {
        fields.remove(0);
    }
    // serial, signature, issuer, validity, subject, key, then [3] extensions.
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
        assert_eq!(certificate_name(b""), None);
    }
}
