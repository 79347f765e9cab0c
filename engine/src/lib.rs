//! The sans-IO engine behind both memtls providers.
//!
//! It implements the semantics of the `memtls:tls` WIT interface on rustls, once:
//! configuration validation, contexts, the memory-channel connection, and the
//! mapping of rustls errors to the interface's error kinds. It has no wasm or
//! wasmtime dependency; the guest provider compiles it to `wasm32-wasip2`, the host
//! provider natively. The providers differ only in crypto provider, trust source
//! and placement, which they pass in through [`EngineOptions`].

#![warn(missing_docs)]

mod acceptor;
mod certificate_info;
mod check;
mod config;
mod connection;
mod error;
mod hybrid;
mod identity;
mod names;
mod pem;
mod policy;
mod prose;
mod provider;
mod resolve;
mod session;
mod state;
#[macro_use]
mod verify;
mod danger;
mod encrypted_key;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{ServerName, UnixTime};

pub use acceptor::{Acceptor, ClientHello};
pub use certificate_info::{
    AltName, AltNameValue, CertificateInfo, DistinguishedName, NameAttribute, NameValue,
    certificate_info,
};
pub use config::{
    CipherSuite, ClientAuth, ClientConfig, KeyExchangeGroup, PlatformTrust, ProtocolVersion,
    ServerConfig, SigningChain, SystemRoots, TrustStore, Verification, version_range,
};
pub use connection::{
    Connection, MAX_EXPORT_CONTEXT_LEN, MAX_EXPORT_LABEL_LEN, MAX_EXPORT_LEN, Progress,
    ReadOutcome, WriteOutcome,
};
pub use encrypted_key::{MAX_PBKDF2_ITERATIONS, MAX_SCRYPT_MEMORY, MAX_SCRYPT_WORK};
pub use error::{CertificateReason, Error, ErrorKind, Result, Stage};
pub use identity::{DelegatedSign, HostIdentity, KeyOperations, Purpose, RawKey, RsaPadding};
pub use pem::{
    parse_certificate_item, parse_certificates, parse_private_key, parse_private_key_with_password,
};
pub use policy::{
    Admission, BaseRoots, DEFAULT_MAX_BUFFERED, DEFAULT_MAX_CHAIN_BYTES,
    DEFAULT_MAX_CHAIN_CERTIFICATES, Permit, Policy,
};
pub use prose::{alert_name, group_id, group_label, group_name};
pub use provider::{
    RustlsProvider, TlsAcceptor, TlsClientContext, TlsConnection, TlsProvider, TlsServerContext,
    TlsSession, engine_acceptor,
};
pub use rustls;
pub use session::{Session, SessionInfo};
pub use state::ConnectionState;
pub use verify::{MAX_PATH_STEPS, client_auth_anchors};

use rustls::client::danger::ServerCertVerifier;

/// What a provider supplies to the engine.
pub struct EngineOptions {
    /// Name reported by `implementation`.
    pub name: String,
    /// Version reported by `implementation`.
    pub version: String,
    /// The crypto provider (cipher suites in default preference order).
    pub crypto: CryptoProvider,
    /// The platform's trust store, where the provider has one (the native
    /// provider); without, [`BaseRoots::Platform`] means the Mozilla roots.
    pub platform_trust: Option<Arc<dyn PlatformTrust>>,
    /// What `system` trust starts from ([`Policy::base_roots`]).
    pub base_roots: BaseRoots,
    /// Extra anchors (PEM or DER) the embedder adds to `system` trust
    /// ([`Policy::extra_system_anchors`]).
    pub extra_system_anchors: Vec<Vec<u8>>,
    /// Put ChaCha20-Poly1305 suites first in the defaults (for Wasm, which has no
    /// AES instructions).
    pub prefer_chacha20: bool,
    /// Makes the session-ticket encrypter of a server context that issues
    /// tickets, from the same crypto library as `crypto` (e.g.
    /// `rustls::crypto::ring::Ticketer::new`).
    pub ticketer: Ticketer,
}

