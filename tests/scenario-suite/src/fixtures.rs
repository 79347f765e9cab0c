//! The certificates and keys the scenarios (and the interop tests) use, made
//! fresh on every run with rcgen: CAs, leaves for names, expired and not yet
//! valid leaves, a leaf of an unknown CA, a self-signed leaf to pin, a
//! self-signed CA:TRUE certificate as `openssl req -x509` makes, P-384,
//! Ed25519 and RSA leaves, and the server key in other encodings. The RSA,
//! Ed25519 and encoded EC keys are the public test keys in `keys/`, so nothing
//! here needs the `openssl` command.

use std::collections::BTreeMap;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType, IsCa, KeyPair,
    PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
};
use time::{Duration, OffsetDateTime};

/// A fixture failure, said in words.
type Result<T> = std::result::Result<T, String>;

/// The checked-in test keys (see `keys/README.md`).
mod keys {
    pub const RSA: &str = include_str!("../keys/rsa.pkcs8.pem");
    pub const RSA_PKCS1_PEM: &[u8] = include_bytes!("../keys/rsa.pkcs1.pem");
    pub const RSA_PKCS1_DER: &[u8] = include_bytes!("../keys/rsa.pkcs1.der");
    pub const EC: &str = include_str!("../keys/ec.pkcs8.pem");
    pub const EC_SEC1_PEM: &[u8] = include_bytes!("../keys/ec.sec1.pem");
    pub const EC_SEC1_DER: &[u8] = include_bytes!("../keys/ec.sec1.der");
    pub const ED25519: &str = include_str!("../keys/ed25519.pkcs8.pem");
}

fn fail(what: &str) -> impl Fn(rcgen::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

struct Leaf {
    chain_pem: String,
    der: Vec<u8>,
    key: KeyPair,
}

fn leaf(
    names: &[&str],
    issuer: &CertifiedIssuer<'_, KeyPair>,
    key: KeyPair,
    validity: Option<(OffsetDateTime, OffsetDateTime)>,
) -> Result<Leaf> {
    let what = names.first().copied().unwrap_or("leaf");
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .map_err(fail(what))?;
    params.distinguished_name.push(DnType::CommonName, what);
    if let Some((from, to)) = validity {
        params.not_before = from;
        params.not_after = to;
    }
    let cert = params.signed_by(&key, issuer).map_err(fail(what))?;
    Ok(Leaf {
        chain_pem: cert.pem(),
        der: cert.der().to_vec(),
        key,
    })
}

fn ca(name: &str, key: KeyPair) -> Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(fail(name))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, key).map_err(fail(name))
}

fn new_key() -> Result<KeyPair> {
    KeyPair::generate().map_err(fail("a P-256 key"))
}

/// A self-signed certificate for `name`, CA:TRUE when `is_ca`.
fn self_signed(name: &str, is_ca: bool) -> Result<Leaf> {
    let key = new_key()?;
    let mut params = CertificateParams::new(vec![name.to_string()]).map_err(fail(name))?;
    params.distinguished_name.push(DnType::CommonName, name);
    if is_ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    let cert = params.self_signed(&key).map_err(fail(name))?;
    Ok(Leaf {
        chain_pem: cert.pem(),
        der: cert.der().to_vec(),
        key,
    })
}

/// A chain made to cost path building as much as it can within the default
/// chain limits (10 certificates, 64 KiB): a `localhost` leaf issued by
/// `CN=loop`, then nine CA certificates all named `CN=loop` (each its own
/// issuer, each with its own key), padded with hundreds of empty unknown
/// extensions each to about 58 KiB in all. webpki would try every ordering of
/// the nine, parsing each again at every step; memtls refuses it before.
fn loop_chain() -> Result<Leaf> {
    let mut intermediates = Vec::new();
    for i in 0..9u64 {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(fail("loop"))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "loop");
        params.custom_extensions = (0..330u64)
            .map(|j| CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 55555, i, j], vec![]))
            .collect();
        intermediates.push(CertifiedIssuer::self_signed(params, new_key()?).map_err(fail("loop"))?);
    }
    let leaf = leaf(&["localhost"], &intermediates[0], new_key()?, None)?;
    let mut chain_pem = leaf.chain_pem;
    for ca in &intermediates {
        chain_pem.push_str(&ca.pem());
    }
    Ok(Leaf { chain_pem, ..leaf })
}

