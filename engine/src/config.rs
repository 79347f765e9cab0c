//! Configuration types (mirroring the WIT records) and their validation into
//! rustls configurations.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme, SupportedCipherSuite,
    SupportedProtocolVersion,
};

use crate::{Error, Result};

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

/// A certificate chain and the private key of its first certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigningChain {
    /// End-entity first; PEM (one or more certificates) or one DER each.
    pub certificates: Vec<Vec<u8>>,
    /// PEM or DER; PKCS#8, SEC1 or PKCS#1.
    pub private_key: Vec<u8>,
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
    /// Bytes this chain passes (for the policy's configuration budget).
    pub fn byte_len(&self) -> usize {
        bytes_of(&self.certificates).saturating_add(self.private_key.len())
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
        ]
        .into_iter()
        .fold(0, usize::saturating_add)
    }
}

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

/// The most DER bytes a signing chain may have: a larger Certificate message is
/// refused by rustls peers (64 KiB handshake messages) and most others.
pub const MAX_CHAIN_LEN: usize = 0xffff;

/// The most bytes the certificate authorities' names may take in a server's
/// CertificateRequest (a list with a 16-bit length).
const MAX_CA_NAMES_LEN: usize = 0xffff - 16;

/// Parses and checks a signing chain: certificates present, key loadable and
/// matching the end-entity certificate.
pub(crate) fn certified_key(
    chain: &SigningChain,
    provider: &CryptoProvider,
    what: &str,
) -> Result<Arc<CertifiedKey>> {
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
    let key = parse_private_key(&chain.private_key)
        .map_err(|e| Error::config(format!("{what}.{}", e.message)))?;
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

/// The protocol versions selected by `min` and `max`.
pub(crate) fn versions(
    min: Option<ProtocolVersion>,
    max: Option<ProtocolVersion>,
) -> Result<Vec<&'static SupportedProtocolVersion>> {
    let min = min.unwrap_or(ProtocolVersion::Tls12);
    let max = max.unwrap_or(ProtocolVersion::Tls13);
    if min > max {
        return Err(Error::config(format!(
            "min-version {min:?} is higher than max-version {max:?}"
        )));
    }
    Ok(ProtocolVersion::ALL
        .into_iter()
        .filter(|v| (min..=max).contains(v))
        .map(ProtocolVersion::rustls)
        .collect())
}

/// The crypto provider with the requested cipher suites, in the requested order.
pub(crate) fn provider_with_suites(
    base: &Arc<CryptoProvider>,
    ids: Option<&[u16]>,
) -> Result<Arc<CryptoProvider>> {
    let Some(ids) = ids else {
        return Ok(base.clone());
    };
    if ids.is_empty() {
        return Err(Error::config(
            "cipher-suites is an empty list: give none for the defaults",
        ));
    }
    let mut suites = Vec::with_capacity(ids.len());
    for &id in ids {
        let suite = base
            .cipher_suites
            .iter()
            .find(|s| u16::from(s.suite()) == id)
            .ok_or_else(|| {
                Error::config(format!(
                    "cipher suite 0x{id:04x} is unknown or not supported by this provider"
                ))
            })?;
        if !suites.contains(suite) {
            suites.push(*suite);
        }
    }
    Ok(Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..(**base).clone()
    }))
}

/// The handshake-signature methods of a verifier wrapper, passed to the wrapped
/// verifier in field `$field` (`0`, or `0[0]`).
macro_rules! delegate_signatures {
    // Checked directly with the provider's algorithms in field `$field`.
    (algorithms $field:tt) => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.$field)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.$field)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.$field.supported_schemes()
        }
    };
    ($($field:tt)+) => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
            self.$($field)+.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
            self.$($field)+.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.$($field)+.supported_verify_schemes()
        }
    };
}

std::thread_local! {
    /// The name of the certificate the last verification on this thread
    /// rejected. Verification runs inside the engine's call into rustls, on the
    /// caller's thread, so the engine reads it right after that call fails.
    static REJECTED: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    /// The path the last successful chain verification on this thread built,
    /// end-entity first, read by the engine after the call into rustls.
    static VERIFIED: std::cell::RefCell<Option<Vec<CertificateDer<'static>>>> =
        const { std::cell::RefCell::new(None) };
}

/// Forgets any earlier rejection and verified path (before a call into rustls).
pub(crate) fn clear_notes() {
    REJECTED.with(|r| r.borrow_mut().take());
    VERIFIED.with(|v| v.borrow_mut().take());
}

/// The name of the certificate the last failed verification rejected.
pub(crate) fn take_rejected() -> Option<String> {
    REJECTED.with(|r| r.borrow_mut().take())
}

