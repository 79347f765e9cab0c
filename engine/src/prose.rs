//! rustls's and webpki's reasons in words, one explicit sentence per reason.
//!
//! Their `Debug` forms (`PeerMisbehaved(IllegalMiddleboxChangeCipherSpec)`) are for
//! their developers; webpki's `Display` is its `Debug`. Every reason this version of
//! rustls (0.23) and webpki (0.103) can give has its sentence here. Their enums are
//! `non_exhaustive`: a reason added later gets a sentence saying that it is new, never
//! a debug form, until it is named here.

use rustls::{ContentType, HandshakeType, InvalidMessage, PeerIncompatible, PeerMisbehaved};

/// The IANA name of a TLS alert code (RFC 8446 §6, the TLS Alerts registry), e.g.
/// `handshake_failure` for 40.
pub fn alert_name(code: u8) -> &'static str {
    match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        121 => "ech_required",
        _ => "unknown_alert",
    }
}

/// The TLS Supported Groups registry's names for the groups this engine
/// names (the names OpenSSL reports too).
const GROUP_NAMES: [(u16, &str); 16] = [
    (0x0017, "secp256r1"),
    (0x0018, "secp384r1"),
    (0x0019, "secp521r1"),
    (0x001d, "x25519"),
    (0x001e, "x448"),
    (0x0100, "ffdhe2048"),
    (0x0101, "ffdhe3072"),
    (0x0102, "ffdhe4096"),
    (0x0103, "ffdhe6144"),
    (0x0104, "ffdhe8192"),
    (0x0200, "MLKEM512"),
    (0x0201, "MLKEM768"),
    (0x0202, "MLKEM1024"),
    (0x11eb, "SecP256r1MLKEM768"),
    (0x11ec, "X25519MLKEM768"),
    (0x11ed, "SecP384r1MLKEM1024"),
];

/// The IANA name of a TLS key-exchange group (the TLS Supported Groups
/// registry), e.g. `x25519` for 0x001d; `None` for an id this engine does not
/// name.
pub fn group_name(id: u16) -> Option<&'static str> {
    GROUP_NAMES.iter().find(|g| g.0 == id).map(|g| g.1)
}

/// A key-exchange group as error messages name it: `key-exchange group
/// X25519MLKEM768 (0x11ec)`, or by id alone when the registry name is unknown.
pub fn group_label(id: u16) -> String {
    match group_name(id) {
        Some(name) => format!("key-exchange group {name} (0x{id:04x})"),
        None => format!("key-exchange group 0x{id:04x}"),
    }
}

/// The IANA id of the key-exchange group named `name` (in any case), the
/// inverse of [`group_name`].
pub fn group_id(name: &str) -> Option<u16> {
    GROUP_NAMES
        .iter()
        .find(|g| g.1.eq_ignore_ascii_case(name))
        .map(|g| g.0)
}

/// A record's content type as RFC 8446 names it: `a handshake record`.
pub fn record_type(t: &ContentType) -> String {
    match t {
        ContentType::ChangeCipherSpec => "a change_cipher_spec record".into(),
        ContentType::Alert => "an alert record".into(),
        ContentType::Handshake => "a handshake record".into(),
        ContentType::ApplicationData => "an application_data record".into(),
        ContentType::Heartbeat => "a heartbeat record".into(),
        other => format!("a record of content type {}", u8::from(*other)),
    }
}

/// A handshake message as RFC 8446 names it: `a ClientHello`.
pub fn handshake_message(t: &HandshakeType) -> String {
    let name = match t {
        HandshakeType::HelloRequest => "HelloRequest",
        HandshakeType::ClientHello => "ClientHello",
        HandshakeType::ServerHello => "ServerHello",
        HandshakeType::HelloVerifyRequest => "HelloVerifyRequest",
        HandshakeType::NewSessionTicket => "NewSessionTicket",
        HandshakeType::EndOfEarlyData => "EndOfEarlyData",
        HandshakeType::HelloRetryRequest => "HelloRetryRequest",
        HandshakeType::EncryptedExtensions => "EncryptedExtensions",
        HandshakeType::Certificate => "Certificate",
        HandshakeType::ServerKeyExchange => "ServerKeyExchange",
        HandshakeType::CertificateRequest => "CertificateRequest",
        HandshakeType::ServerHelloDone => "ServerHelloDone",
        HandshakeType::CertificateVerify => "CertificateVerify",
        HandshakeType::ClientKeyExchange => "ClientKeyExchange",
        HandshakeType::Finished => "Finished",
        HandshakeType::CertificateURL => "CertificateURL",
        HandshakeType::CertificateStatus => "CertificateStatus",
        HandshakeType::KeyUpdate => "KeyUpdate",
        HandshakeType::CompressedCertificate => "CompressedCertificate",
        HandshakeType::MessageHash => "message_hash",
        other => return format!("a handshake message of type {}", u8::from(*other)),
    };
    format!("a {name} message")
}

