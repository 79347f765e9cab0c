//! X.509 stores for trust configurations.
//!
//! `system` trust is OpenSSL's default store (the bundle file, the hashed
//! directory, `SSL_CERT_FILE` / `SSL_CERT_DIR`) plus the policy's extra
//! anchors. Loading the bundle parses every certificate in it (milliseconds),
//! so a provider instance loads it once, on first use, and every context with
//! plain `system` trust shares that store by reference; a configuration that
//! adds anchors of its own gets a store of its own holding the same
//! certificates (shared, not parsed again), the hashed directory and its
//! anchors. Without that, a guest creating contexts in a loop costs the host
//! a bundle parse per call.

use std::ffi::CStr;
use std::sync::OnceLock;

use foreign_types::{ForeignType, ForeignTypeRef};
use memtls_engine::{BaseRoots, Error, Policy, Result, TrustStore};
use openssl::ssl::SslFiletype;
use openssl::x509::X509;
use openssl::x509::store::{X509Lookup, X509Store, X509StoreBuilder, X509StoreRef};

use crate::error::from_stack;

/// The refusal of a trust store with nothing in it.
const EMPTY_TRUST: &str =
    "trust store is empty: set system, or give anchors or pinned certificates";

/// The anchors of one trust configuration.
pub(crate) enum Anchors {
    /// The instance's `system` store, shared.
    Shared(X509Store),
    /// A store of this configuration's own.
    Own(X509StoreBuilder),
}

impl Anchors {
    /// The store, for a context.
    pub(crate) fn build(self) -> X509Store {
        match self {
            Anchors::Shared(store) => store,
            Anchors::Own(builder) => builder.build(),
        }
    }

    /// A store that may be changed (verify parameters): the shared one is
    /// copied first.
    pub(crate) fn into_builder(self, policy: &Policy, what: &str) -> Result<X509StoreBuilder> {
        match self {
            Anchors::Shared(store) => copy_of(
                &store,
                matches!(policy.base_roots, BaseRoots::Platform),
                what,
            ),
            Anchors::Own(builder) => Ok(builder),
        }
    }
}

/// The `system` store of one provider instance, loaded on first use.
#[derive(Default)]
pub(crate) struct SystemTrust {
    loaded: OnceLock<std::result::Result<X509Store, Error>>,
}

impl SystemTrust {
    /// OpenSSL's default store plus `policy`'s extra anchors, loaded once.
    fn get(&self, policy: &Policy) -> Result<&X509Store> {
        self.loaded
            .get_or_init(|| load_system(policy))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The anchors for `trust` (a sentence naming `what` for bad
    /// certificates, or for a store with nothing in it) and its pins.
    pub(crate) fn anchors(
        &self,
        policy: &Policy,
        trust: &TrustStore,
        what: &str,
    ) -> Result<(Anchors, Vec<Vec<u8>>)> {
        let own = memtls_engine::parse_certificates(&trust.anchors, "trust.anchors")?;
        let pins: Vec<Vec<u8>> = memtls_engine::parse_certificates(&trust.pinned, "trust.pinned")?
            .into_iter()
            .map(|c| c.to_vec())
            .collect();
        if !trust.system && own.is_empty() && pins.is_empty() {
            return Err(Error::config(EMPTY_TRUST));
        }
        let mut store = match (trust.system, own.is_empty()) {
            (true, true) => return Ok((Anchors::Shared(shared(self.get(policy)?)), pins)),
            (true, false) => copy_of(
                self.get(policy)?,
                matches!(policy.base_roots, BaseRoots::Platform),
                what,
            )?,
            (false, _) => X509StoreBuilder::new().map_err(|e| from_stack(what, &e))?,
        };
        add_anchors(&mut store, &own, what)?;
        Ok((Anchors::Own(store), pins))
    }
}

/// OpenSSL's default store plus the policy's extra anchors.
fn load_system(policy: &Policy) -> Result<X509Store> {
    let mut store = X509StoreBuilder::new().map_err(|e| from_stack("system trust", &e))?;
    match policy.base_roots {
        BaseRoots::Platform => store
            .set_default_paths()
            .map_err(|e| from_stack("system trust: OpenSSL's default paths", &e))?,
        BaseRoots::None => {}
        BaseRoots::Mozilla => {
            return Err(Error::config(
                "the openssl provider trusts the system's store: base roots \
                 \"mozilla\" are for the rustls providers",
            ));
        }
    }
    let extra = memtls_engine::parse_certificates(
        &policy.extra_system_anchors,
        "policy.extra-system-anchors",
    )?;
    if matches!(policy.base_roots, BaseRoots::None) && extra.is_empty() {
        return Err(Error::system_trust_empty());
    }
    add_anchors(&mut store, &extra, "policy.extra-system-anchors")?;
    Ok(store.build())
}

/// Adds DER anchors to a store.
fn add_anchors(
    store: &mut X509StoreBuilder,
    anchors: &[impl AsRef<[u8]>],
    what: &str,
) -> Result<()> {
    for (i, der) in anchors.iter().enumerate() {
        let at = || format!("{what}: anchor {i}");
        let cert = X509::from_der(der.as_ref()).map_err(|e| from_stack(&at(), &e))?;
        store.add_cert(cert).map_err(|e| from_stack(&at(), &e))?;
    }
    Ok(())
}

/// Another reference to `store`.
fn shared(store: &X509StoreRef) -> X509Store {
    // SAFETY: `store` is a live X509_STORE; up_ref adds the reference that the
    // returned owner releases when dropped.
    unsafe {
        crate::ffi::X509_STORE_up_ref(store.as_ptr());
        X509Store::from_ptr(store.as_ptr())
    }
}

/// A new store with the certificates of `store` (references, not parsed
/// again) and, with `default_dir`, the hashed directory OpenSSL's default
/// paths look certificates up in.
fn copy_of(store: &X509StoreRef, default_dir: bool, what: &str) -> Result<X509StoreBuilder> {
    let mut copy = X509StoreBuilder::new().map_err(|e| from_stack(what, &e))?;
    for cert in store.all_certificates() {
        copy.add_cert(cert).map_err(|e| from_stack(what, &e))?;
    }
    if !default_dir {
        return Ok(copy);
    }
    copy.add_lookup(X509Lookup::hash_dir())
        .map_err(|e| from_stack(what, &e))?
        .add_dir(&cert_dir(), SslFiletype::PEM)
        .map_err(|e| from_stack(what, &e))?;
    Ok(copy)
}

/// OpenSSL's certificate directory: `SSL_CERT_DIR` or the built-in one.
fn cert_dir() -> String {
    // SAFETY: both return pointers to static NUL-terminated strings.
    let (env, builtin) = unsafe {
        (
            CStr::from_ptr(openssl_sys::X509_get_default_cert_dir_env()),
            CStr::from_ptr(openssl_sys::X509_get_default_cert_dir()),
        )
    };
    std::env::var(env.to_string_lossy().as_ref())
        .unwrap_or_else(|_| builtin.to_string_lossy().into_owned())
}