/// The path the last successful verification built.
pub(crate) fn take_verified() -> Option<Vec<CertificateDer<'static>>> {
    VERIFIED.with(|v| v.borrow_mut().take())
}

fn note_rejected(end_entity: &CertificateDer<'_>) {
    let name = crate::names::certificate_name(end_entity);
    REJECTED.with(|r| *r.borrow_mut() = name);
}

fn note_verified(path: Vec<CertificateDer<'static>>) {
    VERIFIED.with(|v| *v.borrow_mut() = Some(path));
}

/// Trust anchors with the certificates they came from, index for index, so
/// that a verified path can be reported up to its anchor's certificate.
#[derive(Debug)]
pub(crate) struct Roots {
    store: Arc<RootCertStore>,
    certificates: Vec<CertificateDer<'static>>,
}

/// The refusal of a trust store with nothing in it.
const EMPTY_TRUST: &str =
    "trust store is empty: set system, or give anchors or pinned certificates";

impl Default for Roots {
    fn default() -> Self {
        Self {
            store: Arc::new(RootCertStore::empty()),
            certificates: Vec::new(),
        }
    }
}

impl Roots {
    /// Roots from `certificates`, each of which must be usable as an anchor
    /// (an error names the one that is not, within `what`).
    pub(crate) fn new(certificates: Vec<CertificateDer<'static>>, what: &str) -> Result<Self> {
        let mut roots = Self::default();
        roots.add(certificates, Some(what))?;
        Ok(roots)
    }

    /// Adds `certificates`. With `what`, one that cannot be an anchor is an
    /// error naming it; without, it is skipped (platform stores hold the odd
    /// unusable certificate).
    pub(crate) fn add(
        &mut self,
        certificates: Vec<CertificateDer<'static>>,
        what: Option<&str>,
    ) -> Result<()> {
        let store = Arc::make_mut(&mut self.store);
        for (i, cert) in certificates.into_iter().enumerate() {
            match (store.add(cert.clone()), what) {
                (Ok(()), _) => self.certificates.push(cert),
                (Err(e), Some(what)) => {
                    return Err(Error::from_rustls_config(
                        &format!("{what}: certificate {i} cannot be a trust anchor"),
                        e,
                    ));
                }
                (Err(_), None) => {}
            }
        }
        Ok(())
    }

    /// Whether there is no root at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    /// The path from `end_entity` to one of the roots, end-entity first and
    /// ending with the anchor's certificate, for `usage`; none when there is no
    /// valid path (the rustls verifier then words the reason).
    fn path(
        &self,
        algorithms: &WebPkiSupportedAlgorithms,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        usage: webpki::KeyUsage,
    ) -> Option<Vec<CertificateDer<'static>>> {
        let cert = webpki::EndEntityCert::try_from(end_entity).ok()?;
        let path = cert
            .verify_for_usage(
                algorithms.all,
                &self.store.roots,
                intermediates,
                now,
                usage,
                None,
                None,
            )
            .ok()?;
        let anchor = self
            .store
            .roots
            .iter()
            .position(|a| std::ptr::eq(a, path.anchor()))?;
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(
            path.intermediate_certificates()
                .map(|c| c.der().into_owned()),
        );
        chain.push(self.certificates[anchor].clone());
        Some(chain)
    }
}

/// Verifies servers' chains against [`Roots`] and notes the path it built.
/// Decisions are webpki's, exactly as rustls's own verifier makes them; when
/// there is no path, rustls's verifier is asked again so that the refusal is
/// worded (and alerted) as rustls does.
#[derive(Debug)]
struct Chains {
    roots: Arc<Roots>,
    inner: Arc<WebPkiServerVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Chains {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let usage = webpki::KeyUsage::server_auth();
        match self
            .roots
            .path(&self.algorithms, end_entity, intermediates, now, usage)
        {
            Some(path) => {
                // The chain is good; the name is checked after it (see
                // `IgnoreHostname`).
                note_verified(path);
                let parsed = ParsedCertificate::try_from(end_entity)?;
                rustls::client::verify_server_name(&parsed, server_name)
                    .map(|()| ServerCertVerified::assertion())
            }
            None => {
                self.inner
                    .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            }
        }
    }

    delegate_signatures!(inner);
}

/// Notes which certificate a verification rejected, for the message.
#[derive(Debug)]
struct Naming(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for Naming {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let result = self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        if result.is_err() {
            note_rejected(end_entity);
        }
        result
    }

    delegate_signatures!(0);
}

