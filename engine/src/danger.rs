//! The dangerous verifiers behind the `insecure` interface (as rustls keeps
//! them in a `danger` module): no hostname check, no verification.

use std::sync::Arc;

use rustls::CertificateError;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;

use crate::check::{Check, Presented, Signatures, Verdict};

/// Verifies the chain, accepts any name (the `insecure` interface).
#[derive(Debug)]
pub(crate) struct IgnoreHostname(pub(crate) Arc<dyn ServerCertVerifier>);

impl Check for IgnoreHostname {
    fn check(&self, presented: &Presented<'_>) -> Verdict {
        match presented.to(self.0.as_ref()) {
            // The name is checked after the chain: a name error means the chain
            // itself verified.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn signatures(&self) -> Signatures<'_> {
        Signatures::By(self.0.as_ref())
    }
}

/// Accepts any certificate; still checks the handshake signature against it.
#[derive(Debug)]
pub(crate) struct NoVerification(pub(crate) WebPkiSupportedAlgorithms);

impl Check for NoVerification {
    fn check(&self, _: &Presented<'_>) -> Verdict {
        Ok(ServerCertVerified::assertion())
    }

    fn signatures(&self) -> Signatures<'_> {
        Signatures::With(&self.0)
    }
}
