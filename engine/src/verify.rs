//! Verification: the trust anchors, the chain, pin and client verifiers the
//! engine builds from a trust store, and the notes they leave for the engine
//! (the certificate rejected, the path verified).

use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::check::{Check, Presented, Signatures, Signed, Verdict, verifier};
use crate::config::{ClientAuth, TrustStore, Verification};
use crate::danger::{IgnoreHostname, NoVerification};
use crate::pem::parse_certificates;
use crate::{Error, Result};

/// The most bytes the certificate authorities' names may take in a server's
/// CertificateRequest (a list with a 16-bit length).
const MAX_CA_NAMES_LEN: usize = 0xffff - 16;

/// What verification found during one call into rustls: the certificate it
/// rejected, or the path it built (end entity first). Each connection gets
/// its own, out of the [`Recording`] around its call.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    /// The name of the certificate a verification rejected.
    pub(crate) rejected: Option<String>,
    /// The path the successful chain verification built.
    pub(crate) verified: Option<Vec<CertificateDer<'static>>>,
}

std::thread_local! {
    /// The notes of the call being recorded on this thread. rustls calls its
    /// verifiers inside the call into it, on the caller's thread, and shares
    /// them between connections: this is how a verifier's findings reach the
    /// one connection whose call it runs in. A verifier per connection, which
    /// would carry them without a channel, is not possible in rustls 0.23: a
    /// client resumes only sessions made under the very same verifier
    /// (`ClientSessionCommon::compatible_config` compares the `Arc`s), so a
    /// fresh one per connection would end resumption, and a `ServerConfig`'s
    /// client verifier cannot be replaced once built. [`Recording`] is the
    /// type that says where the findings belong.
    static RECORDING: std::cell::RefCell<Option<Notes>> = const { std::cell::RefCell::new(None) };
}

/// The span of one synchronous call into rustls (a connection's processing,
/// a `verify-server-chain`) whose verification findings belong to its
/// caller: start it before the call, [`Recording::finish`] it after. Not
/// `Send`: it must end on the thread it began on, as the call does.
pub(crate) struct Recording(std::marker::PhantomData<*const ()>);

impl Recording {
    /// Starts recording (forgetting whatever an earlier call left).
    pub(crate) fn start() -> Self {
        RECORDING.with(|r| *r.borrow_mut() = Some(Notes::default()));
        Self(std::marker::PhantomData)
    }

    /// Ends the recording with what the verifiers noted.
    pub(crate) fn finish(self) -> Notes {
        RECORDING
            .with(|r| r.borrow_mut().take())
            .unwrap_or_default()
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        RECORDING.with(|r| r.borrow_mut().take());
    }
}

/// Notes a finding in the call being recorded. A verifier that runs outside
/// one (rustls verifying later or elsewhere) has nowhere to report: the
/// connection then reports no verified path, which tests would see.
fn note(f: impl FnOnce(&mut Notes)) {
    RECORDING.with(|r| {
        if let Some(notes) = r.borrow_mut().as_mut() {
            f(notes);
        }
    });
}

fn note_rejected(end_entity: &CertificateDer<'_>) {
    let name = crate::names::certificate_name(end_entity);
    note(|n| n.rejected = name);
}

fn note_verified(path: Vec<CertificateDer<'static>>) {
    note(|n| n.verified = Some(path));
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
    /// ending with the anchor's certificate, for `usage`; webpki's refusal
    /// when there is no valid path (one pass: [`refusal`] words it as rustls
    /// would).
    fn path(
        &self,
        algorithms: &WebPkiSupportedAlgorithms,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        usage: webpki::KeyUsage,
    ) -> std::result::Result<Vec<CertificateDer<'static>>, rustls::Error> {
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(refusal)?;
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
            .map_err(refusal)?;
        let anchor = self
            .store
            .roots
            .iter()
            .position(|a| std::ptr::eq(a, path.anchor()))
            .ok_or(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ))?;
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(
            path.intermediate_certificates()
                .map(|c| c.der().into_owned()),
        );
        chain.push(self.certificates[anchor].clone());
        Ok(chain)
    }
}