/// A server's verifier of client certificates: like [`Chains`] (webpki's
/// decision, the path noted, rustls's wording of refusals), and the rejected
/// certificate named.
#[derive(Debug)]
struct Clients {
    roots: Arc<Roots>,
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for Clients {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        let usage = webpki::KeyUsage::client_auth();
        if let Some(path) = self
            .roots
            .path(&self.algorithms, end_entity, intermediates, now, usage)
        {
            note_verified(path);
            return Ok(rustls::server::danger::ClientCertVerified::assertion());
        }
        let result = self
            .inner
            .verify_client_cert(end_entity, intermediates, now);
        if result.is_err() {
            note_rejected(end_entity);
        }
        result
    }

    delegate_signatures!(inner);
}

/// Builds the verifier for a trust store used to verify servers; `system` is the
/// shared `system` verifier when the trust store asks for it. Anchors and
/// `system` vouch for chains; pins accept exactly themselves (see [`Pinned`]).
pub(crate) fn server_verifier(
    trust: &TrustStore,
    provider: &Arc<CryptoProvider>,
    system: Option<Arc<dyn ServerCertVerifier>>,
    mode: Verification,
) -> Result<Arc<dyn ServerCertVerifier>> {
    if mode == Verification::None {
        return Ok(Arc::new(NoVerification(
            provider.signature_verification_algorithms,
        )));
    }
    let anchors = parse_certificates(&trust.anchors, "trust.anchors")?;
    let mut pins = parse_certificates(&trust.pinned, "trust.pinned")?;
    // An anchor presented as the end-entity certificate itself is trusted
    // directly, as OpenSSL (and so CPython's default context) trusts a
    // self-signed certificate in its store.
    pins.extend(anchors.iter().cloned());
    let chains = match (system, anchors.is_empty()) {
        (Some(system), true) => Some(system),
        (Some(system), false) => Some(any_of(
            anchors_verifier(anchors, provider, "trust store")?,
            system,
        )),
        (None, false) => Some(anchors_verifier(anchors, provider, "trust store")?),
        (None, true) if pins.is_empty() => {
            return Err(Error::config(EMPTY_TRUST));
        }
        (None, true) => None,
    };
    let verifier = match (chains, pins.is_empty()) {
        (Some(chains), true) => chains,
        (chains, _) => Arc::new(Pinned {
            pins,
            chains,
            algorithms: provider.signature_verification_algorithms,
        }),
    };
    Ok(Arc::new(Naming(match mode {
        Verification::WithoutHostname => Arc::new(IgnoreHostname(verifier)),
        _ => verifier,
    })))
}

/// Pinned certificates: the peer's end-entity certificate is accepted when it is
/// byte for byte one of the pins, whatever its CA flag or issuer, once its name,
/// validity period and extended key usage check out; a pin never vouches for
/// any other certificate.
/// Anything else goes to the chain verifier (anchors, `system`), if any.
#[derive(Debug)]
struct Pinned {
    pins: Vec<CertificateDer<'static>>,
    chains: Option<Arc<dyn ServerCertVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The refusal when only pins were given and the certificate is none of them.
#[derive(Debug)]
struct NotPinned;

impl std::fmt::Display for NotPinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the certificate is none of the pinned certificates")
    }
}

impl std::error::Error for NotPinned {}

fn check_pinned(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> std::result::Result<(), rustls::Error> {
    let (not_before, not_after) = crate::names::validity(end_entity).ok_or(
        rustls::Error::InvalidCertificate(CertificateError::BadEncoding),
    )?;
    let now = now.as_secs();
    if now < not_before {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet,
        ));
    }
    if now > not_after {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    if crate::names::allows_server_auth(end_entity) != Some(true) {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::InvalidPurpose,
        ));
    }
    let parsed = ParsedCertificate::try_from(end_entity)?;
    rustls::client::verify_server_name(&parsed, server_name)
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if self
            .pins
            .iter()
            .any(|pin| pin.as_ref() == end_entity.as_ref())
        {
            check_pinned(end_entity, server_name, now)?;
            note_verified(vec![end_entity.clone().into_owned()]);
            return Ok(ServerCertVerified::assertion());
        }
        match &self.chains {
            Some(chains) => {
                chains.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            }
            None => Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(NotPinned)),
            ))),
        }
    }

    delegate_signatures!(algorithms algorithms);
}

/// A WebPKI verifier over `roots` (not empty) that reports the paths it
/// verifies.
pub(crate) fn chains_verifier(
    roots: Roots,
    provider: &Arc<CryptoProvider>,
    what: &str,
) -> Result<Arc<dyn ServerCertVerifier>> {
    if roots.is_empty() {
        return Err(Error::config(EMPTY_TRUST));
    }
    let inner = WebPkiServerVerifier::builder_with_provider(roots.store.clone(), provider.clone())
        .build()
        .map_err(|e| Error::config(format!("{what}: {e}")))?;
    Ok(Arc::new(Chains {
        roots: Arc::new(roots),
        inner,
        algorithms: provider.signature_verification_algorithms,
    }))
}