/// What a malformed message was, after "the peer sent a malformed message: ".
pub fn invalid_message(m: &InvalidMessage) -> String {
    use InvalidMessage as M;
    match m {
        M::CertificatePayloadTooLarge => "a certificate larger than this side accepts".into(),
        M::HandshakePayloadTooLarge => "a handshake message larger than this side accepts".into(),
        M::InvalidCcs => "a ChangeCipherSpec whose value is not 1".into(),
        M::InvalidContentType => "a record of an unknown content type".into(),
        M::InvalidCertificateStatusType => "a certificate status of an unknown type".into(),
        M::InvalidCertRequest => "a CertificateRequest that does not decode".into(),
        M::InvalidDhParams => "Diffie-Hellman parameters that do not decode".into(),
        M::InvalidEmptyPayload => "an empty record where TLS forbids one".into(),
        M::InvalidKeyUpdate => "a KeyUpdate with an unknown request value".into(),
        M::InvalidServerName => "a server name (SNI) that is not a valid host name".into(),
        M::MessageTooLarge => "a record larger than TLS allows".into(),
        M::MessageTooShort => "a message shorter than its fields".into(),
        M::MissingData(what) => format!("{} cut short", type_words(what)),
        M::MissingKeyExchange => "a ServerKeyExchange the cipher suite needs is missing".into(),
        M::NoSignatureSchemes => "an empty list of signature schemes".into(),
        M::TrailingData(what) => format!("{} with bytes after its end", type_words(what)),
        M::UnexpectedMessage(what) => format!("{} where it does not belong", type_words(what)),
        M::UnknownProtocolVersion => "a protocol version TLS does not define".into(),
        M::UnsupportedCompression => "a compression method other than none".into(),
        M::UnsupportedCurveType => "an elliptic curve type other than named_curve".into(),
        M::UnsupportedKeyExchangeAlgorithm(_) => {
            "a key exchange for an algorithm the cipher suite does not use".into()
        }
        M::EmptyTicketValue => "an empty session ticket".into(),
        M::IllegalEmptyList(what) => format!("an empty list of {}", type_words(what)),
        M::IllegalEmptyValue => "an empty value where TLS forbids one".into(),
        M::DuplicateExtension(t) => format!("extension {t} twice in one message"),
        M::PreSharedKeyIsNotFinalExtension => {
            "a pre_shared_key extension that is not the last extension".into()
        }
        M::UnknownHelloRetryRequestExtension => {
            "an extension a HelloRetryRequest may not carry".into()
        }
        M::UnknownCertificateExtension => "an extension a Certificate may not carry".into(),
        _ => "a message rustls refuses for a reason this memtls does not name yet".into(),
    }
}

