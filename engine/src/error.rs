//! The one mapping from rustls's errors to the interface's `error` variant.
//!
//! Both providers report failures through [`Error`]; nothing else in the project
//! looks inside a `rustls::Error`.

use std::fmt;

use rustls::{AlertDescription, CertificateError, PeerIncompatible};

use crate::prose::{self, alert_name};

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

/// Where in a connection's life the transport ended ([`Error::ragged`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Before the handshake completed.
    Handshake,
    /// While data was flowing.
    Data,
    /// After our close_notify, waiting for the peer's.
    Shutdown,
}

/// Result type of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The refusal of `system` trust when the host's policy chose no base
    /// roots and adds no anchors.
    pub fn system_trust_empty() -> Self {
        Self::config(
            "system trust is empty: the host's policy chose no base roots (\"none\") \
             and adds no anchors",
        )
    }

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

    /// The peer's close_notify arrived: the session ended cleanly.
    pub fn closed() -> Self {
        Self::new(
            ErrorKind::Closed,
            "the peer closed the TLS session (close_notify)",
        )
    }

    /// The transport ended without the peer's close_notify: the data may have
    /// been cut short. `during` says where it ended.
    pub fn ragged(during: Stage) -> Self {
        Self::new(
            ErrorKind::RaggedEof,
            match during {
                Stage::Handshake => "the transport closed during the handshake",
                Stage::Data => {
                    "the transport closed without the peer's close_notify (possible truncation)"
                }
                Stage::Shutdown => "the transport closed before the peer's close_notify arrived",
            },
        )
    }

    /// `feed` after `eof`.
    pub fn feed_after_eof() -> Self {
        Self::misuse("feed after eof: the transport was already signalled closed")
    }

    /// `write` after `shutdown`.
    pub fn write_after_shutdown() -> Self {
        Self::misuse("write after shutdown: close_notify was already sent")
    }

    /// Maps a rustls error raised while building a configuration: always a
    /// configuration error, with `what` naming the part being built.
    pub fn from_rustls_config(what: &str, err: rustls::Error) -> Self {
        Self::config(format!("{what}: {}", describe(&err)))
    }

    /// Maps a rustls error raised by a connection or verifier to the interface's
    /// error kinds. This is the only place that does so.
    pub fn from_rustls(err: &rustls::Error) -> Self {
        Self::from_rustls_about(err, None)
    }

    /// [`Error::from_rustls`], naming the certificate a `certificate-rejected`
    /// error is about when it is known: `certificate rejected:
    /// "www.example.org" (CN=Example): the certificate has expired`.
    pub(crate) fn from_rustls_about(err: &rustls::Error, certificate: Option<String>) -> Self {
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
                describe(err)
            ),
            ErrorKind::CertificateRejected(_) => match certificate {
                Some(name) => format!("certificate rejected: {name}: {}", describe(err)),
                None => format!("certificate rejected: {}", describe(err)),
            },
            _ => describe(err),
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
        C::BadSignature | C::UnsupportedSignatureAlgorithmContext { .. } => {
            CertificateReason::BadSignature
        }
        // The only candidate issuer (a certificate with the issuer's name) has
        // a key of another type: it did not sign this one, and nothing else
        // vouches for it. (Debian's /etc/ssl/certs holds a self-signed
        // "CN=localhost", which shares its name with what `openssl req -x509
        // -subj /CN=localhost` makes.) OpenSSL reports the same: unknown issuer.
        C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            CertificateReason::UnknownIssuer
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

/// A rustls error in words a person can act on; no Rust debug forms.
fn describe(err: &rustls::Error) -> String {
    use rustls::Error as E;
    match err {
        E::InvalidMessage(m) => format!(
            "the peer sent a malformed message: {}",
            prose::invalid_message(m)
        ),
        E::InappropriateMessage {
            expect_types,
            got_type,
        } => unexpected(
            prose::record_type(got_type),
            expect_types.iter().map(prose::record_type),
        ),
        E::InappropriateHandshakeMessage {
            expect_types,
            got_type,
        } => unexpected(
            prose::handshake_message(got_type),
            expect_types.iter().map(prose::handshake_message),
        ),
        E::InvalidEncryptedClientHello(_) => {
            "the encrypted ClientHello (ECH) configuration or offer is invalid".into()
        }
        E::DecryptError => {
            "a record from the peer did not decrypt: it was corrupted or forged in transit".into()
        }
        E::EncryptError => "a record could not be encrypted".into(),
        E::PeerSentOversizedRecord => "the peer sent a record larger than TLS allows".into(),
        E::NoCertificatesPresented => "the peer sent no certificate".into(),
        E::UnsupportedNameType => "the server name is of a type TLS cannot send".into(),
        E::NoApplicationProtocol => "the peer offers no ALPN protocol this side accepts".into(),
        E::AlertReceived(a) => {
            format!("the peer sent the fatal alert {}", alert_name(u8::from(*a)))
        }
        E::PeerIncompatible(p) => prose::incompatible(p).into(),
        E::PeerMisbehaved(p) => format!("the peer broke the protocol: {}", prose::misbehaved(p)),
        E::InvalidCertificate(c) => certificate_sentence(c),
        E::InvalidCertRevocationList(_) => "a certificate revocation list is invalid".into(),
        E::General(text) => text.clone(),
        E::FailedToGetCurrentTime => "the current time is not available".into(),
        E::FailedToGetRandomBytes => "random bytes are not available".into(),
        E::HandshakeNotComplete => "the handshake is not complete".into(),
        E::BadMaxFragmentSize => "the maximum fragment size is out of range".into(),
        E::InconsistentKeys(_) => {
            "the private key does not belong to the certificate's public key".into()
        }
        E::Other(other) => other.to_string(),
        _ => "rustls failed for a reason this memtls does not name yet".into(),
    }
}

