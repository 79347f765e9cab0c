//! Configuration types (mirroring the WIT records) and their validation into
//! rustls configurations.

use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

use crate::pem::{parse_certificates, parse_private_key_with_password};
use crate::{Error, Policy, Purpose, Result};

/// A TLS protocol version (the WIT `protocol-version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl ProtocolVersion {
    /// The versions this engine supports, lowest first.
    pub const ALL: [ProtocolVersion; 2] = [ProtocolVersion::Tls12, ProtocolVersion::Tls13];

    pub(crate) fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            ProtocolVersion::Tls12 => &rustls::version::TLS12,
            ProtocolVersion::Tls13 => &rustls::version::TLS13,
        }
    }

    /// The version as people write it: `TLS 1.2`.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolVersion::Tls12 => "TLS 1.2",
            ProtocolVersion::Tls13 => "TLS 1.3",
        }
    }

    pub(crate) fn from_rustls(v: rustls::ProtocolVersion) -> Option<Self> {
        match v {
            rustls::ProtocolVersion::TLSv1_2 => Some(ProtocolVersion::Tls12),
            rustls::ProtocolVersion::TLSv1_3 => Some(ProtocolVersion::Tls13),
            _ => None,
        }
    }
}

/// A cipher suite by IANA id and name (the WIT `cipher-suite`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CipherSuite {
    /// IANA code point.
    pub id: u16,
    /// IANA name.
    pub name: String,
}

impl CipherSuite {
    pub(crate) fn from_rustls(s: SupportedCipherSuite) -> Self {
        let id = u16::from(s.suite());
        Self {
            id,
            name: s
                .suite()
                .as_str()
                .map_or_else(|| format!("0x{id:04x}"), str::to_owned),
        }
    }
}

/// A key-exchange group by IANA id and name (the WIT `key-exchange-group`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyExchangeGroup {
    /// IANA code point.
    pub id: u16,
    /// IANA name (`x25519`, not rustls's `X25519`).
    pub name: String,
}

impl KeyExchangeGroup {
    /// The group with IANA id `id`, named from the registry (its hex id when
    /// the registry has no name this engine knows).
    pub fn from_id(id: u16) -> Self {
        Self {
            id,
            name: crate::prose::group_name(id).map_or_else(|| format!("0x{id:04x}"), str::to_owned),
        }
    }

    pub(crate) fn from_rustls(group: &dyn rustls::crypto::SupportedKxGroup) -> Self {
        Self::from_id(u16::from(group.name()))
    }
}

/// Where trust comes from (the WIT `trust-store`). The sources add up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustStore {
    /// Trust the system's roots.
    pub system: bool,
    /// Extra trust anchors: PEM (one or more certificates) or one DER each.
    pub anchors: Vec<Vec<u8>>,
    /// Pinned peer certificates: accepted as anchors for themselves.
    pub pinned: Vec<Vec<u8>>,
}

/// A certificate chain and the private key of its first certificate, or the
/// name of an identity the host holds in their place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigningChain {
    /// End-entity first; PEM (one or more certificates) or one DER each.
    pub certificates: Vec<Vec<u8>>,
    /// PEM or DER; PKCS#8, SEC1 or PKCS#1; encrypted with
    /// `private_key_password` or not.
    pub private_key: Vec<u8>,
    /// The password of an encrypted `private_key` (PKCS#8 PBES2 or OpenSSL's
    /// traditional encrypted PEM); not used with a key that is not encrypted.
    pub private_key_password: Option<Vec<u8>>,
    /// A host identity's name ([`crate::HostIdentity`]): its chain is
    /// presented and the host signs with its key; `certificates` and
    /// `private_key` are then empty.
    pub host_identity: Option<String>,
}

/// Client configuration (the WIT `client-config`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientConfig {
    /// How the server is verified.
    pub trust: TrustStore,
    /// Certificate for client authentication.
    pub certificate_chain: Option<SigningChain>,
    /// ALPN protocols to offer.
    pub alpn_protocols: Vec<Vec<u8>>,
    /// Lowest version accepted.
    pub min_version: Option<ProtocolVersion>,
    /// Highest version offered.
    pub max_version: Option<ProtocolVersion>,
    /// Cipher suites by IANA id; `None` = defaults.
    pub cipher_suites: Option<Vec<u16>>,
    /// Key-exchange groups to offer by IANA id, preferred first; `None` =
    /// defaults.
    pub key_exchange_groups: Option<Vec<u16>>,
    /// Whether SNI is sent.
    pub send_sni: bool,
}

/// Client authentication on a server (the WIT `client-auth`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// Clients are not asked for certificates.
    #[default]
    None,
    /// Asked, not required.
    Optional(TrustStore),
    /// Required.
    Required(TrustStore),
}