/// What the peer did wrong, after "the peer broke the protocol: ".
pub fn misbehaved(p: &PeerMisbehaved) -> &'static str {
    use PeerMisbehaved as P;
    match p {
        P::AttemptedDowngradeToTls12WhenTls13IsSupported => {
            "the server chose TLS 1.2 although its random says it supports TLS 1.3 \
             (a downgrade)"
        }
        P::BadCertChainExtensions => "its certificate chain carries extensions it may not",
        P::CipherSuiteDifferedOnRetry => "it changed the cipher suite after a HelloRetryRequest",
        P::DisallowedEncryptedExtension => "an encrypted extension TLS does not allow there",
        P::DuplicateClientHelloExtensions => "the ClientHello repeats an extension",
        P::DuplicateEncryptedExtensions => "the EncryptedExtensions repeat an extension",
        P::DuplicateHelloRetryRequestExtensions => "the HelloRetryRequest repeats an extension",
        P::DuplicateNewSessionTicketExtensions => "a NewSessionTicket repeats an extension",
        P::DuplicateServerHelloExtensions => "the ServerHello repeats an extension",
        P::DuplicateServerNameTypes => "the server_name extension repeats a name type",
        P::EarlyDataAttemptedInSecondClientHello => "early data in the second ClientHello",
        P::EarlyDataExtensionWithoutResumption => "early data offered without resumption",
        P::EarlyDataOfferedWithVariedCipherSuite => {
            "early data offered with another cipher suite than the session's"
        }
        P::EchAcceptanceVariedAfterRetry => {
            "it accepted encrypted ClientHello in one hello and not the other"
        }
        P::HandshakeHashVariedAfterRetry => "the handshake hash changed after a retry",
        P::IllegalHelloRetryRequestWithEmptyCookie => "a HelloRetryRequest with an empty cookie",
        P::IllegalHelloRetryRequestWithNoChanges => "a HelloRetryRequest that asks for no change",
        P::IllegalHelloRetryRequestWithOfferedGroup => {
            "a HelloRetryRequest for a key share already offered"
        }
        P::IllegalHelloRetryRequestWithUnofferedCipherSuite => {
            "a HelloRetryRequest choosing a cipher suite never offered"
        }
        P::IllegalHelloRetryRequestWithUnofferedNamedGroup => {
            "a HelloRetryRequest for a group never offered"
        }
        P::IllegalHelloRetryRequestWithUnsupportedVersion => {
            "a HelloRetryRequest for a version never offered"
        }
        P::IllegalHelloRetryRequestWithWrongSessionId => {
            "a HelloRetryRequest that does not echo the session id"
        }
        P::IllegalHelloRetryRequestWithInvalidEch => {
            "a HelloRetryRequest with an invalid encrypted ClientHello confirmation"
        }
        P::IllegalMiddleboxChangeCipherSpec => {
            "a ChangeCipherSpec where middlebox compatibility does not allow one"
        }
        P::IllegalTlsInnerPlaintext => "an encrypted record with no content type inside",
        P::IncorrectBinder => "a pre-shared key binder that does not verify",
        P::InvalidCertCompression => "a compressed certificate that does not decompress",
        P::InvalidMaxEarlyDataSize => "an invalid max_early_data_size",
        P::InvalidKeyShare => "a key share that is not a valid public value for its group",
        P::KeyEpochWithPendingFragment => "a key change in the middle of a handshake message",
        P::KeyUpdateReceivedInQuicConnection => "a KeyUpdate in a QUIC connection",
        P::MessageInterleavedWithHandshakeMessage => {
            "another record in the middle of a handshake message"
        }
        P::MissingBinderInPskExtension => "a pre-shared key without its binder",
        P::MissingKeyShare => "no key share",
        P::MissingPskExtensionInSecondClientHello => {
            "a second ClientHello without the first's pre_shared_key"
        }
        P::MissingPskModesExtension => "a pre-shared key without psk_key_exchange_modes",
        P::MissingQuicTransportParameters => "no QUIC transport parameters",
        P::OfferedDuplicateCertificateCompressions => {
            "a certificate compression algorithm offered twice"
        }
        P::OfferedDuplicateKeyShares => "two key shares for one group",
        P::OfferedEarlyDataWithOldProtocolVersion => "early data offered below TLS 1.3",
        P::OfferedEmptyApplicationProtocol => "an empty ALPN protocol name",
        P::OfferedIncorrectCompressions => "compression methods TLS 1.3 forbids",
        P::PskExtensionMustBeLast => "a pre_shared_key extension that is not the last",
        P::PskExtensionWithMismatchedIdsAndBinders => {
            "a pre_shared_key with unequal numbers of identities and binders"
        }
        P::RefusedToFollowHelloRetryRequest => {
            "a second ClientHello that does not do what the HelloRetryRequest asked"
        }
        P::RejectedEarlyDataInterleavedWithHandshakeMessage => {
            "rejected early data in the middle of a handshake message"
        }
        P::ResumptionAttemptedWithVariedEms => {
            "a resumption whose extended master secret setting differs from the session's"
        }
        P::ResumptionOfferedWithVariedCipherSuite => {
            "a resumption with another cipher suite than the session's"
        }
        P::ResumptionOfferedWithVariedEms => {
            "a resumption offer whose extended master secret setting differs from the \
             session's"
        }
        P::ResumptionOfferedWithIncompatibleCipherSuite => {
            "a resumption with a cipher suite the session cannot use"
        }
        P::SelectedDifferentCipherSuiteAfterRetry => {
            "the ServerHello chose another cipher suite than the HelloRetryRequest"
        }
        P::SelectedInvalidPsk => "the server chose a pre-shared key that does not exist",
        P::SelectedTls12UsingTls13VersionExtension => {
            "TLS 1.2 chosen through the TLS 1.3 supported_versions extension"
        }
        P::SelectedUnofferedApplicationProtocol => "an ALPN protocol that was not offered",
        P::SelectedUnofferedCertCompression => {
            "a certificate compression algorithm that was not offered"
        }
        P::SelectedUnofferedCipherSuite => "a cipher suite that was not offered",
        P::SelectedUnofferedCompression => "a compression method that was not offered",
        P::SelectedUnofferedKxGroup => "a key exchange group that was not offered",
        P::SelectedUnofferedPsk => "a pre-shared key that was not offered",
        P::SelectedUnusableCipherSuiteForVersion => {
            "a cipher suite that does not exist in the chosen TLS version"
        }
        P::ServerEchoedCompatibilitySessionId => {
            "the server echoed a session id in TLS 1.2 that was sent only for compatibility"
        }
        P::ServerHelloMustOfferUncompressedEcPoints => {
            "the ServerHello does not allow uncompressed elliptic-curve points"
        }
        P::ServerNameDifferedOnRetry => "the server name changed after a HelloRetryRequest",
        P::ServerNameMustContainOneHostName => "a server_name with other than one host name",
        P::SignedKxWithWrongAlgorithm => {
            "a key exchange signed with an algorithm its certificate does not have"
        }
        P::SignedHandshakeWithUnadvertisedSigScheme => {
            "a signature with a scheme this side did not offer"
        }
        P::TooManyEmptyFragments => "too many empty records",
        P::TooManyKeyUpdateRequests => "too many KeyUpdate requests",
        P::TooManyRenegotiationRequests => "too many renegotiation requests",
        P::TooManyWarningAlertsReceived => "too many warning alerts",
        P::TooMuchEarlyDataReceived => "more early data than allowed",
        P::UnexpectedCleartextExtension => "an extension in the clear that must be encrypted",
        P::UnsolicitedCertExtension => "a certificate extension that was not asked for",
        P::UnsolicitedEncryptedExtension => "an encrypted extension that was not asked for",
        P::UnsolicitedSctList => "certificate transparency timestamps that were not asked for",
        P::UnsolicitedServerHelloExtension => "a ServerHello extension that was not asked for",
        P::WrongGroupForKeyShare => "a key share for another group than the one chosen",
        P::UnsolicitedEchExtension => "an encrypted ClientHello extension not asked for",
        _ => "a step rustls refuses for a reason this memtls does not name yet",
    }
}

