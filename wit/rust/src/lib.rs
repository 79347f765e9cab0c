//! The conversions between the engine's types and the bindings generated
//! from the `memtls:tls` WIT package (`wit/tls.wit`, the directory above this
//! crate): wit-bindgen's (the guest provider, the scenario component) and
//! `wasmtime::component::bindgen!`'s (the host). Both generators produce types
//! with the same names and shapes, so one macro writes the conversions for
//! every one of them; the engine itself knows nothing of WIT.

#![warn(missing_docs)]

#[doc(hidden)]
pub use memtls_engine;

/// Writes a module `convert` of conversion functions between the engine and the
/// generated bindings found at the given module path (the generated `tls`
/// interface module), e.g.
/// `memtls_wit::wit_conversions!(crate::exports::memtls::tls::tls);`.
#[macro_export]
macro_rules! wit_conversions {
    ($($m:ident)::+) => {
        /// Conversions between `memtls-engine` types and the generated WIT types.
        #[allow(dead_code)]
        pub(crate) mod convert {
            use $($m)::+ as w;
            use $crate::memtls_engine as e;

            pub(crate) fn to_version(v: w::ProtocolVersion) -> e::ProtocolVersion {
                match v {
                    w::ProtocolVersion::Tls12 => e::ProtocolVersion::Tls12,
                    w::ProtocolVersion::Tls13 => e::ProtocolVersion::Tls13,
                }
            }

            pub(crate) fn from_version(v: e::ProtocolVersion) -> w::ProtocolVersion {
                match v {
                    e::ProtocolVersion::Tls12 => w::ProtocolVersion::Tls12,
                    e::ProtocolVersion::Tls13 => w::ProtocolVersion::Tls13,
                }
            }

            pub(crate) fn from_suite(s: e::CipherSuite) -> w::CipherSuite {
                w::CipherSuite { id: s.id, name: s.name }
            }

            pub(crate) fn from_group(g: e::KeyExchangeGroup) -> w::KeyExchangeGroup {
                w::KeyExchangeGroup { id: g.id, name: g.name }
            }

            pub(crate) fn from_session_info(i: &e::SessionInfo) -> w::SessionInfo {
                w::SessionInfo {
                    id: i.id.clone(),
                    created: i.created,
                    ticket_lifetime: i.ticket_lifetime,
                    has_ticket: i.has_ticket,
                    protocol_version: from_version(i.version),
                }
            }

            pub(crate) fn from_client_hello(h: &e::ClientHello) -> w::ClientHello {
                w::ClientHello {
                    server_name: h.server_name.clone(),
                    alpn_protocols: h.alpn_protocols.clone(),
                    cipher_suites: h.cipher_suites.clone(),
                    key_exchange_groups: h.key_exchange_groups.clone(),
                }
            }

            pub(crate) fn from_progress(p: e::Progress) -> w::Progress {
                match p {
                    e::Progress::Done => w::Progress::Done,
                    e::Progress::WantRead => w::Progress::WantRead,
                    e::Progress::WantWrite => w::Progress::WantWrite,
                }
            }

            pub(crate) fn from_read(o: e::ReadOutcome) -> w::ReadOutcome {
                match o {
                    e::ReadOutcome::Data(d) => w::ReadOutcome::Data(d),
                    e::ReadOutcome::WantRead => w::ReadOutcome::WantRead,
                    e::ReadOutcome::WantWrite => w::ReadOutcome::WantWrite,
                }
            }

            pub(crate) fn from_write(o: e::WriteOutcome) -> w::WriteOutcome {
                match o {
                    e::WriteOutcome::Written(n) => w::WriteOutcome::Written(n),
                    e::WriteOutcome::WantRead => w::WriteOutcome::WantRead,
                    e::WriteOutcome::WantWrite => w::WriteOutcome::WantWrite,
                }
            }

            pub(crate) fn to_trust(t: w::TrustStore) -> e::TrustStore {
                e::TrustStore { system: t.system, anchors: t.anchors, pinned: t.pinned }
            }

            fn to_chain(c: w::SigningChain) -> e::SigningChain {
                e::SigningChain {
                    certificates: c.certificates,
                    private_key: c.private_key,
                    private_key_password: c.private_key_password,
                    host_identity: c.host_identity,
                }
            }

            pub(crate) fn to_client_config(c: w::ClientConfig) -> e::ClientConfig {
                e::ClientConfig {
                    trust: to_trust(c.trust),
                    certificate_chain: c.certificate_chain.map(to_chain),
                    alpn_protocols: c.alpn_protocols,
                    min_version: c.min_version.map(to_version),
                    max_version: c.max_version.map(to_version),
                    cipher_suites: c.cipher_suites,
                    key_exchange_groups: c.key_exchange_groups,
                    send_sni: c.send_sni,
                }
            }

            pub(crate) fn to_server_config(c: w::ServerConfig) -> e::ServerConfig {
                e::ServerConfig {
                    certificate_chains: c.certificate_chains.into_iter().map(to_chain).collect(),
                    client_auth: match c.client_auth {
                        w::ClientAuth::None => e::ClientAuth::None,
                        w::ClientAuth::Optional(t) => e::ClientAuth::Optional(to_trust(t)),
                        w::ClientAuth::Required(t) => e::ClientAuth::Required(to_trust(t)),
                    },
                    alpn_protocols: c.alpn_protocols,
                    min_version: c.min_version.map(to_version),
                    max_version: c.max_version.map(to_version),
                    cipher_suites: c.cipher_suites,
                    key_exchange_groups: c.key_exchange_groups,
                    session_tickets: c.session_tickets,
                }
            }

            fn from_reason(r: e::CertificateReason) -> w::CertificateReason {
                match r {
                    e::CertificateReason::Expired => w::CertificateReason::Expired,
                    e::CertificateReason::NotYetValid => w::CertificateReason::NotYetValid,
                    e::CertificateReason::UnknownIssuer => w::CertificateReason::UnknownIssuer,
                    e::CertificateReason::BadSignature => w::CertificateReason::BadSignature,
                    e::CertificateReason::NameMismatch => w::CertificateReason::NameMismatch,
                    e::CertificateReason::Revoked => w::CertificateReason::Revoked,
                    e::CertificateReason::NoCertificate => w::CertificateReason::NoCertificate,
                    e::CertificateReason::Other => w::CertificateReason::Other,
                }
            }

            fn from_name(n: e::DistinguishedName) -> Vec<Vec<w::NameAttribute>> {
                n.into_iter()
                    .map(|rdn| {
                        rdn.into_iter()
                            .map(|a| w::NameAttribute {
                                name: a.name,
                                value: match a.value {
                                    e::NameValue::Text(t) => w::NameValue::Text(t),
                                    e::NameValue::Bits(b) => w::NameValue::Bits(b),
                                },
                            })
                            .collect()
                    })
                    .collect()
            }

            pub(crate) fn from_certificate_info(i: e::CertificateInfo) -> w::CertificateInfo {
                w::CertificateInfo {
                    subject: from_name(i.subject),
                    issuer: from_name(i.issuer),
                    version: i.version,
                    serial_number: i.serial_number,
                    not_before: i.not_before,
                    not_after: i.not_after,
                    subject_alt_names: i.subject_alt_names.map(|names| {
                        names
                            .into_iter()
                            .map(|n| w::AltName {
                                kind: n.kind,
                                value: match n.value {
                                    e::AltNameValue::Text(t) => w::AltNameValue::Text(t),
                                    e::AltNameValue::Directory(d) => {
                                        w::AltNameValue::Directory(from_name(d))
                                    }
                                },
                            })
                            .collect()
                    }),
                    ocsp: i.ocsp,
                    ca_issuers: i.ca_issuers,
                    crl_distribution_points: i.crl_distribution_points,
                    is_ca: i.is_ca,
                }
            }

            // The other direction, for an application that drives the
            // interface with the engine's types (the scenario suite).

            pub(crate) fn from_trust(t: e::TrustStore) -> w::TrustStore {
                w::TrustStore { system: t.system, anchors: t.anchors, pinned: t.pinned }
            }

            fn from_chain(c: e::SigningChain) -> w::SigningChain {
                w::SigningChain {
                    certificates: c.certificates,
                    private_key: c.private_key,
                    private_key_password: c.private_key_password,
                    host_identity: c.host_identity,
                }
            }

            pub(crate) fn from_client_config(c: e::ClientConfig) -> w::ClientConfig {
                w::ClientConfig {
                    trust: from_trust(c.trust),
                    certificate_chain: c.certificate_chain.map(from_chain),
                    alpn_protocols: c.alpn_protocols,
                    min_version: c.min_version.map(from_version),
                    max_version: c.max_version.map(from_version),
                    cipher_suites: c.cipher_suites,
                    key_exchange_groups: c.key_exchange_groups,
                    send_sni: c.send_sni,
                }
            }

            pub(crate) fn from_server_config(c: e::ServerConfig) -> w::ServerConfig {
                w::ServerConfig {
                    certificate_chains: c.certificate_chains.into_iter().map(from_chain).collect(),
                    client_auth: match c.client_auth {
                        e::ClientAuth::None => w::ClientAuth::None,
                        e::ClientAuth::Optional(t) => w::ClientAuth::Optional(from_trust(t)),
                        e::ClientAuth::Required(t) => w::ClientAuth::Required(from_trust(t)),
                    },
                    alpn_protocols: c.alpn_protocols,
                    min_version: c.min_version.map(from_version),
                    max_version: c.max_version.map(from_version),
                    cipher_suites: c.cipher_suites,
                    key_exchange_groups: c.key_exchange_groups,
                    session_tickets: c.session_tickets,
                }
            }

            fn to_name(n: Vec<Vec<w::NameAttribute>>) -> e::DistinguishedName {
                n.into_iter()
                    .map(|rdn| {
                        rdn.into_iter()
                            .map(|a| e::NameAttribute {
                                name: a.name,
                                value: match a.value {
                                    w::NameValue::Text(t) => e::NameValue::Text(t),
                                    w::NameValue::Bits(b) => e::NameValue::Bits(b),
                                },
                            })
                            .collect()
                    })
                    .collect()
            }

            pub(crate) fn to_certificate_info(i: w::CertificateInfo) -> e::CertificateInfo {
                e::CertificateInfo {
                    subject: to_name(i.subject),
                    issuer: to_name(i.issuer),
                    version: i.version,
                    serial_number: i.serial_number,
                    not_before: i.not_before,
                    not_after: i.not_after,
                    subject_alt_names: i.subject_alt_names.map(|names| {
                        names
                            .into_iter()
                            .map(|n| e::AltName {
                                kind: n.kind,
                                value: match n.value {
                                    w::AltNameValue::Text(t) => e::AltNameValue::Text(t),
                                    w::AltNameValue::Directory(d) => {
                                        e::AltNameValue::Directory(to_name(d))
                                    }
                                },
                            })
                            .collect()
                    }),
                    ocsp: i.ocsp,
                    ca_issuers: i.ca_issuers,
                    crl_distribution_points: i.crl_distribution_points,
                    is_ca: i.is_ca,
                }
            }

            pub(crate) fn to_suite(s: w::CipherSuite) -> e::CipherSuite {
                e::CipherSuite { id: s.id, name: s.name }
            }

            pub(crate) fn to_group(g: w::KeyExchangeGroup) -> e::KeyExchangeGroup {
                e::KeyExchangeGroup { id: g.id, name: g.name }
            }

            pub(crate) fn to_progress(p: w::Progress) -> e::Progress {
                match p {
                    w::Progress::Done => e::Progress::Done,
                    w::Progress::WantRead => e::Progress::WantRead,
                    w::Progress::WantWrite => e::Progress::WantWrite,
                }
            }

            pub(crate) fn to_read(o: w::ReadOutcome) -> e::ReadOutcome {
                match o {
                    w::ReadOutcome::Data(d) => e::ReadOutcome::Data(d),
                    w::ReadOutcome::WantRead => e::ReadOutcome::WantRead,
                    w::ReadOutcome::WantWrite => e::ReadOutcome::WantWrite,
                }
            }

            pub(crate) fn to_write(o: w::WriteOutcome) -> e::WriteOutcome {
                match o {
                    w::WriteOutcome::Written(n) => e::WriteOutcome::Written(n),
                    w::WriteOutcome::WantRead => e::WriteOutcome::WantRead,
                    w::WriteOutcome::WantWrite => e::WriteOutcome::WantWrite,
                }
            }

            pub(crate) fn to_session_info(i: w::SessionInfo) -> e::SessionInfo {
                e::SessionInfo {
                    id: i.id,
                    created: i.created,
                    ticket_lifetime: i.ticket_lifetime,
                    has_ticket: i.has_ticket,
                    version: to_version(i.protocol_version),
                }
            }

            pub(crate) fn to_client_hello(h: w::ClientHello) -> e::ClientHello {
                e::ClientHello {
                    server_name: h.server_name,
                    alpn_protocols: h.alpn_protocols,
                    cipher_suites: h.cipher_suites,
                    key_exchange_groups: h.key_exchange_groups,
                }
            }

            fn to_reason(r: w::CertificateReason) -> e::CertificateReason {
                match r {
                    w::CertificateReason::Expired => e::CertificateReason::Expired,
                    w::CertificateReason::NotYetValid => e::CertificateReason::NotYetValid,
                    w::CertificateReason::UnknownIssuer => e::CertificateReason::UnknownIssuer,
                    w::CertificateReason::BadSignature => e::CertificateReason::BadSignature,
                    w::CertificateReason::NameMismatch => e::CertificateReason::NameMismatch,
                    w::CertificateReason::Revoked => e::CertificateReason::Revoked,
                    w::CertificateReason::NoCertificate => e::CertificateReason::NoCertificate,
                    w::CertificateReason::Other => e::CertificateReason::Other,
                }
            }

            pub(crate) fn to_engine_error(err: w::Error) -> e::Error {
                let kind = match err.kind {
                    w::ErrorKind::Closed => e::ErrorKind::Closed,
                    w::ErrorKind::RaggedEof => e::ErrorKind::RaggedEof,
                    w::ErrorKind::CertificateRejected(r) => {
                        e::ErrorKind::CertificateRejected(to_reason(r))
                    }
                    w::ErrorKind::AlertReceived(c) => e::ErrorKind::AlertReceived(c),
                    w::ErrorKind::AlertSent(c) => e::ErrorKind::AlertSent(c),
                    w::ErrorKind::Protocol => e::ErrorKind::Protocol,
                    w::ErrorKind::Configuration => e::ErrorKind::Configuration,
                    w::ErrorKind::Misuse => e::ErrorKind::Misuse,
                    w::ErrorKind::ResourceLimit => e::ErrorKind::ResourceLimit,
                    w::ErrorKind::NotPermitted => e::ErrorKind::NotPermitted,
                };
                e::Error { kind, message: err.message }
            }

            pub(crate) fn from_engine_error(err: e::Error) -> w::Error {
                let kind = match err.kind {
                    e::ErrorKind::Closed => w::ErrorKind::Closed,
                    e::ErrorKind::RaggedEof => w::ErrorKind::RaggedEof,
                    e::ErrorKind::CertificateRejected(r) => {
                        w::ErrorKind::CertificateRejected(from_reason(r))
                    }
                    e::ErrorKind::AlertReceived(c) => w::ErrorKind::AlertReceived(c),
                    e::ErrorKind::AlertSent(c) => w::ErrorKind::AlertSent(c),
                    e::ErrorKind::Protocol => w::ErrorKind::Protocol,
                    e::ErrorKind::Configuration => w::ErrorKind::Configuration,
                    e::ErrorKind::Misuse => w::ErrorKind::Misuse,
                    e::ErrorKind::ResourceLimit => w::ErrorKind::ResourceLimit,
                    e::ErrorKind::NotPermitted => w::ErrorKind::NotPermitted,
                };
                w::Error { kind, message: err.message }
            }
        }
    };
}