/// Generates every certificate and key, by file name: `ca`, `client-ca`,
/// `ed-ca`, and for each leaf `<name>.chain`, `.der`, `.key` (PKCS#8 PEM) and
/// `.key.pkcs8.der`; plus the server key as SEC1 and the RSA key as PKCS#1.
pub fn generate() -> Result<BTreeMap<String, Vec<u8>>> {
    let mut f = BTreeMap::new();
    let now = OffsetDateTime::now_utc();
    let test_ca = ca("memtls test CA", new_key()?)?;
    let other_ca = ca("memtls unknown CA", new_key()?)?;
    let client_ca = ca("memtls client CA", new_key()?)?;
    let ed_ca = ca(
        "memtls Ed25519 CA",
        KeyPair::generate_for(&PKCS_ED25519).map_err(fail("an Ed25519 key"))?,
    )?;
    f.insert("ca".into(), test_ca.pem().into_bytes());
    f.insert("client-ca".into(), client_ca.pem().into_bytes());
    f.insert("ed-ca".into(), ed_ca.pem().into_bytes());

    let mut put = |prefix: &str, leaf: Leaf| {
        f.insert(format!("{prefix}.chain"), leaf.chain_pem.into_bytes());
        f.insert(format!("{prefix}.der"), leaf.der);
        f.insert(
            format!("{prefix}.key"),
            leaf.key.serialize_pem().into_bytes(),
        );
        f.insert(format!("{prefix}.key.pkcs8.der"), leaf.key.serialize_der());
    };
    let key = |pem: &str, alg, what| KeyPair::from_pem_and_sign_algo(pem, alg).map_err(fail(what));
    // The server key is the checked-in P-256 key, so that its SEC1 encodings
    // below are of the same key.
    let server_key = key(keys::EC, &PKCS_ECDSA_P256_SHA256, "keys/ec.pkcs8.pem")?;
    put(
        "server",
        leaf(&["localhost", "a.test"], &test_ca, server_key, None)?,
    );
    put("b", leaf(&["b.test"], &test_ca, new_key()?, None)?);
    put(
        "client",
        leaf(&["client.test"], &client_ca, new_key()?, None)?,
    );
    put(
        "expired",
        leaf(
            &["localhost"],
            &test_ca,
            new_key()?,
            Some((now - Duration::days(30), now - Duration::days(1))),
        )?,
    );
    put(
        "notyet",
        leaf(
            &["localhost"],
            &test_ca,
            new_key()?,
            Some((now + Duration::days(1), now + Duration::days(30))),
        )?,
    );
    put(
        "unknown",
        leaf(&["localhost"], &other_ca, new_key()?, None)?,
    );
    let p384 = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).map_err(fail("a P-384 key"))?;
    put("p384", leaf(&["localhost"], &test_ca, p384, None)?);
    // The checked-in Ed25519 key is PKCS#8 v1, which OpenSSL 3.0 peers read
    // (ring writes v2).
    let ed25519 = key(keys::ED25519, &PKCS_ED25519, "keys/ed25519.pkcs8.pem")?;
    put("ed25519", leaf(&["localhost"], &test_ca, ed25519, None)?);
    // An all-Ed25519 chain (CA and leaf), for the Ed25519 handshake benchmark.
    let ed_leaf = KeyPair::generate_for(&PKCS_ED25519).map_err(fail("an Ed25519 key"))?;
    put("ed25519-all", leaf(&["localhost"], &ed_ca, ed_leaf, None)?);
    // A self-signed leaf for pinning, and a self-signed CA:TRUE certificate as
    // `openssl req -x509` makes them.
    put("self", self_signed("pinned.test", false)?);
    put("self-ca", self_signed("localhost", true)?);
    let rsa = key(keys::RSA, &PKCS_RSA_SHA256, "keys/rsa.pkcs8.pem")?;
    put("rsa", leaf(&["localhost"], &test_ca, rsa, None)?);
    put("loop", loop_chain()?);

    // Other encodings of the same keys.
    f.insert("server.key.sec1.pem".into(), keys::EC_SEC1_PEM.to_vec());
    f.insert("server.key.sec1.der".into(), keys::EC_SEC1_DER.to_vec());
    f.insert("rsa.key.pkcs1.pem".into(), keys::RSA_PKCS1_PEM.to_vec());
    f.insert("rsa.key.pkcs1.der".into(), keys::RSA_PKCS1_DER.to_vec());
    Ok(f)
}

/// A fresh CA and the `localhost` server chain it issued, with the chain's key
/// (PEM each): `(ca, chain, key)`, for tests that need no more.
pub fn server() -> Result<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let mut f = generate()?;
    let mut take = |name: &str| f.remove(name).ok_or_else(|| format!("no fixture {name}"));
    Ok((take("ca")?, take("server.chain")?, take("server.key")?))
}

/// The fixtures as the scenarios take them, generated once per process (the
/// native scenario tests share them).
pub fn shared() -> &'static crate::Fixtures {
    static FIXTURES: std::sync::OnceLock<crate::Fixtures> = std::sync::OnceLock::new();
    FIXTURES.get_or_init(|| {
        generate()
            .expect("generating fixtures")
            .into_iter()
            .collect()
    })
}