/// Why the peer cannot be talked to, as a whole sentence.
pub fn incompatible(why: &PeerIncompatible) -> &'static str {
    use PeerIncompatible as P;
    match why {
        P::EcPointsExtensionRequired => {
            "the peer does not send the ec_point_formats extension TLS 1.2 needs here"
        }
        P::ExtendedMasterSecretExtensionRequired => {
            "the peer does not offer the extended master secret (RFC 7627), which memtls \
             requires for TLS 1.2"
        }
        P::IncorrectCertificateTypeExtension => {
            "the peer asks for a certificate type other than X.509"
        }
        P::KeyShareExtensionRequired => "the peer sends no key_share, which TLS 1.3 needs",
        P::NamedGroupsExtensionRequired => {
            "the peer sends no supported_groups, which TLS 1.3 needs"
        }
        P::NoCertificateRequestSignatureSchemesInCommon => {
            "the server asks for a client certificate signed with no scheme this side can use"
        }
        P::NoCipherSuitesInCommon => "the peer offers no cipher suite this side accepts",
        P::NoEcPointFormatsInCommon => "the peer offers no elliptic-curve point format in common",
        P::NoKxGroupsInCommon => "the peer offers no key exchange group this side accepts",
        P::NoSignatureSchemesInCommon => "the peer offers no signature scheme this side can use",
        P::NullCompressionRequired => "the peer does not offer null compression",
        P::ServerDoesNotSupportTls12Or13 => "the server supports neither TLS 1.2 nor 1.3",
        P::ServerSentHelloRetryRequestWithUnknownExtension => {
            "the server's HelloRetryRequest carries an extension this side does not know"
        }
        P::ServerTlsVersionIsDisabledByOurConfig => {
            "the server chose a TLS version this side's configuration does not allow"
        }
        P::SignatureAlgorithmsExtensionRequired => {
            "the peer sends no signature_algorithms, which this side needs"
        }
        P::Tls12NotOffered
        | P::Tls12NotOfferedOrEnabled
        | P::SupportedVersionsExtensionRequired => "the peer offers neither TLS 1.2 nor TLS 1.3",
        P::Tls13RequiredForQuic => "QUIC needs TLS 1.3",
        P::UncompressedEcPointsRequired => {
            "the peer does not allow uncompressed elliptic-curve points"
        }
        P::UnsolicitedCertificateTypeExtension => {
            "the peer sent a certificate type extension that was not asked for"
        }
        P::ServerRejectedEncryptedClientHello(_) => "the server refused the encrypted ClientHello",
        _ => {
            "the peer cannot do what this side requires, for a reason this memtls does not \
              name yet"
        }
    }
}