/// webpki's refusal of a path as rustls's own verifiers report it (rustls
/// keeps its mapping private; this is the same mapping for the errors path
/// building can give, so that a refusal is worded and alerted as rustls does
/// without verifying a second time).
fn refusal(error: webpki::Error) -> rustls::Error {
    use webpki::Error as W;
    let reason = match error {
        W::BadDer | W::BadDerTime | W::TrailingData(_) => CertificateError::BadEncoding,
        W::CertNotValidYet { time, not_before } => {
            CertificateError::NotValidYetContext { time, not_before }
        }
        W::CertExpired { time, not_after } => CertificateError::ExpiredContext { time, not_after },
        W::InvalidCertValidity => CertificateError::Expired,
        W::UnknownIssuer => CertificateError::UnknownIssuer,
        W::CertNotValidForName(webpki::InvalidNameContext {
            expected,
            presented,
        }) => CertificateError::NotValidForNameContext {
            expected,
            presented,
        },
        W::CertRevoked => CertificateError::Revoked,
        W::UnknownRevocationStatus => CertificateError::UnknownRevocationStatus,
        W::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        #[allow(deprecated)]
        W::UnsupportedSignatureAlgorithm | W::UnsupportedSignatureAlgorithmForPublicKey => {
            CertificateError::UnsupportedSignatureAlgorithm
        }
        W::UnsupportedSignatureAlgorithmContext(cx) => {
            CertificateError::UnsupportedSignatureAlgorithmContext {
                signature_algorithm_id: cx.signature_algorithm_id,
                supported_algorithms: cx.supported_algorithms,
            }
        }
        W::UnsupportedSignatureAlgorithmForPublicKeyContext(cx) => {
            CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
                signature_algorithm_id: cx.signature_algorithm_id,
                public_key_algorithm_id: cx.public_key_algorithm_id,
            }
        }
        // rustls words both alike (its context type's constructor is
        // private); the alert is the same.
        #[allow(deprecated)]
        W::RequiredEkuNotFound | W::RequiredEkuNotFoundContext(_) => {
            CertificateError::InvalidPurpose
        }
        other => CertificateError::Other(rustls::OtherError(Arc::new(other))),
    };
    rustls::Error::InvalidCertificate(reason)
}

/// The most steps path building may take for one chain: each step is one
/// intermediate tried as the issuer of the certificate before it. webpki
/// allows 200,000 and parses every intermediate again at each step, so a few
/// intermediates sharing one name cost minutes of CPU; real chains take one
/// step per intermediate, a cross-signed one a few more.
pub const MAX_PATH_STEPS: usize = 64;

/// The most intermediates webpki puts in one path.
const MAX_PATH_INTERMEDIATES: usize = 6;

/// What one chain may cost before path building starts: how many
/// certificates and bytes it may hold (the policy's), and [`MAX_PATH_STEPS`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChainLimits {
    certificates: usize,
    bytes: usize,
}

impl ChainLimits {
    /// The limits `policy` sets.
    pub(crate) fn of(policy: &crate::Policy) -> Self {
        Self {
            certificates: policy.max_chain_certificates,
            bytes: policy.max_chain_bytes,
        }
    }

    /// Refuses a chain (end entity first) that passes a limit, before any
    /// path is built.
    pub(crate) fn check(
        self,
        end_entity: &[u8],
        intermediates: &[CertificateDer<'_>],
    ) -> std::result::Result<(), ChainTooCostly> {
        let count = 1 + intermediates.len();
        if count > self.certificates {
            return Err(ChainTooCostly::Certificates {
                count,
                max: self.certificates,
            });
        }
        let bytes = intermediates
            .iter()
            .fold(end_entity.len(), |n, c| n.saturating_add(c.len()));
        if bytes > self.bytes {
            return Err(ChainTooCostly::Bytes {
                bytes,
                max: self.bytes,
            });
        }
        let names: Vec<_> = intermediates
            .iter()
            .map(|c| crate::names::subject_and_issuer(c))
            .collect();
        let Some((_, issuer)) = crate::names::subject_and_issuer(end_entity) else {
            // Not a certificate: webpki refuses it before building anything.
            return Ok(());
        };
        let mut steps = 0;
        let mut used = vec![false; names.len()];
        match path_steps(issuer, 0, &names, &mut used, &mut steps) {
            true => Ok(()),
            false => Err(ChainTooCostly::Paths {
                max: MAX_PATH_STEPS,
            }),
        }
    }
}

/// Counts, into `steps`, the steps webpki's depth-first path building can
/// take from a certificate issued by `issuer` at `depth` intermediates: every
/// unused intermediate whose subject is that issuer is tried, and from it
/// the search goes on. An upper bound (webpki stops at the first path that
/// verifies); false once it passes [`MAX_PATH_STEPS`].
fn path_steps(
    issuer: &[u8],
    depth: usize,
    names: &[Option<(&[u8], &[u8])>],
    used: &mut [bool],
    steps: &mut usize,
) -> bool {
    for (i, name) in names.iter().enumerate() {
        let Some((subject, next)) = name else {
            continue;
        };
        if used[i] || *subject != issuer {
            continue;
        }
        *steps += 1;
        if *steps > MAX_PATH_STEPS {
            return false;
        }
        if depth + 1 < MAX_PATH_INTERMEDIATES {
            used[i] = true;
            let within = path_steps(next, depth + 1, names, used, steps);
            used[i] = false;
            if !within {
                return false;
            }
        }
    }
    true
}

/// Why a chain was refused before path building.
#[derive(Debug, Clone)]
pub(crate) enum ChainTooCostly {
    /// More certificates than the policy allows.
    Certificates { count: usize, max: usize },
    /// More bytes than the policy allows.
    Bytes { bytes: usize, max: usize },
    /// Intermediates that share names, offering more candidate paths than
    /// [`MAX_PATH_STEPS`].
    Paths { max: usize },
}

impl std::fmt::Display for ChainTooCostly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Certificates { count, max } => write!(
                f,
                "the chain holds {count} certificates; at most {max} are accepted \
                 (max-chain-certificates)"
            ),
            Self::Bytes { bytes, max } => write!(
                f,
                "the chain takes {bytes} bytes; at most {max} are accepted (max-chain-bytes)"
            ),
            Self::Paths { max } => write!(
                f,
                "the chain's intermediates share names so that building a path would take \
                 more than {max} steps; refused before verification"
            ),
        }
    }
}

