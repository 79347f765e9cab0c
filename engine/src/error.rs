//! The one mapping from rustls's errors to the interface's `error` variant.
//!
//! Both providers report failures through [`Error`]; nothing else in the project
//! looks inside a `rustls::Error`.

use std::fmt;

use rustls::{AlertDescription, CertificateError, PeerIncompatible};

/// Why a certificate chain was rejected (the WIT `certificate-reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateReason {
    /// A certificate's validity period ended before the verification time.
    Expired,
    /// A certificate's validity period starts after the verification time.
    NotYetValid,
    /// No path to a trust anchor could be built.
    UnknownIssuer,
    /// A signature did not verify or uses an unsupported algorithm.
    BadSignature,
    /// The end-entity certificate is not valid for the expected name.
    NameMismatch,
    /// A certificate was revoked.
    Revoked,
    /// The peer sent no certificate although one was required.
    NoCertificate,
    /// Anything else; the message says what.
    Other,
}

/// What kind of failure an [`Error`] is (the WIT `error-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The peer closed the session cleanly (close_notify).
    Closed,
    /// The transport ended without the peer's close_notify.
    RaggedEof,
    /// Certificate verification failed on this side.
    CertificateRejected(CertificateReason),
    /// The peer sent this fatal alert.
    AlertReceived(u8),
    /// This side refused the handshake and sent this fatal alert.
    AlertSent(u8),
    /// The peer's bytes violated the protocol.
    Protocol,
    /// A configuration was refused.
    Configuration,
    /// The call is not valid in the connection's current state.
    Misuse,
    /// A limit set by the host was hit.
    ResourceLimit,
    /// The host's policy does not allow this.
    NotPermitted,
}

/// A failure: a kind to branch on and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// A human-readable explanation naming what went wrong.
    pub message: String,
}

/// Result type of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Configuration, message)
    }

    /// A misuse error (the call is not valid in this state).
    pub fn misuse(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Misuse, message)
    }

    /// A resource-limit error.
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceLimit, message)
    }

    /// A policy refusal.
    pub fn not_permitted(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotPermitted, message)
    }

    /// Maps a rustls error raised while building a configuration: always a
    /// configuration error, with `what` naming the part being built.
    pub fn from_rustls_config(what: &str, err: rustls::Error) -> Self {
        Self::config(format!("{what}: {err}"))
    }

    /// Maps a rustls error raised by a connection or verifier to the interface's
    /// error kinds. This is the only place that does so.
    pub fn from_rustls(err: &rustls::Error) -> Self {
        use rustls::Error as E;
        let kind = match err {
            E::InvalidCertificate(cert) => ErrorKind::CertificateRejected(certificate_reason(cert)),
            E::NoCertificatesPresented => {
                ErrorKind::CertificateRejected(CertificateReason::NoCertificate)
            }
            E::AlertReceived(alert) => ErrorKind::AlertReceived(u8::from(*alert)),
            E::NoApplicationProtocol => {
                ErrorKind::AlertSent(u8::from(AlertDescription::NoApplicationProtocol))
            }
            E::PeerIncompatible(why) => ErrorKind::AlertSent(u8::from(incompatible_alert(why))),
            E::InconsistentKeys(_) => ErrorKind::Configuration,
            _ => ErrorKind::Protocol,
        };
        let message = match kind {
            ErrorKind::AlertReceived(code) => {
                format!(
                    "the peer sent the fatal alert {} ({code})",
                    alert_name(code)
                )
            }
            ErrorKind::AlertSent(code) => format!(
                "handshake refused, sent the fatal alert {} ({code}): {}",
                alert_name(code),
                match err {
                    E::PeerIncompatible(
                        PeerIncompatible::ExtendedMasterSecretExtensionRequired,
                    ) => {
                        "the peer does not offer the extended master secret (RFC 7627), which \
                         memtls requires for TLS 1.2"
                            .to_string()
                    }
                    other => other.to_string(),
                }
            ),
            ErrorKind::CertificateRejected(_) => format!("certificate rejected: {err}"),
            _ => err.to_string(),
        };
        Self { kind, message }
    }
}