/// Server configuration (the WIT `server-config`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerConfig {
    /// Signing chains, chosen by SNI; the first is the default.
    pub certificate_chains: Vec<SigningChain>,
    /// Client authentication.
    pub client_auth: ClientAuth,
    /// ALPN protocols supported.
    pub alpn_protocols: Vec<Vec<u8>>,
    /// Lowest version accepted.
    pub min_version: Option<ProtocolVersion>,
    /// Highest version accepted.
    pub max_version: Option<ProtocolVersion>,
    /// Cipher suites by IANA id; `None` = defaults.
    pub cipher_suites: Option<Vec<u16>>,
    /// Key-exchange groups to accept by IANA id, preferred first; `None` =
    /// defaults.
    pub key_exchange_groups: Option<Vec<u16>>,
    /// Whether session tickets are issued.
    pub session_tickets: bool,
}

/// How a client verifies the server (the plain interface uses `Full`; the
/// `insecure` interface the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Chain and name.
    Full,
    /// Chain only.
    WithoutHostname,
    /// Nothing but the handshake signature.
    None,
}

/// What a platform offers as `system` trust.
pub enum SystemRoots {
    /// Root certificates: the engine verifies against them itself, and reports
    /// the path it verified with the anchor's certificate.
    Certificates(Vec<CertificateDer<'static>>),
    /// An opaque verifier (an operating system's own, where there is one). The
    /// paths it builds are not reported.
    Verifier(Arc<dyn ServerCertVerifier>),
}

/// The platform's trust store, which a provider may supply for
/// [`BaseRoots::Platform`](crate::BaseRoots::Platform). The engine asks once,
/// when a context first uses `system` trust, and shares the result.
pub trait PlatformTrust: Send + Sync {
    /// The platform's roots, or its verifier.
    fn roots(
        &self,
        provider: &Arc<CryptoProvider>,
    ) -> std::result::Result<SystemRoots, rustls::Error>;
}

/// Sum of the lengths of `items`.
pub(crate) fn bytes_of(items: &[Vec<u8>]) -> usize {
    items.iter().map(Vec::len).fold(0, usize::saturating_add)
}

impl TrustStore {
    /// Bytes this trust store passes (for the policy's configuration budget).
    pub fn byte_len(&self) -> usize {
        bytes_of(&self.anchors).saturating_add(bytes_of(&self.pinned))
    }
}

impl SigningChain {
    /// The host identity this chain names, if any; a configuration error
    /// naming `what` when it also gives certificates or a key.
    pub fn host_identity_name(&self, what: &str) -> Result<Option<&str>> {
        match &self.host_identity {
            None => Ok(None),
            Some(name) if self.certificates.is_empty() && self.private_key.is_empty() => {
                Ok(Some(name))
            }
            Some(name) => Err(Error::config(format!(
                "{what}: names the host identity {} and also gives certificates or a \
                 private key; give one or the other",
                crate::identity::shown(name)
            ))),
        }
    }

    /// Bytes this chain passes (for the policy's configuration budget).
    pub fn byte_len(&self) -> usize {
        bytes_of(&self.certificates)
            .saturating_add(self.private_key.len())
            .saturating_add(self.host_identity.as_ref().map_or(0, String::len))
    }
}

/// Fixed cost counted per context, so that empty configurations count too.
const CONTEXT_OVERHEAD: usize = 1024;

impl ClientConfig {
    /// Bytes this configuration passes (for the policy's configuration budget).
    pub fn byte_len(&self) -> usize {
        [
            CONTEXT_OVERHEAD,
            self.trust.byte_len(),
            self.certificate_chain
                .as_ref()
                .map_or(0, SigningChain::byte_len),
            bytes_of(&self.alpn_protocols),
            self.cipher_suites.as_ref().map_or(0, |s| s.len() * 2),
            self.key_exchange_groups.as_ref().map_or(0, |g| g.len() * 2),
        ]
        .into_iter()
        .fold(0, usize::saturating_add)
    }
}

impl ServerConfig {
    /// Bytes this configuration passes (for the policy's configuration budget).
    pub fn byte_len(&self) -> usize {
        let auth = match &self.client_auth {
            ClientAuth::None => 0,
            ClientAuth::Optional(t) | ClientAuth::Required(t) => t.byte_len(),
        };
        [
            CONTEXT_OVERHEAD,
            self.certificate_chains
                .iter()
                .map(SigningChain::byte_len)
                .fold(0, usize::saturating_add),
            auth,
            bytes_of(&self.alpn_protocols),
            self.cipher_suites.as_ref().map_or(0, |s| s.len() * 2),
            self.key_exchange_groups.as_ref().map_or(0, |g| g.len() * 2),
        ]
        .into_iter()
        .fold(0, usize::saturating_add)
    }
}

/// The most DER bytes a signing chain may have: a larger Certificate message is
/// refused by rustls peers (64 KiB handshake messages) and most others.
pub const MAX_CHAIN_LEN: usize = 0xffff;

/// Parses and checks a signing chain: certificates present, key loadable and
/// matching the end-entity certificate; or finds the host identity it names,
/// which `policy` must grant for `purpose`.
pub(crate) fn certified_key(
    chain: &SigningChain,
    provider: &CryptoProvider,
    what: &str,
    purpose: Purpose,
    policy: &Policy,
) -> Result<Arc<CertifiedKey>> {
    if let Some(name) = chain.host_identity_name(what)? {
        return Ok(policy.identity(name, purpose)?.certified_key());
    }
    let certs = parse_certificates(&chain.certificates, &format!("{what}.certificates"))?;
    if certs.is_empty() {
        return Err(Error::config(format!(
            "{what}: the certificate chain is empty"
        )));
    }
    let der_len: usize = certs.iter().map(|c| c.len()).sum();
    if der_len > MAX_CHAIN_LEN {
        return Err(Error::config(format!(
            "{what}: the chain is {der_len} bytes of DER ({} certificates); at most \
             {MAX_CHAIN_LEN} fit the Certificate message peers accept",
            certs.len()
        )));
    }
    let key =
        parse_private_key_with_password(&chain.private_key, chain.private_key_password.as_deref())
            .map_err(|e| Error::new(e.kind, format!("{what}.{}", e.message)))?;
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| Error::from_rustls_config(&format!("{what}: unusable private key"), e))?;
    let ck = CertifiedKey::new(certs, signer);
    match ck.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(Error::config(format!(
                "{what}: the private key does not match the end-entity certificate"
            )));
        }
        // Unknown means the key type cannot be compared; the handshake will tell.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(e) => return Err(Error::from_rustls_config(what, e)),
    }
    Ok(Arc::new(ck))
}