impl EngineOptions {
    /// Options on ring (crypto and ticketer) with the Mozilla roots as `system`
    /// trust, no platform trust, no extra anchors and the provider's suite
    /// order: what tests and simple embedders start from (change fields with
    /// struct update syntax).
    pub fn ring(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            crypto: post_quantum_first(rustls::crypto::ring::default_provider()),
            platform_trust: None,
            base_roots: BaseRoots::Mozilla,
            extra_system_anchors: Vec::new(),
            prefer_chacha20: false,
            ticketer: rustls::crypto::ring::Ticketer::new,
        }
    }
}

/// X25519MLKEM768, the hybrid both rustls providers offer first, as a rustls
/// key-exchange group (for an embedder's own rustls configurations).
pub use hybrid::X25519MLKEM768;

/// `crypto` offering the hybrid X25519MLKEM768 first (then its own groups):
/// clients send its share and X25519's, servers prefer it when offered.
pub fn post_quantum_first(mut crypto: CryptoProvider) -> CryptoProvider {
    crypto.kx_groups.insert(0, hybrid::X25519MLKEM768);
    crypto
}

/// Makes a server context's session-ticket encrypter ([`EngineOptions::ticketer`]).
pub type Ticketer =
    fn() -> std::result::Result<Arc<dyn rustls::server::ProducesTickets>, rustls::Error>;

/// The engine: a crypto provider and a trust source, from which contexts are
/// built. The `system` verifier is built once, on first use, and shared by every
/// context (and every instance the engine serves).
pub struct Engine {
    name: String,
    version: String,
    crypto: Arc<CryptoProvider>,
    platform_trust: Option<Arc<dyn PlatformTrust>>,
    base_roots: BaseRoots,
    extra_system_anchors: Vec<Vec<u8>>,
    ticketer: Ticketer,
    system_verifier: OnceLock<Result<Arc<dyn ServerCertVerifier>>>,
}

impl Engine {
    /// Builds an engine.
    pub fn new(options: EngineOptions) -> Self {
        let mut crypto = options.crypto;
        if options.prefer_chacha20 {
            // Stable sort: ChaCha first, otherwise the provider's order.
            crypto
                .cipher_suites
                .sort_by_key(|s| !s.suite().as_str().is_some_and(|n| n.contains("CHACHA20")));
        }
        Self {
            name: options.name,
            version: options.version,
            crypto: Arc::new(crypto),
            platform_trust: options.platform_trust,
            base_roots: options.base_roots,
            extra_system_anchors: options.extra_system_anchors,
            ticketer: options.ticketer,
            system_verifier: OnceLock::new(),
        }
    }

    /// The verifier for `system` trust (the base roots the policy chose plus
    /// its extra anchors), built on first use.
    fn system_verifier(&self) -> Result<Arc<dyn ServerCertVerifier>> {
        self.system_verifier
            .get_or_init(|| {
                let what = "extra system anchors";
                let mut roots = verify::Roots::default();
                let platform = match (self.base_roots, &self.platform_trust) {
                    (BaseRoots::None, _) => None,
                    (BaseRoots::Platform, Some(platform)) => match platform
                        .roots(&self.crypto)
                        .map_err(|e| Error::from_rustls_config("the platform's trust store", e))?
                    {
                        SystemRoots::Certificates(certs) => {
                            roots.add(certs, None)?;
                            None
                        }
                        SystemRoots::Verifier(verifier) => Some(verifier),
                    },
                    (BaseRoots::Platform, None) | (BaseRoots::Mozilla, _) => {
                        roots.add(mozilla_roots(), None)?;
                        None
                    }
                };
                let extra = parse_certificates(&self.extra_system_anchors, what)?;
                roots.add(extra.clone(), Some(what))?;
                let chains = if roots.is_empty() {
                    None
                } else {
                    Some(verify::chains_verifier(roots, &self.crypto)?)
                };
                let system = match (chains, platform) {
                    (Some(chains), Some(platform)) => verify::any_of(chains, platform),
                    (Some(verifier), None) | (None, Some(verifier)) => verifier,
                    (None, None) if self.base_roots == BaseRoots::None => {
                        return Err(Error::system_trust_empty());
                    }
                    (None, None) => {
                        return Err(Error::config(format!(
                            "system trust is empty: the {} roots hold no usable certificate \
                             here and the host's policy adds no anchors",
                            self.base_roots.name()
                        )));
                    }
                };
                // An extra anchor that a server presents as its own certificate
                // is trusted directly, as an anchor in a trust store is (and
                // as OpenSSL trusts a certificate in its store): `--ca-file
                // server.pem` then accepts the self-signed certificate `openssl
                // req -x509` made for that server.
                Ok(match extra.is_empty() {
                    true => system,
                    false => verify::pins_first(extra, Some(system), &self.crypto),
                })
            })
            .clone()
    }

