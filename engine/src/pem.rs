//! Certificates and private keys from PEM or DER, with errors that say which
//! item failed and why.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ParsedCertificate;

use crate::{Error, Result};

fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Parses certificates given as PEM blocks or one DER certificate per element.
/// `what` names the field in error messages.
pub fn parse_certificates(items: &[Vec<u8>], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if item.is_empty() {
            return Err(Error::config(format!("{what}[{i}] is empty")));
        }
        if is_pem(item) {
            let before = out.len();
            for cert in CertificateDer::pem_slice_iter(item) {
                let cert = cert.map_err(|e| {
                    Error::config(format!("{what}[{i}]: unparseable PEM certificate: {e}"))
                })?;
                out.push(cert);
            }
            if out.len() == before {
                return Err(Error::config(format!(
                    "{what}[{i}]: PEM text holds no CERTIFICATE block"
                )));
            }
        } else {
            let cert = CertificateDer::from(item.clone());
            // Reject bytes that are not a certificate now, not at handshake time.
            ParsedCertificate::try_from(&cert).map_err(|e| {
                Error::config(format!(
                    "{what}[{i}]: not a DER certificate nor PEM text: {e}"
                ))
            })?;
            out.push(cert);
        }
    }
    Ok(out)
}

/// Parses a private key in PEM or DER (PKCS#8, SEC1, PKCS#1).
pub fn parse_private_key(bytes: &[u8]) -> Result<PrivateKeyDer<'static>> {
    if bytes.is_empty() {
        return Err(Error::config("private key is empty"));
    }
    if is_pem(bytes) {
        if bytes.windows(9).any(|w| w == b"ENCRYPTED") {
            return Err(Error::config(
                "private key is encrypted: decrypt it before passing it",
            ));
        }
        PrivateKeyDer::from_pem_slice(bytes)
            .map_err(|e| Error::config(format!("private key: unparseable PEM: {e}")))
    } else {
        PrivateKeyDer::try_from(bytes.to_vec()).map_err(|e| {
            Error::config(format!(
                "private key: not PKCS#8, SEC1 or PKCS#1 DER, nor PEM text: {e}"
            ))
        })
    }
}
