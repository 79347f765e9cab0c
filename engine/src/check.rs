//! One step of server verification ([`Check`]) and the rustls verifier it
//! becomes: the pieces every verifier of the engine is built from, the
//! dangerous ones included.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// What a server presented, as rustls hands it to a verifier.
pub(crate) struct Presented<'a> {
    pub(crate) end_entity: &'a CertificateDer<'a>,
    pub(crate) intermediates: &'a [CertificateDer<'a>],
    pub(crate) server_name: &'a ServerName<'a>,
    pub(crate) ocsp: &'a [u8],
    pub(crate) now: UnixTime,
}

impl Presented<'_> {
    /// Hands it to another verifier.
    pub(crate) fn to(&self, verifier: &dyn ServerCertVerifier) -> Verdict {
        verifier.verify_server_cert(
            self.end_entity,
            self.intermediates,
            self.server_name,
            self.ocsp,
            self.now,
        )
    }
}

/// A server-certificate verifier's answer.
pub(crate) type Verdict = std::result::Result<ServerCertVerified, rustls::Error>;

/// Who checks handshake signatures for a verifier.
pub(crate) enum Signatures<'a> {
    /// The provider's algorithms, directly.
    With(&'a WebPkiSupportedAlgorithms),
    /// The verifier a wrapper wraps.
    By(&'a dyn ServerCertVerifier),
}

impl Signatures<'_> {
    /// Checks a TLS 1.3 (`tls13`) or TLS 1.2 handshake signature.
    pub(crate) fn verify(
        &self,
        tls13: bool,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Signed {
        use rustls::crypto::{verify_tls12_signature, verify_tls13_signature};
        match (self, tls13) {
            (Self::With(algorithms), false) => {
                verify_tls12_signature(message, cert, dss, algorithms)
            }
            (Self::With(algorithms), true) => {
                verify_tls13_signature(message, cert, dss, algorithms)
            }
            (Self::By(verifier), false) => verifier.verify_tls12_signature(message, cert, dss),
            (Self::By(verifier), true) => verifier.verify_tls13_signature(message, cert, dss),
        }
    }

    pub(crate) fn schemes(&self) -> Vec<SignatureScheme> {
        match self {
            Self::With(algorithms) => algorithms.supported_schemes(),
            Self::By(verifier) => verifier.supported_verify_schemes(),
        }
    }
}

pub(crate) type Signed = std::result::Result<HandshakeSignatureValid, rustls::Error>;

/// One step of server verification; [`verifier`] makes it a rustls verifier.
pub(crate) trait Check: std::fmt::Debug + Send + Sync + 'static {
    /// The verdict on what the server presented.
    fn check(&self, presented: &Presented<'_>) -> Verdict;
    /// Who checks handshake signatures.
    fn signatures(&self) -> Signatures<'_>;
}

/// `check` as a rustls server-certificate verifier.
pub(crate) fn verifier(check: impl Check) -> Arc<dyn ServerCertVerifier> {
    Arc::new(Verifier(check))
}

#[derive(Debug)]
struct Verifier<C>(C);

impl<C: Check> ServerCertVerifier for Verifier<C> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Verdict {
        self.0
            .check(&Presented {
                end_entity,
                intermediates,
                server_name,
                ocsp,
                now,
            })
            .map_err(namesake_issuer_is_unknown)
            .map_err(|e| untrusted_self_signed_is_unknown(e, end_entity))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Signed {
        self.0.signatures().verify(false, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Signed {
        self.0.signatures().verify(true, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signatures().schemes()
    }
}

/// webpki reports a candidate issuer whose key type cannot have made the
/// signature as an unsupported algorithm for that key. The candidate only
/// shares the issuer's name (Debian's /etc/ssl/certs holds a self-signed RSA
/// "CN=localhost", the name `openssl req -x509 -subj /CN=localhost` gives an
/// EC CA): it is not the issuer, and nothing else vouched. That is an unknown
/// issuer, answered with unknown_ca as OpenSSL does (not decrypt_error).
fn namesake_issuer_is_unknown(e: rustls::Error) -> rustls::Error {
    match e {
        rustls::Error::InvalidCertificate(
            CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. },
        ) => rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        other => other,
    }
}

/// webpki refuses a CA certificate presented as the end entity before it
/// looks for an issuer. For a self-issued one (what `openssl req -x509` makes:
/// CA:TRUE) that reads "ca used as end entity", but what is wrong is that no
/// anchor vouches for it — had it been trusted, the anchor-as-pin check before
/// this one would have accepted it. So it is an unknown issuer, answered with
/// unknown_ca, as OpenSSL answers a self-signed certificate it does not trust.
fn untrusted_self_signed_is_unknown(e: rustls::Error, end_entity: &[u8]) -> rustls::Error {
    match &e {
        rustls::Error::InvalidCertificate(CertificateError::Other(other))
            if matches!(
                other.0.downcast_ref::<webpki::Error>(),
                Some(webpki::Error::CaUsedAsEndEntity)
            ) && crate::names::is_self_issued(end_entity) == Some(true) =>
        {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        }
        _ => e,
    }
}
