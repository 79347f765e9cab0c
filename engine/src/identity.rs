//! Identities the host holds: a certificate chain the application may read and
//! present, and a private key it can never reach.
//!
//! The embedder names each identity in the [`Policy`](crate::Policy) of the
//! instances allowed to use it, with the purposes it may serve (client
//! authentication, serving, or both). An application refers to it by name
//! where it would otherwise pass a signing chain
//! ([`SigningChain::host_identity`](crate::SigningChain::host_identity)); the
//! provider signs with the key in the host: a file's key loaded by the
//! embedder, or a key on a PKCS#11 token behind a [`SigningKey`] the embedder
//! supplies. A policy is per instance, so granting an identity to a guest
//! means putting it in that guest's policy; every other guest gets
//! `not-permitted`.

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};

use crate::{Error, Result};

/// What an identity may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Client authentication (a client context's `certificate-chain`).
    Client,
    /// Serving (a server context's `certificate-chains`).
    Server,
}

impl Purpose {
    /// The purpose's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Client => "client",
            Purpose::Server => "server",
        }
    }

    /// What the purpose means, for sentences.
    fn describe(self) -> &'static str {
        match self {
            Purpose::Client => "client authentication",
            Purpose::Server => "serving",
        }
    }
}

impl std::str::FromStr for Purpose {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "client" => Ok(Purpose::Client),
            "server" => Ok(Purpose::Server),
            _ => Err(format!(
                "unknown identity purpose {s:?}: use \"client\" or \"server\""
            )),
        }
    }
}

/// A certificate chain and a key that stays in the host, under a name the
/// policy grants.
#[derive(Clone)]
pub struct HostIdentity {
    name: String,
    certified: Arc<CertifiedKey>,
    purposes: Vec<Purpose>,
    key_source: String,
    raw: Option<RawKey>,
}

/// A host identity's private key for a provider that hashes and pads itself
/// (the openssl provider, whose libssl signs through its own key methods):
/// what it gets besides the rustls [`SigningKey`] every identity has. It
/// stays in the host like the key itself.
#[derive(Clone)]
pub enum RawKey {
    /// The key's DER (PKCS#8, SEC1 or PKCS#1): a file's key, which the
    /// provider loads as its own.
    Der(Arc<rustls::pki_types::PrivateKeyDer<'static>>),
    /// A key reached only through private-key operations: a token's.
    Operations(Arc<dyn KeyOperations>),
}

/// How an RSA private-key operation pads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaPadding {
    /// None: the input is already a whole padded block (PSS, padded by the
    /// caller).
    None,
    /// PKCS#1 v1.5 signature padding (type 1) around the input (a
    /// DigestInfo).
    Pkcs1,
}

/// The private-key operations of a key held where only they can reach it (a
/// PKCS#11 token): an ECDSA signature over a digest the caller computed, or
/// the RSA private operation. Errors are sentences naming the key.
pub trait KeyOperations: Send + Sync {
    /// ECDSA over `digest`, as a DER `ECDSA-Sig-Value`.
    fn ecdsa_sign_digest(&self, digest: &[u8]) -> std::result::Result<Vec<u8>, String>;
    /// The RSA private-key operation on `input`, padded as `padding` says;
    /// the result is as long as the modulus.
    fn rsa_private(
        &self,
        input: &[u8],
        padding: RsaPadding,
    ) -> std::result::Result<Vec<u8>, String>;
}

