//! Keys that never leave a PKCS#11 token: an RFC 7512 URI names the module,
//! the token and the key; the host signs through the token and rustls sees an
//! ordinary [`SigningKey`], the openssl provider the key's private-key
//! operations ([`KeyOperations`]: `CKM_ECDSA` over libssl's digest,
//! `CKM_RSA_X_509` on its PSS block, `CKM_RSA_PKCS` on a DigestInfo).
//!
//! Supported URI attributes: `token`, `manufacturer`, `model`, `serial`,
//! `slot-id`, `object`, `id` and `type` (which must be `private`) in the path;
//! `module-path` (required) and `pin-source` (a file holding the PIN, as a
//! path or a `file:` URI) in the query. `pin-value` is refused: a PIN in a
//! command line is visible to every user of the machine.
//!
//! Keys: ECDSA P-256 and P-384 (`CKM_ECDSA` over the host's digest), RSA of
//! 2048 bits or more (`CKM_RSA_PKCS_PSS`, `CKM_RSA_PKCS`), Ed25519
//! (`CKM_EDDSA`). A key offers exactly the TLS signature schemes its type and
//! the token's mechanisms allow.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use memtls_engine::rustls::pki_types::SubjectPublicKeyInfoDer;
use memtls_engine::rustls::sign::{Signer, SigningKey};
use memtls_engine::rustls::{SignatureAlgorithm, SignatureScheme};
use memtls_engine::{Error, KeyOperations, RawKey, Result, RsaPadding};

/// The longest PIN file read.
const MAX_PIN_FILE: u64 = 1024;

/// A parsed `pkcs11:` URI: the attributes memtls uses.
#[derive(Debug, Default)]
struct Uri {
    token: Option<String>,
    manufacturer: Option<String>,
    model: Option<String>,
    serial: Option<String>,
    slot_id: Option<u64>,
    object: Option<Vec<u8>>,
    id: Option<Vec<u8>>,
    module_path: Option<PathBuf>,
    pin_source: Option<PathBuf>,
}

/// Decodes RFC 3986 percent-escapes.
fn unescape(value: &str, what: &str) -> Result<Vec<u8>> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::config(format!("{what}: bad percent-escape in {value:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// The text of an attribute's value.
fn text(value: &str, what: &str) -> Result<String> {
    String::from_utf8(unescape(value, what)?)
        .map_err(|_| Error::config(format!("{what}: {value:?} is not UTF-8")))
}

/// Parses `uri` (RFC 7512), refusing what memtls does not understand.
fn parse_uri(uri: &str, what: &str) -> Result<Uri> {
    let rest = uri
        .strip_prefix("pkcs11:")
        .ok_or_else(|| Error::config(format!("{what}: a PKCS#11 URI starts with \"pkcs11:\"")))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut u = Uri::default();
    for attr in path.split(';').filter(|a| !a.is_empty()) {
        let (k, v) = attr
            .split_once('=')
            .ok_or_else(|| Error::config(format!("{what}: path attribute {attr:?} has no '='")))?;
        match k {
            "token" => u.token = Some(text(v, what)?),
            "manufacturer" => u.manufacturer = Some(text(v, what)?),
            "model" => u.model = Some(text(v, what)?),
            "serial" => u.serial = Some(text(v, what)?),
            "slot-id" => {
                u.slot_id =
                    Some(v.parse().map_err(|_| {
                        Error::config(format!("{what}: slot-id {v:?} is not a number"))
                    })?)
            }
            "object" => u.object = Some(unescape(v, what)?),
            "id" => u.id = Some(unescape(v, what)?),
            "type" if v == "private" => {}
            "type" => {
                return Err(Error::config(format!(
                    "{what}: type={v} names no private key; use type=private or leave it out"
                )));
            }
            _ => {
                return Err(Error::config(format!(
                    "{what}: unsupported path attribute {k:?} (memtls understands token, \
                     manufacturer, model, serial, slot-id, object, id and type)"
                )));
            }
        }
    }
    for attr in query.split('&').filter(|a| !a.is_empty()) {
        let (k, v) = attr
            .split_once('=')
            .ok_or_else(|| Error::config(format!("{what}: query attribute {attr:?} has no '='")))?;
        match k {
            "module-path" => u.module_path = Some(PathBuf::from(text(v, what)?)),
            "pin-source" => {
                let source = text(v, what)?;
                let path = source
                    .strip_prefix("file://")
                    .or_else(|| source.strip_prefix("file:"))
                    .unwrap_or(&source);
                u.pin_source = Some(PathBuf::from(path));
            }
            "pin-value" => {
                return Err(Error::config(format!(
                    "{what}: pin-value puts the PIN in the command line, where every user of \
                     this machine can read it; put it in a file only you can read and give \
                     pin-source=file:PATH"
                )));
            }
            _ => {
                return Err(Error::config(format!(
                    "{what}: unsupported query attribute {k:?} (memtls understands \
                     module-path and pin-source)"
                )));
            }
        }
    }
    if u.object.is_none() && u.id.is_none() {
        return Err(Error::config(format!(
            "{what}: name the key with object= (its label) or id="
        )));
    }
    Ok(u)
}

/// The URI as it can be shown: the PIN is never part of it.
fn shown(uri: &str) -> String {
    format!("PKCS#11 {uri}")
}

/// One `C_Initialize` per module in the process, shared by its identities.
fn module(path: &Path, what: &str) -> Result<Pkcs11> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(m) = modules.get(path) {
        return Ok(m.clone());
    }
    let m = Pkcs11::new(path).map_err(|e| {
        Error::config(format!(
            "{what}: cannot load the PKCS#11 module {}: {e}",
            path.display()
        ))
    })?;
    m.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| {
            Error::config(format!(
                "{what}: the PKCS#11 module {} did not initialize: {e}",
                path.display()
            ))
        })?;
    modules.insert(path.to_owned(), m.clone());
    Ok(m)
}