    /// The verifier for a client's `trust` in `mode`.
    fn server_verifier(
        &self,
        trust: &TrustStore,
        mode: Verification,
        policy: &Policy,
    ) -> Result<Arc<dyn ServerCertVerifier>> {
        let system = if trust.system && mode != Verification::None {
            Some(self.system_verifier()?)
        } else {
            None
        };
        verify::server_verifier(
            trust,
            &self.crypto,
            system,
            mode,
            verify::ChainLimits::of(policy),
        )
    }

    /// Implementation name and version.
    pub fn implementation(&self) -> (String, String) {
        (self.name.clone(), self.version.clone())
    }

    /// Supported versions, lowest first.
    pub fn supported_versions(&self) -> Vec<ProtocolVersion> {
        ProtocolVersion::ALL.to_vec()
    }

    /// Supported cipher suites in default preference order.
    pub fn supported_cipher_suites(&self) -> Vec<CipherSuite> {
        self.crypto
            .cipher_suites
            .iter()
            .map(|s| CipherSuite::from_rustls(*s))
            .collect()
    }

    /// Supported key-exchange groups in default preference order.
    pub fn supported_key_exchange_groups(&self) -> Vec<KeyExchangeGroup> {
        self.crypto
            .kx_groups
            .iter()
            .map(|g| KeyExchangeGroup::from_rustls(*g))
            .collect()
    }