impl HostIdentity {
    /// An identity `name` presenting `chain` (DER, end entity first) and
    /// signing with `key`, usable for `purposes` (none given: both).
    /// `key_source` says where the key lives, for messages (a file's path, a
    /// PKCS#11 URI without its PIN); it must not hold secrets. Refused when the
    /// chain is empty or the key is not the end-entity certificate's.
    pub fn new(
        name: &str,
        chain: Vec<CertificateDer<'static>>,
        key: Arc<dyn SigningKey>,
        purposes: &[Purpose],
        key_source: &str,
    ) -> Result<Self> {
        check_name(name)?;
        if chain.is_empty() {
            return Err(Error::config(format!(
                "identity {name:?}: the certificate chain is empty"
            )));
        }
        let certified = CertifiedKey::new(chain, key);
        match certified.keys_match() {
            Ok(()) => {}
            // A key that cannot show its public half (a token's) proves it
            // by signing once.
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
                prove_possession(&certified, name, key_source)?;
            }
            Err(_) => {
                return Err(Error::config(format!(
                    "identity {name:?}: the key ({key_source}) does not match the end-entity \
                     certificate"
                )));
            }
        }
        let mut purposes = if purposes.is_empty() {
            vec![Purpose::Client, Purpose::Server]
        } else {
            purposes.to_vec()
        };
        purposes.dedup();
        Ok(Self {
            name: name.to_owned(),
            certified: Arc::new(certified),
            purposes,
            key_source: key_source.to_owned(),
            raw: None,
        })
    }

    /// The identity with `raw`, its key for providers that hash and pad
    /// themselves (the openssl provider signs only with identities that have
    /// one). `raw` must be the same key as the identity's [`SigningKey`].
    pub fn with_raw_key(mut self, raw: RawKey) -> Self {
        self.raw = Some(raw);
        self
    }

    /// The key for providers that hash and pad themselves, if the embedder
    /// gave one ([`HostIdentity::with_raw_key`]).
    pub fn raw_key(&self) -> Option<&RawKey> {
        self.raw.as_ref()
    }

    /// The name the policy grants it under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The certificate chain (DER, end entity first): public, readable by the
    /// application.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certified.cert
    }

    /// What it may be used for.
    pub fn purposes(&self) -> &[Purpose] {
        &self.purposes
    }

    /// Where its key lives (no secrets).
    pub fn key_source(&self) -> &str {
        &self.key_source
    }

    /// The chain and the host's signing key, as rustls takes them.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        self.certified.clone()
    }

    /// The signing key in the host.
    pub fn signing_key(&self) -> &Arc<dyn SigningKey> {
        &self.certified.key
    }

    /// An identity whose key is held elsewhere and reached through `sign`:
    /// inside the guest provider, the host's key behind the `host-signer`
    /// import. `schemes` are the TLS signature schemes it signs with, best
    /// first; the key's public half is the end-entity certificate's (the
    /// holder proved possession when it loaded the key).
    pub fn delegated(
        name: &str,
        chain: Vec<CertificateDer<'static>>,
        purposes: &[Purpose],
        schemes: Vec<SignatureScheme>,
        sign: Arc<DelegatedSign>,
    ) -> Result<Self> {
        let spki = chain
            .first()
            .and_then(|ee| webpki::EndEntityCert::try_from(ee).ok())
            .map(|ee| ee.subject_public_key_info())
            .ok_or_else(|| {
                Error::config(format!(
                    "identity {}: the end-entity certificate does not parse",
                    shown(name)
                ))
            })?;
        let algorithm = match schemes.first() {
            Some(scheme) => scheme_algorithm(*scheme),
            None => {
                return Err(Error::config(format!(
                    "identity {}: its key signs with no TLS signature scheme",
                    shown(name)
                )));
            }
        };
        let key = DelegatedKey {
            schemes,
            algorithm,
            spki,
            sign,
        };
        Self::new(
            name,
            chain,
            Arc::new(key),
            purposes,
            "the host (host-signer)",
        )
    }

    /// The TLS signature schemes its key signs with, best first.
    pub fn schemes(&self) -> Vec<SignatureScheme> {
        TLS_SCHEMES
            .iter()
            .copied()
            .filter(|s| self.certified.key.choose_scheme(&[*s]).is_some())
            .collect()
    }

    /// Signs `message` under `scheme` for a handshake run elsewhere (the guest
    /// provider's, through `host-signer`): only the content of a TLS 1.3
    /// CertificateVerify, with the context string of a purpose the identity
    /// is granted for, and a scheme its key has. What that lets a caller do
    /// is what the grant means: authenticate as the identity in TLS 1.3
    /// handshakes; the 64-space prefix and context string keep the signature
    /// from counting for anything else.
    pub fn sign_handshake(&self, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>> {
        let purpose = certificate_verify_purpose(message).ok_or_else(|| {
            Error::not_permitted(format!(
                "the host signs for identity {} only the content of a TLS 1.3 \
                 CertificateVerify (64 spaces, the client's or server's context string, a \
                 zero byte, a 32- or 48-byte transcript hash); the {} bytes given are not one",
                shown(&self.name),
                message.len()
            ))
        })?;
        if !self.purposes.contains(&purpose) {
            return Err(self.not_for(purpose));
        }
        let signer = self.certified.key.choose_scheme(&[scheme]).ok_or_else(|| {
            Error::not_permitted(format!(
                "the key of identity {} does not sign with {scheme:?} (it signs with {:?})",
                shown(&self.name),
                self.schemes()
            ))
        })?;
        signer.sign(message).map_err(|e| {
            Error::config(format!(
                "identity {}: the key ({}) did not sign: {e}",
                shown(&self.name),
                self.key_source
            ))
        })
    }

    /// The refusal of a purpose the identity is not granted for.
    fn not_for(&self, purpose: Purpose) -> Error {
        Error::not_permitted(format!(
            "the host identity {:?} is granted for {} only, not for {}",
            self.name,
            self.purposes
                .iter()
                .map(|p| p.describe())
                .collect::<Vec<_>>()
                .join(" and "),
            purpose.describe()
        ))
    }
}