/// The one slot whose token matches the URI.
fn find_slot(m: &Pkcs11, u: &Uri, what: &str) -> Result<Slot> {
    let slots = m
        .get_slots_with_token()
        .map_err(|e| Error::config(format!("{what}: cannot list the module's tokens: {e}")))?;
    let mut found = Vec::new();
    let mut seen = Vec::new();
    for slot in slots {
        if u.slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        let Ok(info) = m.get_token_info(slot) else {
            continue;
        };
        let same = |want: &Option<String>, have: &str| {
            want.as_deref()
                .is_none_or(|w| w.trim_end() == have.trim_end())
        };
        seen.push(info.label().trim_end().to_owned());
        if same(&u.token, info.label())
            && same(&u.manufacturer, info.manufacturer_id())
            && same(&u.model, info.model())
            && same(&u.serial, info.serial_number())
        {
            found.push(slot);
        }
    }
    match found.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(Error::config(format!(
            "{what}: no token matches (the module has {})",
            if seen.is_empty() {
                "no initialized token".to_owned()
            } else {
                format!("tokens {seen:?}")
            }
        ))),
        _ => Err(Error::config(format!(
            "{what}: {} tokens match; add token=, serial= or slot-id= to choose one",
            found.len()
        ))),
    }
}

/// The PIN from `path` (read as the command reads its inputs), without its
/// line ending.
fn read_pin(path: &Path, what: &str) -> Result<AuthPin> {
    let what = format!("{what}: the PIN file {}", path.display());
    let bytes =
        crate::read_input(path, &what, MAX_PIN_FILE).map_err(|e| Error::config(e.to_string()))?;
    let pin = String::from_utf8(bytes)
        .map_err(|_| Error::config(format!("{what}: the PIN is not UTF-8")))?;
    Ok(AuthPin::from(pin.trim_end_matches(['\r', '\n']).to_owned()))
}

/// What a token key is, and so which schemes it can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    P256,
    P384,
    Rsa,
    Ed25519,
}

/// DER of the named-curve parameters `CKA_EC_PARAMS` holds.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const ED25519_PARAMS: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// `PrintableString "edwards25519"`, how PKCS#11 2.40 tokens name the curve.
const ED25519_NAMED: &[u8] = b"\x13\x0cedwards25519";