    /// Validates a client configuration and builds a context, admitted by
    /// `admission` first (the `insecure` modes also need the policy's consent).
    pub fn client_context(
        &self,
        config: &ClientConfig,
        verification: Verification,
        admission: &Admission,
    ) -> Result<ClientContext> {
        let permit = admit_client(config, verification, admission)?;
        let versions = config::versions(config.min_version, config.max_version)?;
        let provider = config::provider_with(
            &self.crypto,
            config.cipher_suites.as_deref(),
            config.key_exchange_groups.as_deref(),
        )?;
        let verifier = self.server_verifier(&config.trust, verification, admission.policy())?;
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| Error::from_rustls_config("cipher-suites / versions", e))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut tls = match &config.certificate_chain {
            None => builder.with_no_client_auth(),
            Some(chain) => {
                let ck = config::certified_key(
                    chain,
                    &provider,
                    "certificate-chain",
                    Purpose::Client,
                    admission.policy(),
                )?;
                builder.with_client_cert_resolver(Arc::new(resolve::ClientChain(ck)))
            }
        };
        tls.alpn_protocols = checked_alpn(&config.alpn_protocols)?;
        tls.enable_sni = config.send_sni;
        tls.require_ems = true;
        Ok(ClientContext {
            tls: Arc::new(tls),
            admission: admission.clone(),
            _permit: permit,
        })
    }

    /// Validates a server configuration and builds a context, admitted by
    /// `admission` first.
    pub fn server_context(
        &self,
        config: &ServerConfig,
        admission: &Admission,
    ) -> Result<ServerContext> {
        let permit = admit_server(config, admission)?;
        let versions = config::versions(config.min_version, config.max_version)?;
        let provider = config::provider_with(
            &self.crypto,
            config.cipher_suites.as_deref(),
            config.key_exchange_groups.as_deref(),
        )?;
        let keys = config
            .certificate_chains
            .iter()
            .enumerate()
            .map(|(i, c)| {
                config::certified_key(
                    c,
                    &provider,
                    &format!("certificate-chains[{i}]"),
                    Purpose::Server,
                    admission.policy(),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| Error::from_rustls_config("cipher-suites / versions", e))?;
        let builder = match verify::client_verifier(
            &config.client_auth,
            &provider,
            verify::ChainLimits::of(admission.policy()),
        )? {
            Some(v) => builder.with_client_cert_verifier(v),
            None => builder.with_no_client_auth(),
        };
        let mut tls = builder.with_cert_resolver(Arc::new(resolve::SniChains(keys)));
        tls.alpn_protocols = checked_alpn(&config.alpn_protocols)?;
        tls.require_ems = true;
        if config.session_tickets {
            tls.ticketer =
                (self.ticketer)().map_err(|e| Error::from_rustls_config("session tickets", e))?;
        }
        Ok(ServerContext {
            tls: Arc::new(tls),
            admission: admission.clone(),
            _permit: Arc::new(permit),
        })
    }

    /// Verifies a server chain as a client context with `trust` would, at
    /// `at_time` (seconds since the epoch) or now. The bytes passed count against
    /// the policy's configuration budget for the duration of the call.
    pub fn verify_server_chain(&self, call: &ChainCheck<'_>, admission: &Admission) -> Result<()> {
        let ChainCheck {
            trust,
            chain,
            server_name,
            at_time,
        } = *call;
        admission.transient(trust.byte_len().saturating_add(config::bytes_of(chain)))?;
        let certs = parse_certificates(chain, "chain")?;
        check_chain_work(&certs, admission.policy())?;
        let Some((end_entity, intermediates)) = certs.split_first() else {
            return Err(Error::misuse("chain is empty"));
        };
        let name = parse_server_name(server_name)?;
        let verifier = self.server_verifier(trust, Verification::Full, admission.policy())?;
        let now = match at_time {
            Some(secs) => UnixTime::since_unix_epoch(Duration::from_secs(secs)),
            None => UnixTime::now(),
        };
        let recording = verify::Recording::start();
        let verdict = verifier.verify_server_cert(end_entity, intermediates, &name, &[], now);
        let notes = recording.finish();
        verdict
            .map(|_| ())
            .map_err(|e| Error::from_rustls_about(&e, notes.rejected))
    }
}

/// Refuses a chain (end entity first) that the policy's chain limits or the
/// path-building budget ([`MAX_PATH_STEPS`]) would refuse, with
/// `resource-limit` and a sentence naming the limit: what every provider checks
/// before it verifies a chain it was given.
pub fn check_chain_work(
    chain: &[rustls::pki_types::CertificateDer<'_>],
    policy: &Policy,
) -> Result<()> {
    let Some((end_entity, intermediates)) = chain.split_first() else {
        return Ok(());
    };
    verify::ChainLimits::of(policy)
        .check(end_entity, intermediates)
        .map_err(|e| Error::limit(e.to_string()))
}

/// The arguments of `verify-server-chain`.
#[derive(Debug, Clone, Copy)]
pub struct ChainCheck<'a> {
    /// What to trust.
    pub trust: &'a TrustStore,
    /// The chain, end-entity first (PEM or DER items).
    pub chain: &'a [Vec<u8>],
    /// The name to verify it for.
    pub server_name: &'a str,
    /// When to verify it (seconds since the Unix epoch), or now.
    pub at_time: Option<u64>,
}

/// The Mozilla root program's roots shipped with this build.
fn mozilla_roots() -> Vec<rustls::pki_types::CertificateDer<'static>> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS.to_vec()
}

/// Admits a client context under `admission`'s policy, for every provider: the
/// `insecure` interface's verifications need the policy's consent, and the
/// configuration's bytes count against its limits.
pub fn admit_client(
    config: &ClientConfig,
    verification: Verification,
    admission: &Admission,
) -> Result<Permit> {
    if verification != Verification::Full {
        admission.policy().check_insecure()?;
    }
    admission.context(config.byte_len())
}

/// Admits a server context under `admission`'s policy, for every provider: its
/// bytes count, and a server needs a signing chain.
pub fn admit_server(config: &ServerConfig, admission: &Admission) -> Result<Permit> {
    let permit = admission.context(config.byte_len())?;
    if config.certificate_chains.is_empty() {
        return Err(Error::config(
            "certificate-chains is empty: a server needs at least one signing chain",
        ));
    }
    Ok(permit)
}