/// Signs with a key held elsewhere: the scheme and the message in, the
/// signature or a sentence saying why not out.
pub type DelegatedSign =
    dyn Fn(SignatureScheme, &[u8]) -> std::result::Result<Vec<u8>, String> + Send + Sync;

/// Every signature scheme a TLS handshake may ask a certificate's key for,
/// in the order keys are offered them.
const TLS_SCHEMES: [SignatureScheme; 10] = [
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::ECDSA_NISTP521_SHA512,
    SignatureScheme::ED25519,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA512,
    SignatureScheme::RSA_PKCS1_SHA256,
    SignatureScheme::RSA_PKCS1_SHA384,
    SignatureScheme::RSA_PKCS1_SHA512,
];

fn scheme_algorithm(scheme: SignatureScheme) -> SignatureAlgorithm {
    use SignatureScheme as S;
    match scheme {
        S::ECDSA_NISTP256_SHA256 | S::ECDSA_NISTP384_SHA384 | S::ECDSA_NISTP521_SHA512 => {
            SignatureAlgorithm::ECDSA
        }
        S::ED25519 => SignatureAlgorithm::ED25519,
        S::ED448 => SignatureAlgorithm::ED448,
        _ => SignatureAlgorithm::RSA,
    }
}

/// The purpose whose TLS 1.3 CertificateVerify `message` is the content of
/// (RFC 8446, section 4.4.3), if it is one.
fn certificate_verify_purpose(message: &[u8]) -> Option<Purpose> {
    let rest = message.strip_prefix(&[b' '; 64])?;
    let (purpose, rest) =
        if let Some(rest) = rest.strip_prefix(b"TLS 1.3, client CertificateVerify") {
            (Purpose::Client, rest)
        } else {
            (
                Purpose::Server,
                rest.strip_prefix(b"TLS 1.3, server CertificateVerify")?,
            )
        };
    let hash = rest.strip_prefix(&[0])?;
    matches!(hash.len(), 32 | 48).then_some(purpose)
}

/// A key held elsewhere, reached through a [`DelegatedSign`].
struct DelegatedKey {
    schemes: Vec<SignatureScheme>,
    algorithm: SignatureAlgorithm,
    spki: SubjectPublicKeyInfoDer<'static>,
    sign: Arc<DelegatedSign>,
}

impl fmt::Debug for DelegatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelegatedKey")
            .field("schemes", &self.schemes)
            .finish()
    }
}

impl SigningKey for DelegatedKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let scheme = *self.schemes.iter().find(|s| offered.contains(s))?;
        Some(Box::new(DelegatedSigner {
            scheme,
            sign: self.sign.clone(),
        }))
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(self.spki.clone())
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }
}

struct DelegatedSigner {
    scheme: SignatureScheme,
    sign: Arc<DelegatedSign>,
}

impl fmt::Debug for DelegatedSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelegatedSigner")
            .field("scheme", &self.scheme)
            .finish()
    }
}