/// The key `object`/`id` on the session's token, and its kind.
fn find_key(session: &Session, u: &Uri, what: &str) -> Result<(ObjectHandle, Kind)> {
    let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
    if let Some(label) = &u.object {
        template.push(Attribute::Label(label.clone()));
    }
    if let Some(id) = &u.id {
        template.push(Attribute::Id(id.clone()));
    }
    let keys = session
        .find_objects(&template)
        .map_err(|e| Error::config(format!("{what}: cannot search the token: {e}")))?;
    let key = match keys.as_slice() {
        [key] => *key,
        [] => {
            return Err(Error::config(format!(
                "{what}: no private key on the token has that object/id (is the PIN right, and \
                 the key imported?)"
            )));
        }
        _ => {
            return Err(Error::config(format!(
                "{what}: {} private keys match; give both object= and id=",
                keys.len()
            )));
        }
    };
    let attrs = session
        .get_attributes(
            key,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::Modulus,
            ],
        )
        .map_err(|e| Error::config(format!("{what}: cannot read the key's attributes: {e}")))?;
    let mut key_type = None;
    let mut params = None;
    let mut modulus_bits = 0;
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::Modulus(m) => {
                let m = m.iter().skip_while(|b| **b == 0).count();
                modulus_bits = m * 8;
            }
            _ => {}
        }
    }
    let kind = match (key_type, params.as_deref()) {
        (Some(KeyType::EC), Some(P256_PARAMS)) => Kind::P256,
        (Some(KeyType::EC), Some(P384_PARAMS)) => Kind::P384,
        (Some(KeyType::EC_EDWARDS), Some(ED25519_PARAMS | ED25519_NAMED)) => Kind::Ed25519,
        (Some(KeyType::RSA), _) if modulus_bits >= 2048 => Kind::Rsa,
        (Some(KeyType::RSA), _) => {
            return Err(Error::config(format!(
                "{what}: the RSA key has {modulus_bits} bits; TLS here needs 2048 or more"
            )));
        }
        (t, _) => {
            return Err(Error::config(format!(
                "{what}: unsupported key ({}); memtls signs with ECDSA P-256 or P-384, RSA \
                 (2048 bits or more) or Ed25519",
                t.map_or("no key type".to_owned(), |t| t.to_string())
            )));
        }
    };
    Ok((key, kind))
}

/// The TLS schemes a `kind` key can sign with, given the token's mechanisms,
/// in the order offered.
fn schemes(kind: Kind, mechanisms: &[MechanismType]) -> Vec<SignatureScheme> {
    let has = |m: MechanismType| mechanisms.contains(&m);
    let mut out = Vec::new();
    match kind {
        Kind::P256 if has(MechanismType::ECDSA) => out.push(SignatureScheme::ECDSA_NISTP256_SHA256),
        Kind::P384 if has(MechanismType::ECDSA) => out.push(SignatureScheme::ECDSA_NISTP384_SHA384),
        Kind::Ed25519 if has(MechanismType::EDDSA) => out.push(SignatureScheme::ED25519),
        Kind::Rsa => {
            if has(MechanismType::RSA_PKCS_PSS) {
                out.extend([
                    SignatureScheme::RSA_PSS_SHA256,
                    SignatureScheme::RSA_PSS_SHA384,
                    SignatureScheme::RSA_PSS_SHA512,
                ]);
            }
            if has(MechanismType::RSA_PKCS) {
                out.extend([
                    SignatureScheme::RSA_PKCS1_SHA256,
                    SignatureScheme::RSA_PKCS1_SHA384,
                    SignatureScheme::RSA_PKCS1_SHA512,
                ]);
            }
        }
        _ => {}
    }
    out
}

/// Opens the key `uri` names for the identity `name`: the module loaded, the
/// token found, the user logged in with the PIN from `pin-source`, the key
/// found and its schemes known. Returns the key as rustls signs with it, as
/// the openssl provider does, and how to name it.
pub(crate) fn token_key(uri: &str, name: &str) -> Result<(Arc<dyn SigningKey>, RawKey, String)> {
    let what = format!("identity {name:?} ({})", shown(uri));
    let u = parse_uri(uri, &what)?;
    let module_path = u.module_path.as_deref().ok_or_else(|| {
        Error::config(format!(
            "{what}: give the module with ?module-path=PATH (for SoftHSM2: \
             /usr/lib/softhsm/libsofthsm2.so)"
        ))
    })?;
    let m = module(module_path, &what)?;
    let slot = find_slot(&m, &u, &what)?;
    let session = m
        .open_ro_session(slot)
        .map_err(|e| Error::config(format!("{what}: cannot open a session: {e}")))?;
    if let Some(pin_path) = &u.pin_source {
        let pin = read_pin(pin_path, &what)?;
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) => {}
            // Another identity on the same token logged in already.
            Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::UserAlreadyLoggedIn,
                _,
            )) => {}
            Err(e) => {
                return Err(Error::config(format!(
                    "{what}: the token refused the PIN from {}: {e}",
                    pin_path.display()
                )));
            }
        }
    }
    let (key, kind) = find_key(&session, &u, &what)?;
    let mechanisms = m
        .get_mechanism_list(slot)
        .map_err(|e| Error::config(format!("{what}: cannot list the token's mechanisms: {e}")))?;
    let schemes = schemes(kind, &mechanisms);
    if schemes.is_empty() {
        return Err(Error::config(format!(
            "{what}: the token has no mechanism to sign with this {kind:?} key for TLS"
        )));
    }
    let token = TokenKey(Arc::new(Token {
        session: Mutex::new(session),
        key,
        kind,
        schemes,
        raw_rsa: mechanisms.contains(&MechanismType::RSA_X_509),
        pkcs1: mechanisms.contains(&MechanismType::RSA_PKCS),
        source: shown(uri),
    }));
    let raw = RawKey::Operations(Arc::new(token.clone()));
    Ok((Arc::new(token), raw, shown(uri)))
}