impl CertificateReason {
    /// The WIT name, e.g. `unknown-issuer`.
    pub fn wit_name(self) -> &'static str {
        match self {
            CertificateReason::Expired => "expired",
            CertificateReason::NotYetValid => "not-yet-valid",
            CertificateReason::UnknownIssuer => "unknown-issuer",
            CertificateReason::BadSignature => "bad-signature",
            CertificateReason::NameMismatch => "name-mismatch",
            CertificateReason::Revoked => "revoked",
            CertificateReason::NoCertificate => "no-certificate",
            CertificateReason::Other => "other",
        }
    }
}

/// The kind as the WIT spells it, e.g. `certificate-rejected(expired)`.
impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Closed => f.write_str("closed"),
            ErrorKind::RaggedEof => f.write_str("ragged-eof"),
            ErrorKind::CertificateRejected(r) => {
                write!(f, "certificate-rejected({})", r.wit_name())
            }
            ErrorKind::AlertReceived(c) => write!(f, "alert-received({c})"),
            ErrorKind::AlertSent(c) => write!(f, "alert-sent({c})"),
            ErrorKind::Protocol => f.write_str("protocol"),
            ErrorKind::Configuration => f.write_str("configuration"),
            ErrorKind::Misuse => f.write_str("misuse"),
            ErrorKind::ResourceLimit => f.write_str("resource-limit"),
            ErrorKind::NotPermitted => f.write_str("not-permitted"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

fn certificate_reason(err: &CertificateError) -> CertificateReason {
    use CertificateError as C;
    match err {
        C::Expired | C::ExpiredContext { .. } => CertificateReason::Expired,
        C::NotValidYet | C::NotValidYetContext { .. } => CertificateReason::NotYetValid,
        C::UnknownIssuer => CertificateReason::UnknownIssuer,
        C::BadSignature
        | C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            CertificateReason::BadSignature
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => CertificateReason::NameMismatch,
        C::Revoked => CertificateReason::Revoked,
        _ => CertificateReason::Other,
    }
}

/// The alert rustls sends for each incompatibility (see rustls's handshake code:
/// version problems get protocol_version, everything else handshake_failure).
fn incompatible_alert(why: &PeerIncompatible) -> AlertDescription {
    use PeerIncompatible as P;
    match why {
        P::Tls12NotOffered
        | P::Tls12NotOfferedOrEnabled
        | P::SupportedVersionsExtensionRequired
        | P::ServerDoesNotSupportTls12Or13
        | P::ServerTlsVersionIsDisabledByOurConfig
        | P::Tls13RequiredForQuic => AlertDescription::ProtocolVersion,
        _ => AlertDescription::HandshakeFailure,
    }
}

/// The RFC name of an alert code, for messages.
pub fn alert_name(code: u8) -> String {
    format!("{:?}", AlertDescription::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_keep_their_reason() {
        let e = Error::from_rustls(&rustls::Error::InvalidCertificate(
            CertificateError::Expired,
        ));
        assert_eq!(
            e.kind,
            ErrorKind::CertificateRejected(CertificateReason::Expired)
        );
        assert!(e.message.contains("Expired"), "{}", e.message);
    }

    #[test]
    fn alerts_carry_their_code_and_name() {
        let e = Error::from_rustls(&rustls::Error::AlertReceived(
            AlertDescription::ProtocolVersion,
        ));
        assert_eq!(e.kind, ErrorKind::AlertReceived(70));
        assert!(e.message.contains("ProtocolVersion"), "{}", e.message);
        let e = Error::from_rustls(&rustls::Error::PeerIncompatible(
            PeerIncompatible::NoCipherSuitesInCommon,
        ));
        assert_eq!(e.kind, ErrorKind::AlertSent(40));
    }
}