impl std::error::Error for ChainTooCostly {}

impl From<ChainTooCostly> for rustls::Error {
    fn from(e: ChainTooCostly) -> Self {
        rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(e))))
    }
}

/// Verifies servers' chains against [`Roots`] and notes the path it built.
/// Decisions are webpki's, exactly as rustls's own verifier makes them, and
/// so are the refusals' words and alerts ([`refusal`]), from the one pass.
#[derive(Debug)]
struct Chains {
    roots: Arc<Roots>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Check for Chains {
    fn check(&self, p: &Presented<'_>) -> Verdict {
        let usage = webpki::KeyUsage::server_auth();
        let path = self.roots.path(
            &self.algorithms,
            p.end_entity,
            p.intermediates,
            p.now,
            usage,
        )?;
        // The chain is good; the name is checked after it (see
        // `IgnoreHostname`).
        note_verified(path);
        let parsed = ParsedCertificate::try_from(p.end_entity)?;
        rustls::client::verify_server_name(&parsed, p.server_name)
            .map(|()| ServerCertVerified::assertion())
    }

    fn signatures(&self) -> Signatures<'_> {
        Signatures::With(&self.algorithms)
    }
}

/// The outermost step of server verification: refuses a chain that passes
/// the limits before any verifier builds a path, and notes which certificate
/// a verification rejected, for the message.
#[derive(Debug)]
struct Naming(Arc<dyn ServerCertVerifier>, ChainLimits);

impl Check for Naming {
    fn check(&self, p: &Presented<'_>) -> Verdict {
        let result = match self.1.check(p.end_entity, p.intermediates) {
            Ok(()) => p.to(self.0.as_ref()),
            Err(costly) => Err(costly.into()),
        };
        if result.is_err() {
            note_rejected(p.end_entity);
        }
        result
    }

    fn signatures(&self) -> Signatures<'_> {
        Signatures::By(self.0.as_ref())
    }
}