/// A key on a token, behind one session (signing is serialized through it).
struct Token {
    session: Mutex<Session>,
    key: ObjectHandle,
    kind: Kind,
    schemes: Vec<SignatureScheme>,
    /// Whether the token does the raw RSA operation (`CKM_RSA_X_509`).
    raw_rsa: bool,
    /// Whether the token does PKCS#1 v1.5 signatures (`CKM_RSA_PKCS`).
    pkcs1: bool,
    source: String,
}

impl Token {
    /// `mechanism` over `data` with the key, through the one session.
    fn sign(&self, mechanism: &Mechanism, data: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        session
            .sign(mechanism, self.key, data)
            .map_err(|e| format!("{} refused to sign: {e}", self.source))
    }

    /// An ECDSA signature over `digest` in DER.
    fn ecdsa(&self, digest: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let signature = self.sign(&Mechanism::Ecdsa, digest)?;
        ecdsa_der(&signature).ok_or_else(|| {
            format!(
                "{} returned an ECDSA signature of {} bytes, not r and s of one length",
                self.source,
                signature.len()
            )
        })
    }
}

/// The token key as the openssl provider's key methods use it.
impl KeyOperations for TokenKey {
    fn ecdsa_sign_digest(&self, digest: &[u8]) -> std::result::Result<Vec<u8>, String> {
        match self.0.kind {
            Kind::P256 | Kind::P384 => self.0.ecdsa(digest),
            other => Err(format!("{} is an {other:?} key, not ECDSA", self.0.source)),
        }
    }

    fn rsa_private(
        &self,
        input: &[u8],
        padding: RsaPadding,
    ) -> std::result::Result<Vec<u8>, String> {
        if self.0.kind != Kind::Rsa {
            return Err(format!(
                "{} is an {:?} key, not RSA",
                self.0.source, self.0.kind
            ));
        }
        match padding {
            RsaPadding::None if self.0.raw_rsa => self.0.sign(&Mechanism::RsaX509, input),
            RsaPadding::None => Err(format!(
                "{} does not do the raw RSA operation (CKM_RSA_X_509) that OpenSSL's RSA-PSS \
                 signatures need; use the native or guest provider with this key",
                self.0.source
            )),
            RsaPadding::Pkcs1 if self.0.pkcs1 => self.0.sign(&Mechanism::RsaPkcs, input),
            RsaPadding::Pkcs1 => Err(format!(
                "{} does not do PKCS#1 v1.5 signatures (CKM_RSA_PKCS)",
                self.0.source
            )),
        }
    }
}

/// The token key rustls signs with.
#[derive(Clone)]
struct TokenKey(Arc<Token>);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("kind", &self.0.kind)
            .field("source", &self.0.source)
            .finish()
    }
}

impl SigningKey for TokenKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let scheme = *self.0.schemes.iter().find(|s| offered.contains(s))?;
        Some(Box::new(TokenSigner {
            token: self.0.clone(),
            scheme,
        }))
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        // Unknown here; the identity checks the key against its certificate
        // by signing once when it is loaded.
        None
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.0.kind {
            Kind::P256 | Kind::P384 => SignatureAlgorithm::ECDSA,
            Kind::Rsa => SignatureAlgorithm::RSA,
            Kind::Ed25519 => SignatureAlgorithm::ED25519,
        }
    }
}

/// One signature with one scheme.
struct TokenSigner {
    token: Arc<Token>,
    scheme: SignatureScheme,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("scheme", &self.scheme)
            .field("source", &self.token.source)
            .finish()
    }
}

