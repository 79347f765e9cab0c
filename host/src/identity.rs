//! Host identities as the embedder names them: a certificate chain from a PEM
//! file and a key from a file or a PKCS#11 token, under a name the policy
//! grants ([`memtls_engine::HostIdentity`]).
//!
//! One form serves the command line and embedders alike:
//!
//! ```text
//! NAME=CHAIN.pem:KEY.pem            both purposes, the key from a file
//! NAME@client=CHAIN.pem:pkcs11:...  client authentication only, the key on a token
//! NAME@server=...                   serving only
//! ```
//!
//! The chain's path ends at the first `:`. A PKCS#11 key is an RFC 7512 URI
//! ([`crate::pkcs11`]); its PIN comes from a file (`pin-source`), never from the
//! command line.

use std::path::Path;
use std::sync::Arc;

use memtls_engine::rustls::pki_types::CertificateDer;
use memtls_engine::rustls::sign::SigningKey;
use memtls_engine::{Error, HostIdentity, Purpose, RawKey, Result};

/// The most bytes of a chain or key file read for an identity.
const MAX_IDENTITY_FILE: u64 = 1 << 20;

/// Loads the identity `spec` names (the form in the module docs), reading its
/// files and opening its token now, so that a mistake is reported before any
/// program runs.
pub fn load_identity(spec: &str) -> Result<Arc<HostIdentity>> {
    let (head, source) = spec.split_once('=').ok_or_else(|| {
        Error::config(format!(
            "identity {spec:?}: expected NAME=CHAIN.pem:KEY (KEY a file or a pkcs11: URI)"
        ))
    })?;
    let (name, purposes) = match head.split_once('@') {
        None => (head, vec![]),
        Some((name, purpose)) => {
            let purpose = purpose
                .parse::<Purpose>()
                .map_err(|e| Error::config(format!("identity {name:?}: {e}")))?;
            (name, vec![purpose])
        }
    };
    let (chain_path, key) = source.split_once(':').ok_or_else(|| {
        Error::config(format!(
            "identity {name:?}: expected CHAIN.pem:KEY after '=' (KEY a file or a pkcs11: URI)"
        ))
    })?;
    let chain = read_chain(Path::new(chain_path), name)?;
    let (key, raw, key_source) = if key.starts_with("pkcs11:") {
        crate::pkcs11::token_key(key, name)?
    } else {
        let (signing, raw) = file_key(Path::new(key), name)?;
        (signing, raw, format!("file {key}"))
    };
    Ok(Arc::new(
        HostIdentity::new(name, chain, key, &purposes, &key_source)?.with_raw_key(raw),
    ))
}

/// Reads identity file `path` as the command reads its inputs
/// ([`crate::read_input`]: a regular file, at most [`MAX_IDENTITY_FILE`] bytes).
fn read(path: &Path, name: &str) -> Result<Vec<u8>> {
    let what = format!("identity {name:?}: {}", path.display());
    crate::read_input(path, &what, MAX_IDENTITY_FILE).map_err(|e| Error::config(e.to_string()))
}

/// The identity's certificate chain, end entity first, from a PEM file.
fn read_chain(path: &Path, name: &str) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(path, name)?;
    memtls_engine::parse_certificates(&[pem], &format!("identity {name:?}: {}", path.display()))
}

/// A key from a PEM or DER file (PKCS#8, SEC1 or PKCS#1), loaded with the
/// native provider's crypto, and its DER for the openssl provider.
fn file_key(path: &Path, name: &str) -> Result<(Arc<dyn SigningKey>, RawKey)> {
    let what = format!("identity {name:?}");
    let bytes = read(path, name)?;
    let key = memtls_engine::parse_private_key(&bytes)
        .map_err(|e| Error::config(format!("{what}: {}: {}", path.display(), e.message)))?;
    let raw = RawKey::Der(Arc::new(key.clone_key()));
    let key = memtls_engine::rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| {
            Error::from_rustls_config(&format!("{what}: {}: unusable key", path.display()), e)
        })?;
    Ok((key, raw))
}

/// Bindings for serving `memtls:tls/host-signer` (the `signer-host` world).
#[allow(missing_docs)] // the WIT items are documented
mod signer_bindings {
    wasmtime::component::bindgen!({
        world: "signer-host",
        path: "wit",
    });
}

/// The host's side of `memtls:tls/host-signer`: signatures by the identities
/// a policy grants, for the handshakes of the guest provider composed into
/// the program ([`memtls_engine::Policy::sign_handshake`] says what it
/// signs: TLS 1.3 CertificateVerify content for a granted purpose, nothing
/// else). Put one in the store data and link it with
/// [`add_signer_to_linker`] when the policy grants identities and the guest
/// provider serves TLS. Clones share the policy: make one per policy and
/// clone it into each store.
#[derive(Debug, Clone)]
pub struct HostSigner {
    policy: Arc<memtls_engine::Policy>,
}

impl HostSigner {
    /// Signs for the identities `policy` grants.
    pub fn new(policy: memtls_engine::Policy) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }
}

impl signer_bindings::memtls::tls::host_signer::Host for HostSigner {
    fn sign(
        &mut self,
        name: String,
        scheme: u16,
        message: Vec<u8>,
    ) -> std::result::Result<Vec<u8>, String> {
        self.policy
            .sign_handshake(&name, scheme, &message)
            .map_err(|e| e.message)
    }
}

/// Adds `memtls:tls/host-signer` to `linker`, served by the [`HostSigner`]
/// `get` finds in the store data.
pub fn add_signer_to_linker<T: 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut HostSigner,
) -> wasmtime::Result<()> {
    signer_bindings::memtls::tls::host_signer::add_to_linker::<
        T,
        wasmtime::component::HasSelf<HostSigner>,
    >(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's mistakes are named before any file is read.
    #[test]
    fn specs_that_cannot_be_read_say_why() {
        let refused = |spec: &str, says: &str| {
            let e = load_identity(spec).unwrap_err();
            assert!(e.message.contains(says), "{spec}: {}", e.message);
        };
        refused("client", "expected NAME=CHAIN.pem:KEY");
        refused(
            "client@admin=a.pem:b.pem",
            "unknown identity purpose \"admin\"",
        );
        refused("client=chain.pem", "expected CHAIN.pem:KEY");
        refused(
            "client=/nonexistent/chain.pem:/nonexistent/key.pem",
            "/nonexistent/chain.pem: cannot open it",
        );
    }
}
