//! Configuration made OpenSSL's: the suites offered and their names,
//! versions, signing chains and private keys, ALPN.

use crate::error::{self, from_stack};
use memtls_engine::{Error, Policy, ProtocolVersion, Purpose, RawKey, Result, SigningChain};
use openssl::pkey::PKey;
use openssl::ssl::{SslContext, SslContextBuilder, SslMethod, SslVersion};
use openssl::x509::X509;

/// The cipher suites the openssl provider offers: the interface's AEAD suites
/// (IANA id, IANA name as the other providers report it, OpenSSL's name), in
/// the provider's default preference.
pub(crate) const SUITES: [(u16, &str, &str); 9] = [
    (0x1302, "TLS13_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    (0x1301, "TLS13_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
    (
        0x1303,
        "TLS13_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
    ),
    (
        0xc02c,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ),
    (
        0xc02b,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ),
    (
        0xcca9,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ),
    (
        0xc030,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
    ),
    (
        0xc02f,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ),
    (
        0xcca8,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ),
];

/// OpenSSL's name for the cipher suite with IANA id `id`, among the ones the
/// openssl provider offers.
pub fn suite_name(id: u16) -> Option<&'static str> {
    SUITES.iter().find(|s| s.0 == id).map(|s| s.2)
}

/// An SSL context builder for `method`, with the interface's floor (TLS 1.2).
pub(crate) fn builder(method: SslMethod, what: &str) -> Result<SslContextBuilder> {
    let mut b = SslContext::builder(method).map_err(|e| from_stack(what, &e))?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(|e| from_stack(what, &e))?;
    error::note_alerts(&mut b);
    Ok(b)
}

/// The version bounds of a configuration.
pub(crate) fn versions(
    b: &mut SslContextBuilder,
    min: Option<ProtocolVersion>,
    max: Option<ProtocolVersion>,
) -> Result<()> {
    let (min, max) = memtls_engine::version_range(min, max)?;
    let ssl = |v| match v {
        ProtocolVersion::Tls12 => SslVersion::TLS1_2,
        ProtocolVersion::Tls13 => SslVersion::TLS1_3,
    };
    b.set_min_proto_version(Some(ssl(min)))
        .and_then(|()| b.set_max_proto_version(Some(ssl(max))))
        .map_err(|e| from_stack("min-version / max-version", &e))
}

/// The key-exchange groups this provider offers, preferred first, as the
/// rustls providers order them: X25519MLKEM768, x25519, secp256r1, secp384r1,
/// then secp521r1 and x448, which OpenSSL has too.
const GROUP_PREFERENCE: [u16; 6] = [0x11ec, 0x001d, 0x0017, 0x0018, 0x0019, 0x001e];

/// What this OpenSSL has of [`GROUP_PREFERENCE`], asked once at run time:
/// the IANA ids, and the groups list every context without its own is given.
struct DefaultGroups {
    ids: Vec<u16>,
    list: String,
}

fn default_group_list() -> &'static DefaultGroups {
    static GROUPS: std::sync::OnceLock<DefaultGroups> = std::sync::OnceLock::new();
    GROUPS.get_or_init(|| {
        let ids: Vec<u16> = GROUP_PREFERENCE
            .into_iter()
            .filter(|id| {
                let name = memtls_engine::group_name(*id).unwrap_or_default();
                SslContext::builder(SslMethod::tls())
                    .and_then(|mut b| b.set_groups_list(name))
                    .is_ok()
            })
            .collect();
        // With the hybrid first, `*` asks for key shares for it and X25519.
        let hybrid_first = ids.first() == Some(&0x11ec);
        let list = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let name = memtls_engine::group_name(*id).unwrap_or_default();
                match hybrid_first && i < 2 {
                    true => format!("*{name}"),
                    false => name.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join(":");
        DefaultGroups { ids, list }
    })
}

/// The groups of [`GROUP_PREFERENCE`] this OpenSSL has: X25519MLKEM768 from
/// OpenSSL 3.5 on, the classical groups before.
pub(crate) fn default_groups() -> &'static [u16] {
    &default_group_list().ids
}