/// Parses the server name a client connects to (a DNS name or an IP address),
/// refusing anything else with a sentence that shows it.
pub fn parse_server_name(name: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(name.to_owned()).map_err(|_| {
        let shown: String = name.chars().take(64).collect();
        let more = if shown.len() < name.len() { "..." } else { "" };
        Error::config(format!(
            "{shown:?}{more} ({} bytes) is not a valid DNS name or IP address",
            name.len()
        ))
    })
}

/// The most bytes the ALPN protocol list may take in a hello (it shares the
/// 65,535 bytes of the extensions block with everything else).
pub const MAX_ALPN_LIST_LEN: usize = 4096;

/// Checks an `alpn-protocols` list (each 1 to 255 bytes, all of them fitting in
/// a hello) and returns it.
pub fn checked_alpn(protocols: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
    let mut total = 0usize;
    for (i, p) in protocols.iter().enumerate() {
        if p.is_empty() || p.len() > 255 {
            return Err(Error::config(format!(
                "alpn-protocols[{i}] must be 1 to 255 bytes long, not {}",
                p.len()
            )));
        }
        total += 1 + p.len();
    }
    if total > MAX_ALPN_LIST_LEN {
        return Err(Error::config(format!(
            "alpn-protocols take {total} bytes encoded ({} protocols); at most \
             {MAX_ALPN_LIST_LEN} fit in a hello",
            protocols.len()
        )));
    }
    Ok(protocols.to_vec())
}

/// A validated client configuration shared by its connections. It holds its
/// share of the instance's admission until dropped.
pub struct ClientContext {
    tls: Arc<rustls::ClientConfig>,
    admission: Admission,
    _permit: Permit,
}

impl ClientContext {
    /// Starts a client connection to `server_name` (admitted before the
    /// ClientHello is built). It resumes from, and adds to, the context's own
    /// session cache.
    pub fn connect(&self, server_name: &str) -> Result<Connection> {
        self.start(server_name, self.tls.clone(), None)
    }

    /// Starts a client connection whose resumption the caller controls: it
    /// offers only `resume` (nothing when `None`, or when the session is for
    /// another server name or was made under another verifier), leaves the
    /// context's cache alone, and keeps the sessions its server issues for
    /// [`Connection::session`].
    pub fn connect_with(&self, server_name: &str, resume: Option<&Session>) -> Result<Connection> {
        let sessions = Arc::new(session::ConnectionSessions::new(
            resume,
            self.admission.clone(),
        ));
        let mut tls = (*self.tls).clone();
        tls.resumption = rustls::client::Resumption::store(sessions.clone());
        self.start(server_name, Arc::new(tls), Some(sessions))
    }

    fn start(
        &self,
        server_name: &str,
        tls: Arc<rustls::ClientConfig>,
        sessions: Option<Arc<session::ConnectionSessions>>,
    ) -> Result<Connection> {
        let name = parse_server_name(server_name)?;
        let permit = self.admission.connection()?;
        let tls = rustls::ClientConnection::new(tls, name).map_err(|e| Error::from_rustls(&e))?;
        let mut c = Connection::new(
            tls.into(),
            self.admission.policy().max_buffered_bytes,
            Some(server_name.to_owned()),
            permit,
        );
        c.sessions = sessions;
        Ok(c)
    }
}

/// A validated server configuration shared by its connections. It holds its
/// share of the instance's admission until its last clone is dropped.
#[derive(Clone)]
pub struct ServerContext {
    tls: Arc<rustls::ServerConfig>,
    admission: Admission,
    _permit: Arc<Permit>,
}

impl ServerContext {
    /// Starts a server connection (admitted first).
    pub fn accept(&self) -> Result<Connection> {
        let permit = self.admission.connection()?;
        let tls =
            rustls::ServerConnection::new(self.tls.clone()).map_err(|e| Error::from_rustls(&e))?;
        Ok(Connection::new(
            tls.into(),
            self.admission.policy().max_buffered_bytes,
            None,
            permit,
        ))
    }
}
