//! Certificates and private keys from PEM or DER, with errors that say which
//! item failed and why.

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ParsedCertificate;

use crate::encrypted_key::{self, Protection};
use crate::{Error, Result};

fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Parses certificates given as PEM blocks or one DER certificate per element.
/// `what` names the field in error messages.
pub fn parse_certificates(items: &[Vec<u8>], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        out.extend(parse_certificate_item(item, &format!("{what}[{i}]"))?);
    }
    Ok(out)
}

/// Parses one item: PEM text with one or more CERTIFICATE blocks, or one DER
/// certificate (a file given as a CA bundle, say). `what` names it in error
/// messages.
pub fn parse_certificate_item(item: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    if item.is_empty() {
        return Err(Error::config(format!("{what} is empty")));
    }
    if !is_pem(item) {
        let cert = CertificateDer::from(item.to_vec());
        // Reject bytes that are not a certificate now, not at handshake time.
        ParsedCertificate::try_from(&cert).map_err(|e| {
            Error::from_rustls_config(
                &format!("{what}: neither PEM text nor a DER certificate"),
                e,
            )
        })?;
        return Ok(vec![cert]);
    }
    let certs = CertificateDer::pem_slice_iter(item)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::config(format!("{what}: unparseable PEM: {}", pem_problem(&e))))?;
    if certs.is_empty() {
        return Err(Error::config(format!(
            "{what}: PEM text holds no CERTIFICATE block"
        )));
    }
    Ok(certs)
}

/// Parses a private key in PEM or DER (PKCS#8, SEC1, PKCS#1). An encrypted
/// key is refused: [`parse_private_key_with_password`] decrypts it.
pub fn parse_private_key(bytes: &[u8]) -> Result<PrivateKeyDer<'static>> {
    parse_private_key_with_password(bytes, None)
}

/// Parses a private key in PEM or DER (PKCS#8, SEC1, PKCS#1), decrypting it
/// with `password` when it is encrypted: PKCS#8 `ENCRYPTED PRIVATE KEY` (PBES2:
/// PBKDF2 or scrypt with AES or 3DES) or OpenSSL's traditional encrypted PEM
/// (`Proc-Type: 4,ENCRYPTED`). The password of a key that is not encrypted is
/// not used. The work a key's parameters ask for is bounded
/// ([`MAX_PBKDF2_ITERATIONS`](crate::MAX_PBKDF2_ITERATIONS), scrypt at 32 MiB).
pub fn parse_private_key_with_password(
    bytes: &[u8],
    password: Option<&[u8]>,
) -> Result<PrivateKeyDer<'static>> {
    if bytes.is_empty() {
        return Err(Error::config("private key is empty"));
    }
    let pem = is_pem(bytes);
    match encrypted_key::protection(bytes, pem)? {
        Protection::Plain => {}
        encrypted => {
            let Some(password) = password else {
                return Err(Error::config(
                    "private key is encrypted and no password was given \
                     (private-key-password)",
                ));
            };
            return encrypted_key::decrypt(encrypted, password);
        }
    }
    if pem {
        PrivateKeyDer::from_pem_slice(bytes).map_err(|e| match e {
            pem::Error::NoItemsFound => {
                Error::config("private key: the PEM text holds no PRIVATE KEY block")
            }
            e => Error::config(format!("private key: unparseable PEM: {}", pem_problem(&e))),
        })
    } else {
        PrivateKeyDer::try_from(bytes.to_vec()).map_err(|e| {
            Error::config(format!(
                "private key: not PKCS#8, SEC1 or PKCS#1 DER, nor PEM text: {e}"
            ))
        })
    }
}

/// What is wrong with PEM text, in words (pki-types' messages show bytes as
/// Rust lists).
fn pem_problem(e: &pem::Error) -> String {
    let line = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        text.chars().take(80).collect::<String>()
    };
    match e {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!("a block has no \"-----END {}-----\" line", line(end_marker))
        }
        pem::Error::IllegalSectionStart { line: start } => {
            format!(
                "the line \"{}\" is not a well-formed BEGIN line",
                line(start)
            )
        }
        pem::Error::Base64Decode(_) => "a block's base64 is damaged".into(),
        pem::Error::SectionTooLarge => "a block is larger than 256 MB".into(),
        pem::Error::NoItemsFound => "no block of the kind asked for".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message of a configuration error, which must read as words: no
    /// Rust lists or debug forms of what was wrong.
    fn said<T: std::fmt::Debug>(r: Result<T>) -> String {
        let e = r.expect_err("refused");
        assert_eq!(e.kind, crate::ErrorKind::Configuration, "{e:?}");
        for debug_form in ["[45", "[0x", "Invalid", "Error", "{"] {
            assert!(!e.message.contains(debug_form), "{}", e.message);
        }
        e.message
    }

    #[test]
    fn damaged_pem_and_der_are_refused_in_words() {
        let cases: [(&[u8], &str); 6] = [
            (b"", "ca is empty"),
            (
                b"not a certificate",
                "ca: neither PEM text nor a DER certificate: ",
            ),
            (
                b"-----BEGIN CERTIFICATE-----\nA!AA\n-----END CERTIFICATE-----\n",
                "ca: unparseable PEM: a block's base64 is damaged",
            ),
            (
                b"-----BEGIN CERTIFICATE-----\nAAAA\n",
                "ca: unparseable PEM: a block has no \"-----END CERTIFICATE-----\" line",
            ),
            (
                b"-----BEGIN CERTIFICATE\nAAAA\n-----END CERTIFICATE-----\n",
                "is not a well-formed BEGIN line",
            ),
            (
                b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "ca: PEM text holds no CERTIFICATE block",
            ),
        ];
        for (bytes, want) in cases {
            let message = said(parse_certificate_item(bytes, "ca"));
            assert!(message.contains(want), "{message:?} lacks {want:?}");
        }
        // In a list, the item is named by its index.
        let message = said(parse_certificates(&[Vec::new()], "anchors"));
        assert_eq!(message, "anchors[0] is empty");
    }

    #[test]
    fn damaged_private_keys_are_refused_in_words() {
        let certificate_only = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let message = said(parse_private_key(certificate_only));
        assert_eq!(
            message,
            "private key: the PEM text holds no PRIVATE KEY block"
        );
        let damaged = b"-----BEGIN PRIVATE KEY-----\nA!AA\n-----END PRIVATE KEY-----\n";
        let message = said(parse_private_key(damaged));
        assert_eq!(
            message,
            "private key: unparseable PEM: a block's base64 is damaged"
        );
    }
}