/// The lowest and highest version `min-version` and `max-version` select
/// (TLS 1.2 and 1.3 when not given); an error when they cross.
pub fn version_range(
    min: Option<ProtocolVersion>,
    max: Option<ProtocolVersion>,
) -> Result<(ProtocolVersion, ProtocolVersion)> {
    let min = min.unwrap_or(ProtocolVersion::Tls12);
    let max = max.unwrap_or(ProtocolVersion::Tls13);
    if min > max {
        return Err(Error::config(format!(
            "min-version {} is higher than max-version {}",
            min.name(),
            max.name()
        )));
    }
    Ok((min, max))
}

/// The protocol versions selected by `min` and `max`.
pub(crate) fn versions(
    min: Option<ProtocolVersion>,
    max: Option<ProtocolVersion>,
) -> Result<Vec<&'static SupportedProtocolVersion>> {
    let (min, max) = version_range(min, max)?;
    Ok(ProtocolVersion::ALL
        .into_iter()
        .filter(|v| (min..=max).contains(v))
        .map(ProtocolVersion::rustls)
        .collect())
}

/// The crypto provider with the requested cipher suites and key-exchange
/// groups, each in the requested order (`None`: the provider's own).
pub(crate) fn provider_with(
    base: &Arc<CryptoProvider>,
    suites: Option<&[u16]>,
    groups: Option<&[u16]>,
) -> Result<Arc<CryptoProvider>> {
    if suites.is_none() && groups.is_none() {
        return Ok(base.clone());
    }
    let cipher_suites = match suites {
        None => base.cipher_suites.clone(),
        Some(ids) => chosen(
            ids,
            &base.cipher_suites,
            "cipher-suites",
            |s| u16::from(s.suite()),
            |id| format!("cipher suite 0x{id:04x}"),
        )?,
    };
    let kx_groups = match groups {
        None => base.kx_groups.clone(),
        Some(ids) => chosen(
            ids,
            &base.kx_groups,
            "key-exchange-groups",
            |g| u16::from(g.name()),
            crate::prose::group_label,
        )?,
    };
    Ok(Arc::new(CryptoProvider {
        cipher_suites,
        kx_groups,
        ..(**base).clone()
    }))
}

/// The items of `available` named by `ids` (IANA ids, first occurrence
/// kept), in that order; `field` names the configuration field and
/// `describe` an id in errors.
fn chosen<T: Copy>(
    ids: &[u16],
    available: &[T],
    field: &str,
    id_of: impl Fn(&T) -> u16,
    describe: impl Fn(u16) -> String,
) -> Result<Vec<T>> {
    if ids.is_empty() {
        return Err(Error::config(format!(
            "{field} is an empty list: give none for the defaults"
        )));
    }
    let mut out: Vec<T> = Vec::with_capacity(ids.len());
    for &id in ids {
        let item = available.iter().find(|x| id_of(x) == id).ok_or_else(|| {
            Error::config(format!(
                "{} is unknown or not supported by this provider",
                describe(id)
            ))
        })?;
        if !out.iter().any(|x| id_of(x) == id) {
            out.push(*item);
        }
    }
    Ok(out)
}