/// webpki's refusals that rustls passes on as `CertificateError::Other` (its
/// `Display` is its `Debug`), as a sentence.
pub fn webpki_refusal(e: &webpki::Error) -> String {
    use webpki::Error as W;
    let text = match e {
        W::BadDer => "a certificate in the chain is not valid DER",
        W::BadDerTime => "a certificate in the chain has a time that is not valid DER",
        W::CaUsedAsEndEntity => {
            "the certificate is a CA certificate (basicConstraints CA:TRUE), which a TLS \
             peer may not present as its own"
        }
        W::CertDistrusted => "the certificate is distrusted",
        W::EmptyEkuExtension => "the certificate's extended key usage is empty",
        W::EndEntityUsedAsCa => "a certificate that is not a CA issued another",
        W::ExtensionValueInvalid => "a certificate extension has an invalid value",
        W::InvalidCertValidity => "a certificate's validity period ends before it begins",
        W::InvalidNetworkMaskConstraint => "a name constraint has an invalid network mask",
        W::InvalidSerialNumber => "a certificate's serial number is invalid",
        W::InvalidSignatureForPublicKey => "a signature in the chain does not verify",
        W::MalformedDnsIdentifier => "a DNS name in the certificate is malformed",
        W::MalformedExtensions => "a certificate's extensions are malformed",
        W::MalformedNameConstraint => "a name constraint is malformed",
        W::MaximumNameConstraintComparisonsExceeded => {
            "checking the chain's name constraints took more comparisons than allowed"
        }
        W::MaximumPathBuildCallsExceeded => "building a path took more steps than allowed",
        W::MaximumPathDepthExceeded => "the chain is longer than allowed",
        W::MaximumSignatureChecksExceeded => {
            "building a path took more signature checks than allowed"
        }
        W::NameConstraintViolation => "the certificate violates its issuer's name constraints",
        W::PathLenConstraintViolated => "the chain is longer than an issuer's pathLen allows",
        W::SignatureAlgorithmMismatch => {
            "a certificate's signature algorithm differs from the one its body names"
        }
        W::TrailingData(_) => "a certificate in the chain has bytes after its end",
        W::UnknownIssuer => "no trust anchor vouches for the certificate (unknown issuer)",
        W::UnsupportedCertVersion => "a certificate is not X.509 version 3",
        W::UnsupportedCriticalExtension => {
            "a certificate has a critical extension this side does not understand"
        }
        W::UnsupportedNameType => "the certificate names its subject in an unsupported form",
        _ => "webpki refuses the chain for a reason this memtls does not name yet",
    };
    text.into()
}

/// A type name rustls gives as a string (`ProtocolVersion`, `ServerNamePayload`)
/// in words: `protocol version`, `server name payload`.
fn type_words(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    let mut prev = ' ';
    for c in name.chars() {
        if c.is_uppercase() && (prev.is_lowercase() || prev.is_ascii_digit()) {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
        prev = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_names_are_the_registry_s() {
        assert_eq!(alert_name(112), "unrecognized_name");
        assert_eq!(alert_name(48), "unknown_ca");
        assert_eq!(alert_name(120), "no_application_protocol");
        assert_eq!(alert_name(200), "unknown_alert");
    }

    #[test]
    fn type_names_become_words() {
        assert_eq!(type_words("ProtocolVersion"), "protocol version");
        assert_eq!(type_words("u8"), "u8");
    }
}