/// The key-exchange groups of a configuration (IANA ids), in its order; none
/// means [`default_groups`]. With the hybrid first, the ClientHello carries
/// key shares for it and for X25519 (OpenSSL 3.5's `*` marks), so a server
/// without the hybrid needs no HelloRetryRequest.
pub(crate) fn groups(b: &mut SslContextBuilder, ids: Option<&[u16]>) -> Result<()> {
    let Some(ids) = ids else {
        return b
            .set_groups_list(&default_group_list().list)
            .map_err(|e| from_stack("key-exchange-groups", &e));
    };
    if ids.is_empty() {
        return Err(Error::config(
            "key-exchange-groups is an empty list: give none for the defaults",
        ));
    }
    let mut names = Vec::with_capacity(ids.len());
    for &id in ids {
        let name = memtls_engine::group_name(id)
            .filter(|_| default_groups().contains(&id))
            .ok_or_else(|| {
                Error::config(format!(
                    "{} is unknown or not supported by this provider ({})",
                    memtls_engine::group_label(id),
                    openssl::version::version()
                ))
            })?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    b.set_groups_list(&names.join(":"))
        .map_err(|e| from_stack("key-exchange-groups", &e))
}

/// The cipher suites of a configuration (IANA ids), in its order, as
/// OpenSSL's TLS 1.3 and TLS 1.2 lists.
pub(crate) fn suites(b: &mut SslContextBuilder, ids: Option<&[u16]>) -> Result<()> {
    let mut chosen: Vec<&(u16, &str, &str)> = match ids {
        None => SUITES.iter().collect(),
        Some([]) => {
            return Err(Error::config(
                "cipher-suites is an empty list: give none for the defaults",
            ));
        }
        Some(ids) => ids
            .iter()
            .map(|id| {
                SUITES.iter().find(|s| s.0 == *id).ok_or_else(|| {
                    Error::config(format!(
                        "cipher suite 0x{id:04x} is unknown or not supported by this provider"
                    ))
                })
            })
            .collect::<Result<_>>()?,
    };
    // Each suite once, where first named: OpenSSL's parser checks every entry
    // against those before it, so a million repeats would cost it minutes.
    let mut seen = std::collections::HashSet::new();
    chosen.retain(|s| seen.insert(s.0));
    let names = |tls13: bool| {
        chosen
            .iter()
            .filter(|s| (s.0 >> 8 == 0x13) == tls13)
            .map(|s| s.2)
            .collect::<Vec<_>>()
            .join(":")
    };
    let (v13, v12) = (names(true), names(false));
    b.set_ciphersuites(&v13)
        .map_err(|e| from_stack("cipher-suites (TLS 1.3)", &e))?;
    if v12.is_empty() {
        // No TLS 1.2 suite chosen: no TLS 1.2.
        b.set_min_proto_version(Some(SslVersion::TLS1_3))
            .map_err(|e| from_stack("cipher-suites", &e))?;
    } else {
        b.set_cipher_list(&v12)
            .map_err(|e| from_stack("cipher-suites (TLS 1.2)", &e))?;
    }
    if v13.is_empty() {
        b.set_max_proto_version(Some(SslVersion::TLS1_2))
            .map_err(|e| from_stack("cipher-suites", &e))?;
    }
    Ok(())
}

/// Installs a signing chain (its own key, or a host identity's); returns
/// its end-entity certificate.
pub(crate) fn signing_chain(
    b: &mut SslContextBuilder,
    chain: &SigningChain,
    what: &str,
    purpose: Purpose,
    policy: &Policy,
) -> Result<X509> {
    if let Some(name) = chain.host_identity_name(what)? {
        let identity = policy.identity(name, purpose)?;
        let key = match identity.raw_key() {
            None => {
                return Err(Error::config(format!(
                    "{what}: the host identity {name:?} has no key the openssl provider can \
                     sign with (the embedder gave it only a rustls signing key: see \
                     HostIdentity::with_raw_key); the native and guest providers can"
                )));
            }
            Some(RawKey::Der(der)) => key_from_der(der.secret_der(), what)?,
            Some(RawKey::Operations(ops)) => crate::held::key(identity, ops.clone(), what)?,
        };
        let certs = identity.certificates().iter().map(|c| c.to_vec());
        return install(b, certs, &key, what);
    }
    let certs =
        memtls_engine::parse_certificates(&chain.certificates, &format!("{what}.certificates"))?;
    let key = private_key(
        &chain.private_key,
        chain.private_key_password.as_deref(),
        what,
    )?;
    install(b, certs.into_iter().map(|c| c.to_vec()), &key, what)
}

/// Installs `certs` (DER, end entity first) and `key`; returns the end-entity
/// certificate.
fn install(
    b: &mut SslContextBuilder,
    certs: impl IntoIterator<Item = Vec<u8>>,
    key: &PKey<openssl::pkey::Private>,
    what: &str,
) -> Result<X509> {
    let mut certs = certs.into_iter();
    let leaf = certs
        .next()
        .ok_or_else(|| Error::config(format!("{what}.certificates is empty")))?;
    let leaf = X509::from_der(&leaf).map_err(|e| from_stack(what, &e))?;
    b.set_certificate(&leaf).map_err(|e| from_stack(what, &e))?;
    for c in certs {
        let c = X509::from_der(&c).map_err(|e| from_stack(what, &e))?;
        b.add_extra_chain_cert(c)
            .map_err(|e| from_stack(what, &e))?;
    }
    let mismatch = |e: openssl::error::ErrorStack| {
        Error::config(format!(
            "{what}: the private key does not match the first certificate's public key ({})",
            error::describe(&e)
        ))
    };
    b.set_private_key(key).map_err(mismatch)?;
    b.check_private_key().map_err(mismatch)?;
    Ok(leaf)
}

/// A private key in a form the interface takes (PEM or DER: PKCS#8, PKCS#1,
/// SEC1; encrypted with `password`, decrypted by the engine) as OpenSSL's; a
/// sentence naming `what` when it is refused.
pub fn private_key(
    bytes: &[u8],
    password: Option<&[u8]>,
    what: &str,
) -> Result<PKey<openssl::pkey::Private>> {
    let key = memtls_engine::parse_private_key_with_password(bytes, password)
        .map_err(|e| Error::new(e.kind, format!("{what}: {}", e.message)))?;
    key_from_der(key.secret_der(), what)
}

/// A private key's DER (PKCS#8, PKCS#1 or SEC1) as OpenSSL's. OpenSSL 3.0
/// reads no PKCS#8 v2 Ed25519 key (RFC 5958's, with the public key: what ring
/// and rcgen write), so such a key is read from its seed.
fn key_from_der(der: &[u8], what: &str) -> Result<PKey<openssl::pkey::Private>> {
    PKey::private_key_from_der(der)
        .or_else(|e| match ed25519_seed(der) {
            Some(seed) => PKey::private_key_from_raw_bytes(seed, openssl::pkey::Id::ED25519),
            None => Err(e),
        })
        .map_err(|e| from_stack(what, &e))
}

/// The 32-byte seed of a PKCS#8 Ed25519 key (v1 or v2): what follows the
/// algorithm (id-Ed25519, 1.3.101.112) in the privateKey OCTET STRING, itself
/// an OCTET STRING of 32 bytes (RFC 8410).
pub(crate) fn ed25519_seed(der: &[u8]) -> Option<&[u8]> {
    const ALGORITHM_THEN_KEY: [u8; 9] = [0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    let at = der
        .windows(ALGORITHM_THEN_KEY.len())
        .position(|w| w == ALGORITHM_THEN_KEY)?;
    der.get(at + ALGORITHM_THEN_KEY.len()..)?.get(..32)
}

/// The first of our protocols (the server's preference) that the client's
/// wire-format list offers, as a slice of that list.
pub(crate) fn choose_alpn<'a>(ours: &[Vec<u8>], theirs: &'a [u8]) -> Option<&'a [u8]> {
    let mut offered = Vec::new();
    let mut rest = theirs;
    while let Some((&len, tail)) = rest.split_first() {
        let (p, tail) = tail.split_at_checked(len as usize)?;
        offered.push(p);
        rest = tail;
    }
    ours.iter()
        .find_map(|p| offered.iter().find(|o| **o == p.as_slice()).copied())
}

/// ALPN protocols in the wire format (length-prefixed).
pub(crate) fn wire(protocols: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in protocols {
        out.push(p.len() as u8);
        out.extend_from_slice(p);
    }
    out
}