impl Signer for DelegatedSigner {
    fn sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, rustls::Error> {
        (self.sign)(self.scheme, message).map_err(rustls::Error::General)
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

/// Signs a fixed message with `certified`'s key and checks the signature
/// with its end-entity certificate: the key is the certificate's, and it
/// signs.
fn prove_possession(certified: &CertifiedKey, name: &str, key_source: &str) -> Result<()> {
    use rustls::SignatureScheme as S;
    let all = [
        S::ECDSA_NISTP256_SHA256,
        S::ECDSA_NISTP384_SHA384,
        S::ED25519,
        S::RSA_PSS_SHA256,
        S::RSA_PKCS1_SHA256,
    ];
    let signer = certified.key.choose_scheme(&all).ok_or_else(|| {
        Error::config(format!(
            "identity {name:?}: the key ({key_source}) offers no signature scheme TLS uses"
        ))
    })?;
    let message = b"memtls: this key belongs to the identity's certificate";
    let signature = signer.sign(message).map_err(|e| {
        Error::config(format!(
            "identity {name:?}: the key ({key_source}) did not sign: {e}"
        ))
    })?;
    let scheme = signer.scheme();
    let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    let verified = webpki::EndEntityCert::try_from(&certified.cert[0]).is_ok_and(|ee| {
        algorithms
            .mapping
            .iter()
            .filter(|(s, _)| *s == scheme)
            .flat_map(|(_, algs)| algs.iter())
            .any(|alg| ee.verify_signature(*alg, message, &signature).is_ok())
    });
    if verified {
        Ok(())
    } else {
        Err(Error::config(format!(
            "identity {name:?}: the key ({key_source}) does not match the end-entity \
             certificate (its {scheme:?} signature does not verify with the certificate's key)"
        )))
    }
}

/// The longest identity name.
const MAX_NAME_LEN: usize = 64;

/// Whether `name` is one the command line, the WIT and messages can carry: 1
/// to 64 ASCII letters, digits, `-`, `_` or `.`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `name` for a message: whole when short, its start and length otherwise.
pub(crate) fn shown(name: &str) -> String {
    match name.char_indices().nth(MAX_NAME_LEN) {
        None => format!("{name:?}"),
        Some((end, _)) => format!("{:?}... ({} bytes)", &name[..end], name.len()),
    }
}

fn check_name(name: &str) -> Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(Error::config(format!(
            "identity name {}: use 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.'",
            shown(name)
        )))
    }
}

impl fmt::Debug for HostIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostIdentity")
            .field("name", &self.name)
            .field("certificates", &self.certified.cert.len())
            .field("algorithm", &self.certified.key.algorithm())
            .field("purposes", &self.purposes)
            .field("key_source", &self.key_source)
            .finish()
    }
}

/// Two identities are the same grant when name, chain, purposes and key
/// source agree (the key itself cannot be compared, and need not be: the
/// chain's end entity fixes its public half).
impl PartialEq for HostIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.certified.cert == other.certified.cert
            && self.purposes == other.purposes
            && self.key_source == other.key_source
    }
}

impl Eq for HostIdentity {}

/// Finds identity `name` among `granted`, whatever its purposes, or says
/// that the policy does not grant it.
pub(crate) fn named<'a>(granted: &'a [Arc<HostIdentity>], name: &str) -> Result<&'a HostIdentity> {
    granted
        .iter()
        .find(|i| i.name == name)
        .map(|i| &**i)
        .ok_or_else(|| {
            Error::not_permitted(format!(
                "the host identity {} is not granted to this program by the embedder's \
                 policy{}",
                shown(name),
                if granted.is_empty() {
                    " (it grants none)".to_owned()
                } else {
                    format!(
                        " (it grants {})",
                        granted
                            .iter()
                            .map(|i| format!("{:?}", i.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ))
        })
}

/// Finds identity `name` among `granted` for `purpose`, or says why not.
pub(crate) fn find<'a>(
    granted: &'a [Arc<HostIdentity>],
    name: &str,
    purpose: Purpose,
) -> Result<&'a HostIdentity> {
    let identity = named(granted, name)?;
    if !identity.purposes.contains(&purpose) {
        return Err(identity.not_for(purpose));
    }
    Ok(identity)
}