fn certificate_sentence(err: &CertificateError) -> String {
    use CertificateError as C;
    match err {
        C::Expired | C::ExpiredContext { .. } => "the certificate has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "the certificate is not valid yet".into(),
        C::UnknownIssuer => "no trust anchor vouches for the certificate (unknown issuer)".into(),
        C::BadSignature => "a signature in the chain does not verify".into(),
        C::UnsupportedSignatureAlgorithmForPublicKeyContext {
            signature_algorithm_id,
            public_key_algorithm_id,
        } => format!(
            "no trust anchor vouches for the certificate (unknown issuer): the certificate \
             with its issuer's name has {} key, which cannot have made its signature ({})",
            algorithm_name(public_key_algorithm_id, "an"),
            algorithm_name(signature_algorithm_id, ""),
        ),
        C::UnsupportedSignatureAlgorithmContext {
            signature_algorithm_id,
            ..
        } => format!(
            "a certificate in the chain is signed with {}, which this side does not accept",
            algorithm_name(signature_algorithm_id, "")
        ),
        C::NotValidForName => "the certificate is not valid for the name asked for".into(),
        C::NotValidForNameContext {
            expected,
            presented,
        } if presented.is_empty() => format!(
            "the certificate is not valid for {}: it names no host in subjectAltName \
             (the subject's common name is not used for host names)",
            server_name_text(expected),
        ),
        C::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "the certificate is not valid for {} (it is for {})",
            server_name_text(expected),
            presented
                .iter()
                .map(|p| presented_name(p))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        C::Revoked => "the certificate was revoked".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "the certificate's extended key usage does not allow it here (a TLS server \
             needs serverAuth, a client clientAuth)"
                .into()
        }
        // Our own refusals are sentences already.
        C::BadEncoding => "a certificate in the chain is not valid DER".into(),
        C::UnhandledCriticalExtension => {
            "a certificate has a critical extension this side does not understand".into()
        }
        C::UnknownRevocationStatus => {
            "the revocation status of a certificate in the chain is unknown".into()
        }
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
            "a certificate revocation list has expired".into()
        }
        #[allow(deprecated)]
        C::UnsupportedSignatureAlgorithm => {
            "a certificate in the chain is signed with an algorithm this side does not accept"
                .into()
        }
        C::InvalidOcspResponse => "the OCSP response is invalid".into(),
        C::ApplicationVerificationFailure => "the application refused the certificate".into(),
        // webpki's refusals in words; memtls's own refusals are sentences already.
        C::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(refusal) => prose::webpki_refusal(refusal),
            None => other.to_string(),
        },
        _ => "the certificate is refused for a reason this memtls does not name yet".into(),
    }
}

/// What an algorithm identifier names, in words (`ECDSA with SHA-256`, `an RSA`
/// with `article` "an"), from the DER contents rustls reports (the OID first).
fn algorithm_name(id: &[u8], article: &str) -> String {
    const KNOWN: &[(&[u8], &str, &str)] = &[
        (&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1], "an", "RSA"),
        (&[0x2a, 0x86, 0x48, 0xce, 0x3d, 2, 1], "an", "EC"),
        (&[0x2b, 0x65, 0x70], "an", "Ed25519"),
        (&[0x2b, 0x65, 0x71], "an", "Ed448"),
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2],
            "",
            "ECDSA with SHA-256",
        ),
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 3],
            "",
            "ECDSA with SHA-384",
        ),
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 4],
            "",
            "ECDSA with SHA-512",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 5],
            "",
            "RSA with SHA-1",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 10],
            "",
            "RSA-PSS",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11],
            "",
            "RSA with SHA-256",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 12],
            "",
            "RSA with SHA-384",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 13],
            "",
            "RSA with SHA-512",
        ),
    ];
    let oid = match id {
        [6, len, rest @ ..] if rest.len() >= usize::from(*len) => &rest[..usize::from(*len)],
        _ => return "an algorithm it does not name".into(),
    };
    let with_article = |a: &str, name: &str| match (article, a) {
        ("", _) | (_, "") => name.to_string(),
        (_, a) => format!("{a} {name}"),
    };
    match KNOWN.iter().find(|(known, ..)| *known == oid) {
        Some((_, a, name)) => with_article(a, name),
        None => with_article("an", &format!("algorithm {}", dotted_oid(oid))),
    }
}