/// A server's verifier of client certificates: like [`Chains`] (webpki's
/// decision, the path noted, rustls's wording of refusals, one pass, the
/// limits first), and the rejected certificate named.
#[derive(Debug)]
struct Clients {
    roots: Arc<Roots>,
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
    limits: ChainLimits,
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
        let result = self
            .limits
            .check(end_entity, intermediates)
            .map_err(rustls::Error::from)
            .and_then(|()| {
                self.roots
                    .path(&self.algorithms, end_entity, intermediates, now, usage)
            });
        match result {
            Ok(path) => {
                note_verified(path);
                Ok(rustls::server::danger::ClientCertVerified::assertion())
            }
            Err(e) => {
                note_rejected(end_entity);
                Err(e)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Signed {
        self.signatures().verify(false, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Signed {
        self.signatures().verify(true, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures().schemes()
    }
}

impl Clients {
    fn signatures(&self) -> Signatures<'_> {
        Signatures::With(&self.algorithms)
    }
}

/// Builds the verifier for a trust store used to verify servers; `system` is the
/// shared `system` verifier when the trust store asks for it. Anchors and
/// `system` vouch for chains; pins accept exactly themselves (see [`Pinned`]).
pub(crate) fn server_verifier(
    trust: &TrustStore,
    provider: &Arc<CryptoProvider>,
    system: Option<Arc<dyn ServerCertVerifier>>,
    mode: Verification,
    limits: ChainLimits,
) -> Result<Arc<dyn ServerCertVerifier>> {
    if mode == Verification::None {
        return Ok(verifier(NoVerification(
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
    let chosen = match (chains, pins.is_empty()) {
        (Some(chains), true) => chains,
        (chains, _) => pins_first(pins, chains, provider),
    };
    Ok(verifier(Naming(
        match mode {
            Verification::WithoutHostname => verifier(IgnoreHostname(chosen)),
            _ => chosen,
        },
        limits,
    )))
}

/// A verifier that accepts an end-entity certificate that is one of `pins`
/// (see [`Pinned`]) and sends anything else to `chains`, if any.
pub(crate) fn pins_first(
    pins: Vec<CertificateDer<'static>>,
    chains: Option<Arc<dyn ServerCertVerifier>>,
    provider: &CryptoProvider,
) -> Arc<dyn ServerCertVerifier> {
    verifier(Pinned {
        pins,
        chains,
        algorithms: provider.signature_verification_algorithms,
    })
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

impl Check for Pinned {
    fn check(&self, p: &Presented<'_>) -> Verdict {
        if self
            .pins
            .iter()
            .any(|pin| pin.as_ref() == p.end_entity.as_ref())
        {
            check_pinned(p.end_entity, p.server_name, p.now)?;
            note_verified(vec![p.end_entity.clone().into_owned()]);
            return Ok(ServerCertVerified::assertion());
        }
        match &self.chains {
            Some(chains) => p.to(chains.as_ref()),
            None => Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(NotPinned)),
            ))),
        }
    }

    fn signatures(&self) -> Signatures<'_> {
        Signatures::With(&self.algorithms)
    }
}

/// A WebPKI verifier over `roots` (not empty) that reports the paths it
/// verifies.
pub(crate) fn chains_verifier(
    roots: Roots,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>> {
    if roots.is_empty() {
        return Err(Error::config(EMPTY_TRUST));
    }
    Ok(verifier(Chains {
        roots: Arc::new(roots),
        algorithms: provider.signature_verification_algorithms,
    }))
}

/// A verifier over the trust store's `anchors` (refused when there are none).
fn anchors_verifier(
    anchors: Vec<CertificateDer<'static>>,
    provider: &Arc<CryptoProvider>,
    what: &str,
) -> Result<Arc<dyn ServerCertVerifier>> {
    chains_verifier(Roots::new(anchors, what)?, provider)
}

/// A verifier that accepts what either verifier accepts (trust sources add up).
/// When both refuse, the more specific refusal is reported: an unknown issuer
/// from one source says less than, say, an expiry found by the other.
pub(crate) fn any_of(
    first: Arc<dyn ServerCertVerifier>,
    second: Arc<dyn ServerCertVerifier>,
) -> Arc<dyn ServerCertVerifier> {
    verifier(AnyOf([first, second]))
}

#[derive(Debug)]
struct AnyOf([Arc<dyn ServerCertVerifier>; 2]);

impl Check for AnyOf {
    fn check(&self, p: &Presented<'_>) -> Verdict {
        let mut refusal = None;
        for v in self.0.iter() {
            // Only the path of the verifier that accepts counts.
            note(|n| n.verified = None);
            match p.to(v.as_ref()) {
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

    fn signatures(&self) -> Signatures<'_> {
        Signatures::By(self.0[0].as_ref())
    }
}

/// What a server's client-auth setting verifies clients against: its anchors
/// and pins (DER; `system` trust is refused, and so is nothing at all), and
/// whether a client may go without a certificate. `None` when clients are not
/// asked. Every provider validates client-auth with this.
pub fn client_auth_anchors(
    auth: &ClientAuth,
) -> Result<Option<(Vec<CertificateDer<'static>>, bool)>> {
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
    Ok(Some((anchors, optional)))
}

/// The client-certificate verifier for a server's client-auth setting.
pub(crate) fn client_verifier(
    auth: &ClientAuth,
    provider: &Arc<CryptoProvider>,
    limits: ChainLimits,
) -> Result<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>> {
    let Some((anchors, optional)) = client_auth_anchors(auth)? else {
        return Ok(None);
    };
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
        limits,
    })))
}