/// A verifier over the trust store's `anchors` (refused when there are none).
fn anchors_verifier(
    anchors: Vec<CertificateDer<'static>>,
    provider: &Arc<CryptoProvider>,
    what: &str,
) -> Result<Arc<dyn ServerCertVerifier>> {
    chains_verifier(Roots::new(anchors, what)?, provider, what)
}

/// A verifier that accepts what either verifier accepts (trust sources add up).
/// When both refuse, the more specific refusal is reported: an unknown issuer
/// from one source says less than, say, an expiry found by the other.
pub(crate) fn any_of(
    first: Arc<dyn ServerCertVerifier>,
    second: Arc<dyn ServerCertVerifier>,
) -> Arc<dyn ServerCertVerifier> {
    Arc::new(AnyOf([first, second]))
}

#[derive(Debug)]
struct AnyOf([Arc<dyn ServerCertVerifier>; 2]);

impl ServerCertVerifier for AnyOf {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let mut refusal = None;
        for v in self.0.iter() {
            // Only the path of the verifier that accepts counts.
            take_verified();
            match v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                Ok(ok) => return Ok(ok),
                Err(e) => {
                    let unknown_issuer = matches!(
                        e,
                        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
                    );
                    if refusal.is_none() || !unknown_issuer {
                        refusal = Some(e);
                    }
                }
            }
        }
        Err(refusal.unwrap_or(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        )))
    }

    delegate_signatures!(0[0]);
}

/// The client-certificate verifier for a server's client-auth setting.
pub(crate) fn client_verifier(
    auth: &ClientAuth,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>> {
    let (trust, optional) = match auth {
        ClientAuth::None => return Ok(None),
        ClientAuth::Optional(t) => (t, true),
        ClientAuth::Required(t) => (t, false),
    };
    if trust.system {
        return Err(Error::config(
            "client-auth: system trust cannot verify client certificates (the system's roots \
             vouch for servers, and would accept anyone holding a publicly issued \
             certificate); give the CA that issues the clients' certificates as anchors",
        ));
    }
    let mut anchors = parse_certificates(&trust.anchors, "client-auth.anchors")?;
    anchors.extend(parse_certificates(&trust.pinned, "client-auth.pinned")?);
    if anchors.is_empty() {
        return Err(Error::config(
            "client-auth: no anchors or pinned certificates to verify clients against \
             (system trust cannot verify clients: give the CA that issues their certificates)",
        ));
    }
    let roots = Roots::new(anchors, "client-auth")?;
    let names: usize = roots
        .store
        .subjects()
        .iter()
        .map(|n| 2 + n.as_ref().len())
        .sum();
    if names > MAX_CA_NAMES_LEN {
        return Err(Error::config(format!(
            "client-auth: the anchors' names take {names} bytes in the CertificateRequest; \
             at most {MAX_CA_NAMES_LEN} fit ({} anchors): give fewer anchors",
            roots.certificates.len()
        )));
    }
    let mut builder =
        WebPkiClientVerifier::builder_with_provider(roots.store.clone(), provider.clone());
    if optional {
        builder = builder.allow_unauthenticated();
    }
    let inner = builder
        .build()
        .map_err(|e| Error::config(format!("client-auth: {e}")))?;
    Ok(Some(Arc::new(Clients {
        roots: Arc::new(roots),
        inner,
        algorithms: provider.signature_verification_algorithms,
    })))
}

/// Chooses among several signing chains by the SNI name the client sent.
#[derive(Debug)]
pub(crate) struct SniChains(pub(crate) Vec<Arc<CertifiedKey>>);

impl ResolvesServerCert for SniChains {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let by_name = hello.server_name().and_then(|name| {
            let name = ServerName::try_from(name).ok()?;
            self.0.iter().find(|ck| {
                ck.end_entity_cert()
                    .ok()
                    .and_then(|ee| ParsedCertificate::try_from(ee).ok())
                    .is_some_and(|p| rustls::client::verify_server_name(&p, &name).is_ok())
            })
        });
        by_name.or_else(|| self.0.first()).cloned()
    }
}

/// Presents one signing chain whenever a server asks for a client certificate.
#[derive(Debug)]
pub(crate) struct ClientChain(pub(crate) Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientChain {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Verifies the chain, accepts any name (the `insecure` interface).
#[derive(Debug)]
struct IgnoreHostname(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for IgnoreHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            // The name is checked after the chain: a name error means the chain
            // itself verified.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    delegate_signatures!(0);
}

/// Accepts any certificate; still checks the handshake signature against it.
#[derive(Debug)]
struct NoVerification(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    delegate_signatures!(algorithms 0);
}