/// DigestInfo prefixes (RFC 8017 §9.2) for PKCS#1 v1.5 over a digest.
const SHA256_INFO: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const SHA384_INFO: &[u8] = &[
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
const SHA512_INFO: &[u8] = &[
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

impl Signer for TokenSigner {
    fn sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, memtls_engine::rustls::Error> {
        use SignatureScheme as S;
        use ring::digest::{SHA256, SHA384, SHA512, digest};
        let pss = |hash_alg, mgf, len: usize, alg| {
            let params = PkcsPssParams {
                hash_alg,
                mgf,
                s_len: (len as u64).into(),
            };
            (
                Mechanism::RsaPkcsPss(params),
                digest(alg, message).as_ref().to_vec(),
            )
        };
        let pkcs1 = |info: &[u8], alg| {
            let mut data = info.to_vec();
            data.extend_from_slice(digest(alg, message).as_ref());
            (Mechanism::RsaPkcs, data)
        };
        let (mechanism, data) = match self.scheme {
            S::ECDSA_NISTP256_SHA256 => {
                (Mechanism::Ecdsa, digest(&SHA256, message).as_ref().to_vec())
            }
            S::ECDSA_NISTP384_SHA384 => {
                (Mechanism::Ecdsa, digest(&SHA384, message).as_ref().to_vec())
            }
            S::ED25519 => (
                Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                message.to_vec(),
            ),
            S::RSA_PSS_SHA256 => pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32, &SHA256),
            S::RSA_PSS_SHA384 => pss(MechanismType::SHA384, PkcsMgfType::MGF1_SHA384, 48, &SHA384),
            S::RSA_PSS_SHA512 => pss(MechanismType::SHA512, PkcsMgfType::MGF1_SHA512, 64, &SHA512),
            S::RSA_PKCS1_SHA256 => pkcs1(SHA256_INFO, &SHA256),
            S::RSA_PKCS1_SHA384 => pkcs1(SHA384_INFO, &SHA384),
            S::RSA_PKCS1_SHA512 => pkcs1(SHA512_INFO, &SHA512),
            other => {
                return Err(memtls_engine::rustls::Error::General(format!(
                    "the token key cannot sign with {other:?}"
                )));
            }
        };
        match self.token.kind {
            Kind::P256 | Kind::P384 => self.token.ecdsa(&data),
            _ => self.token.sign(&mechanism, &data),
        }
        .map_err(memtls_engine::rustls::Error::General)
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

/// A PKCS#11 ECDSA signature (r and s, each the curve's length) as the DER
/// `ECDSA-Sig-Value` TLS carries; none when its length is odd or zero.
fn ecdsa_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) || raw.len() > 132 {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let integer = |v: &[u8]| {
        let v = match v.iter().position(|b| *b != 0) {
            Some(i) => &v[i..],
            None => &[0u8][..],
        };
        let mut out = vec![0x02];
        let pad = v[0] & 0x80 != 0;
        out.push((v.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
        out
    };
    let body = [integer(r), integer(s)].concat();
    let mut out = vec![0x30];
    if body.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend(body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_and_refuse_clearly() {
        let u = parse_uri(
            "pkcs11:token=memtls%20test;object=client;id=%01%02;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
            "t",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("memtls test"));
        assert_eq!(u.object.as_deref(), Some(&b"client"[..]));
        assert_eq!(u.id.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(u.pin_source.as_deref(), Some(Path::new("/run/pin")));
        let refused = |uri: &str, says: &str| {
            let e = parse_uri(uri, "t").unwrap_err();
            assert!(e.message.contains(says), "{uri}: {}", e.message);
        };
        refused(
            "pkcs11:object=k?pin-value=1234",
            "every user of this machine",
        );
        refused("pkcs11:object=k;type=cert", "type=private");
        refused("pkcs11:token=t", "object=");
        refused("pkcs11:object=%zz", "percent-escape");
        refused("pkcs11:object=k;color=blue", "unsupported path attribute");
        refused(
            "pkcs11:object=k?module-name=x",
            "unsupported query attribute",
        );
    }

    #[test]
    fn ecdsa_signatures_become_der() {
        // r with its top bit set gets a zero byte; s with leading zeros loses them.
        let mut raw = vec![0x80; 32];
        raw.extend([0u8; 31]);
        raw.push(5);
        assert_eq!(
            ecdsa_der(&raw).unwrap(),
            [
                &[0x30, 0x26, 0x02, 0x21, 0x00][..],
                &[0x80; 32],
                &[0x02, 0x01, 0x05]
            ]
            .concat()
        );
        assert!(ecdsa_der(&[1, 2, 3]).is_none());
        assert!(ecdsa_der(&[]).is_none());
    }
}