/// An object identifier's DER value as dotted numbers (`1.2.840.10045.2.1`).
fn dotted_oid(oid: &[u8]) -> String {
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    for &byte in oid {
        value = value.saturating_mul(128) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// A server name as people write it: `www.example.org`, `127.0.0.1`.
fn server_name_text(name: &rustls::pki_types::ServerName<'_>) -> String {
    name.to_str().into_owned()
}

/// A name webpki presents for a certificate, `DnsName("localhost")` or
/// `IpAddress(127.0.0.1)`, as people write it: `localhost`, `127.0.0.1`.
fn presented_name(presented: &str) -> &str {
    let inner = ["DnsName(", "IpAddress(", "UriName("]
        .iter()
        .find_map(|kind| presented.strip_prefix(kind)?.strip_suffix(')'))
        .unwrap_or(presented);
    inner.trim_matches('"')
}

/// "the peer sent `sent` where Y or Z was expected".
fn unexpected(sent: String, expected: impl Iterator<Item = String>) -> String {
    let expected: Vec<String> = expected.collect();
    format!(
        "the peer sent {sent} where {} was expected",
        if expected.is_empty() {
            "nothing".to_string()
        } else {
            expected.join(" or ")
        }
    )
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
        assert!(e.message.contains("expired"), "{}", e.message);
    }

    #[test]
    fn alerts_carry_their_code_and_name() {
        let e = Error::from_rustls(&rustls::Error::AlertReceived(
            AlertDescription::ProtocolVersion,
        ));
        assert_eq!(e.kind, ErrorKind::AlertReceived(70));
        assert!(e.message.contains("protocol_version"), "{}", e.message);
        let e = Error::from_rustls(&rustls::Error::PeerIncompatible(
            PeerIncompatible::NoCipherSuitesInCommon,
        ));
        assert_eq!(e.kind, ErrorKind::AlertSent(40));
        assert!(
            e.message.contains("handshake_failure (40)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn messages_are_sentences_not_debug_forms() {
        use rustls::InvalidMessage as M;
        for (err, want) in [
            (
                rustls::Error::InvalidMessage(M::MissingData("ProtocolVersion")),
                "protocol version cut short",
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                    std::sync::Arc::new(webpki::Error::CaUsedAsEndEntity),
                ))),
                "is a CA certificate",
            ),
            (
                rustls::Error::PeerMisbehaved(
                    rustls::PeerMisbehaved::IllegalMiddleboxChangeCipherSpec,
                ),
                "the peer broke the protocol: a ChangeCipherSpec where",
            ),
            (
                rustls::Error::InappropriateHandshakeMessage {
                    expect_types: vec![
                        rustls::HandshakeType::Certificate,
                        rustls::HandshakeType::Finished,
                    ],
                    got_type: rustls::HandshakeType::ClientHello,
                },
                "sent a ClientHello message where a Certificate message or a Finished \
                 message was expected",
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                    expected: rustls::pki_types::ServerName::try_from("example.org").unwrap(),
                    presented: vec![
                        "DnsName(\"localhost\")".into(),
                        "IpAddress(127.0.0.1)".into(),
                    ],
                }),
                "not valid for example.org (it is for localhost, 127.0.0.1)",
            ),
            (
                rustls::Error::PeerIncompatible(PeerIncompatible::NoKxGroupsInCommon),
                "no key exchange group",
            ),
            (rustls::Error::DecryptError, "did not decrypt"),
        ] {
            let e = Error::from_rustls(&err);
            assert!(e.message.contains(want), "{}", e.message);
            for debug in ["(\"", "Some(", "{ ", "Error(", "Name("] {
                assert!(!e.message.contains(debug), "{}", e.message);
            }
        }
    }

    #[test]
    fn a_namesake_issuer_with_another_key_type_is_an_unknown_issuer_in_words() {
        // What webpki reports for an ECDSA-signed leaf whose issuer's name is
        // shared by an RSA root in the store (Debian's snakeoil "CN=localhost").
        let e = Error::from_rustls(&rustls::Error::InvalidCertificate(
            CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
                signature_algorithm_id: vec![6, 8, 42, 134, 72, 206, 61, 4, 3, 2],
                public_key_algorithm_id: vec![6, 9, 42, 134, 72, 134, 247, 13, 1, 1, 1, 5, 0],
            },
        ));
        assert_eq!(
            e.kind,
            ErrorKind::CertificateRejected(CertificateReason::UnknownIssuer)
        );
        assert!(
            e.message.contains("unknown issuer")
                && e.message.contains("has an RSA key")
                && e.message.contains("(ECDSA with SHA-256)"),
            "{}",
            e.message
        );
        assert!(!e.message.contains('['), "{}", e.message);
        assert_eq!(
            algorithm_name(&[6, 3, 0x2b, 0x65, 0x70], "an"),
            "an Ed25519"
        );
        assert_eq!(
            algorithm_name(&[6, 3, 0x2a, 0x03, 0x04], "an"),
            "an algorithm 1.2.3.4"
        );
        assert_eq!(
            dotted_oid(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 2, 1]),
            "1.2.840.10045.2.1"
        );
    }
}
