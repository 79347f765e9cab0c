//! Host identities on the openssl provider whose keys OpenSSL never holds
//! ([`memtls_engine::HostIdentity`]; a file's key is loaded as OpenSSL's own
//! by `config::signing_chain`).
//!
//! A key that never leaves a token becomes an OpenSSL key with the certificate's public half and key methods
//! of ours (an `EC_KEY_METHOD` whose signing, an `RSA_METHOD` whose private
//! operation, calls the identity's [`KeyOperations`]), as PKCS#11 engines
//! do: libssl hashes and pads, the token does only the private-key
//! operation. Ed25519 keys have no key method in OpenSSL 3.0, so a token's
//! Ed25519 key becomes a key of an engine of ours (made in this process,
//! never loaded from disk or registered), whose Ed25519 key method signs the
//! whole message libssl hands its one-shot signing with the identity's
//! rustls signing key (the token's `CKM_EDDSA`).

use std::ffi::{CString, c_int, c_long, c_uchar, c_uint, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};

use foreign_types::ForeignType;
use memtls_engine::rustls::SignatureScheme;
use memtls_engine::rustls::sign::SigningKey;
use memtls_engine::{Error, HostIdentity, KeyOperations, Result, RsaPadding};
use openssl::ec::EcKey;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::X509;
use openssl_sys::{
    BIGNUM, CRYPTO_EX_DATA, CRYPTO_EX_dup, CRYPTO_EX_free, EC_KEY, ECDSA_SIG, ENGINE, RSA,
};

use crate::error::from_stack;
use crate::ffi;

/// The key libssl signs with for `identity`, whose key is reached through
/// `ops` (`what` names the field that asked for it, for messages): an
/// OpenSSL key whose public half is the end-entity certificate's and whose
/// private operations are `ops` (or, for Ed25519, the identity's signer).
pub(crate) fn key(
    identity: &HostIdentity,
    ops: Arc<dyn KeyOperations>,
    what: &str,
) -> Result<PKey<Private>> {
    let leaf = identity
        .certificates()
        .first()
        .ok_or_else(|| Error::config(format!("{what}: the identity has no certificate")))?;
    let public = X509::from_der(leaf)
        .and_then(|c| c.public_key())
        .map_err(|e| from_stack(what, &e))?;
    let refused = |e: &str| {
        Error::config(format!(
            "{what}: OpenSSL cannot use the token key of host identity {:?} ({e})",
            identity.name()
        ))
    };
    match public.id() {
        Id::EC => {
            let ec = public.ec_key().map_err(|e| from_stack(what, &e))?;
            let method = ec_method().ok_or_else(|| refused("no EC key method"))?;
            // SAFETY: `ec` is a live EC key; the copy is ours, wrapped at once
            // so that it is freed on every path.
            let copy = unsafe { openssl_sys::EC_KEY_dup(ec.as_ptr()) };
            if copy.is_null() {
                return Err(refused("copying the public key failed"));
            }
            // SAFETY: `copy` is a new EC key we own; the type parameter only
            // marks it as able to sign, which our method makes true.
            let key = unsafe { EcKey::<Private>::from_ptr(copy) };
            let index = ex_index(EX_INDEX_EC_KEY).ok_or_else(|| refused("no ex_data index"))?;
            // SAFETY: `key` is live; `method` lives for the process; the
            // ex_data slot takes a boxed `Arc` that its free function drops.
            let set = unsafe {
                ffi::EC_KEY_set_method(key.as_ptr(), method) == 1
                    && ffi::EC_KEY_set_ex_data(key.as_ptr(), index, boxed(ops)) == 1
            };
            if !set {
                return Err(refused("installing the key method failed"));
            }
            PKey::from_ec_key(key).map_err(|e| from_stack(what, &e))
        }
        Id::RSA => {
            let rsa = public.rsa().map_err(|e| from_stack(what, &e))?;
            let (n, e) = (
                rsa.n().to_owned().map_err(|e| from_stack(what, &e))?,
                rsa.e().to_owned().map_err(|e| from_stack(what, &e))?,
            );
            let method = rsa_method().ok_or_else(|| refused("no RSA key method"))?;
            // SAFETY: a new RSA key we own, wrapped at once.
            let raw = unsafe { openssl_sys::RSA_new() };
            if raw.is_null() {
                return Err(refused("allocating a key failed"));
            }
            // SAFETY: as for the EC key above.
            let key = unsafe { Rsa::<Private>::from_ptr(raw) };
            let index = ex_index(EX_INDEX_RSA).ok_or_else(|| refused("no ex_data index"))?;
            // SAFETY: `key` is live; RSA_set0_key takes ownership of `n` and
            // `e` when it succeeds.
            let owned = unsafe {
                openssl_sys::RSA_set0_key(
                    key.as_ptr(),
                    n.as_ptr(),
                    e.as_ptr(),
                    std::ptr::null_mut(),
                ) == 1
            };
            if !owned {
                return Err(refused("setting the public key failed"));
            }
            // The key owns them now.
            std::mem::forget((n, e));
            // SAFETY: `key` is live; `method` lives for the process; the
            // ex_data slot as above.
            let set = unsafe {
                ffi::RSA_set_method(key.as_ptr(), method) == 1
                    && ffi::RSA_set_ex_data(key.as_ptr(), index, boxed(ops)) == 1
            };
            if !set {
                return Err(refused("installing the key method failed"));
            }
            // SAFETY: `key` is live; the flag says its private half is
            // elsewhere.
            unsafe { ffi::RSA_set_flags(key.as_ptr(), RSA_FLAG_EXT_PKEY) };
            PKey::from_rsa(key).map_err(|e| from_stack(what, &e))
        }
        Id::ED25519 => {
            let raw = public.raw_public_key().map_err(|e| from_stack(what, &e))?;
            let engine = ed25519_engine().ok_or_else(|| refused("no Ed25519 key method"))?;
            // SAFETY: a new key of our engine from the 32 public bytes,
            // wrapped at once.
            let key = unsafe {
                ffi::EVP_PKEY_new_raw_public_key(NID_ED25519, engine, raw.as_ptr(), raw.len())
            };
            if key.is_null() {
                return Err(refused("making the engine's key failed"));
            }
            // SAFETY: `key` is a new key we own; it signs through our method.
            let key = unsafe { PKey::<Private>::from_ptr(key) };
            let index = ex_index(EX_INDEX_EVP_PKEY).ok_or_else(|| refused("no ex_data index"))?;
            let signing: Arc<dyn SigningKey> = identity.signing_key().clone();
            // SAFETY: `key` is live; the slot takes a boxed `Arc` its free
            // function drops.
            if unsafe { ffi::EVP_PKEY_set_ex_data(key.as_ptr(), index, boxed(signing)) } != 1 {
                return Err(refused("attaching the signer failed"));
            }
            Ok(key)
        }
        _ => Err(Error::config(format!(
            "{what}: the openssl provider cannot sign with the token's key of host identity {:?} \
             (a key type OpenSSL has no key method for); the native and guest providers can",
            identity.name()
        ))),
    }
}

/// `CRYPTO_EX_INDEX_EC_KEY`, `CRYPTO_EX_INDEX_RSA`, `CRYPTO_EX_INDEX_EVP_PKEY`.
const EX_INDEX_EC_KEY: c_int = 8;
const EX_INDEX_RSA: c_int = 9;
const EX_INDEX_EVP_PKEY: c_int = 17;
/// `NID_ED25519` (`EVP_PKEY_ED25519`).
const NID_ED25519: c_int = 1087;
/// `EVP_PKEY_FLAG_SIGCTX_CUSTOM`: the method signs whole messages.
const EVP_PKEY_FLAG_SIGCTX_CUSTOM: c_int = 4;
/// An Ed25519 signature's length.
const ED25519_SIGNATURE: usize = 64;
/// `RSA_FLAG_EXT_PKEY`: the private key is held elsewhere.
const RSA_FLAG_EXT_PKEY: c_int = 0x20;
/// `RSA_PKCS1_PADDING`, `RSA_NO_PADDING`.
const RSA_PKCS1_PADDING: c_int = 1;
const RSA_NO_PADDING: c_int = 3;

/// The ex_data index, per class, that holds what a key signs with: its
/// operations (EC and RSA keys), the identity's signing key (an engine's
/// Ed25519 key). One per process: OpenSSL hands them out for good.
fn ex_index(class: c_int) -> Option<c_int> {
    type Ops = Arc<dyn KeyOperations>;
    type Signing = Arc<dyn SigningKey>;
    static EC: OnceLock<c_int> = OnceLock::new();
    static RSA: OnceLock<c_int> = OnceLock::new();
    static PKEY: OnceLock<c_int> = OnceLock::new();
    let (cell, dup, free): (_, CRYPTO_EX_dup, CRYPTO_EX_free) = match class {
        EX_INDEX_EC_KEY => (&EC, dup_boxed::<Ops>, free_boxed::<Ops>),
        EX_INDEX_RSA => (&RSA, dup_boxed::<Ops>, free_boxed::<Ops>),
        _ => (&PKEY, dup_boxed::<Signing>, free_boxed::<Signing>),
    };
    // SAFETY: registers an index with dup and free functions for the boxed
    // type stored in this class's slots.
    let index = *cell.get_or_init(|| unsafe {
        openssl_sys::CRYPTO_get_ex_new_index(
            class,
            0,
            std::ptr::null_mut(),
            None,
            Some(dup),
            Some(free),
        )
    });
    (index >= 0).then_some(index)
}

/// A value as an ex_data slot's: boxed (a thin pointer).
fn boxed<T>(value: T) -> *mut c_void {
    Box::into_raw(Box::new(value)).cast()
}

/// The value a slot holds, if any.
///
/// # Safety
/// `ptr` is null or a `T` [`boxed`] made that is still stored.
unsafe fn unboxed<'a, T>(ptr: *mut c_void) -> Option<&'a T> {
    // SAFETY: per the contract, a live box of a `T`.
    unsafe { ptr.cast::<T>().as_ref() }
}

/// Drops a slot's boxed value when OpenSSL frees its key.
unsafe extern "C" fn free_boxed<T>(
    _parent: *mut c_void,
    ptr: *mut c_void,
    _ad: *mut CRYPTO_EX_DATA,
    _idx: c_int,
    _argl: c_long,
    _argp: *mut c_void,
) {
    if !ptr.is_null() {
        // SAFETY: the slot holds a box [`boxed`] made of the index's type;
        // OpenSSL frees each key's data once.
        drop(unsafe { Box::from_raw(ptr.cast::<T>()) });
    }
}

/// Gives a key OpenSSL copies a box of its own (OpenSSL copies the slot's
/// pointer into the copy, which would otherwise be freed twice).
unsafe extern "C" fn dup_boxed<T: Clone>(
    _to: *mut CRYPTO_EX_DATA,
    _from: *const CRYPTO_EX_DATA,
    from_d: *mut *mut c_void,
    _idx: c_int,
    _argl: c_long,
    _argp: *mut c_void,
) -> c_int {
    // SAFETY: OpenSSL passes the address of the slot's value, which is null
    // or one of our boxes of the index's type.
    unsafe {
        if !from_d.is_null()
            && let Some(value) = unboxed::<T>(*from_d)
        {
            *from_d = boxed(value.clone());
        }
    }
    1
}

/// Runs a key operation, a panic included as a failure; on failure, puts
/// its sentence on OpenSSL's error queue (where the handshake's error
/// finds it).
fn operation(run: impl FnOnce() -> std::result::Result<Vec<u8>, String>) -> Option<Vec<u8>> {
    let outcome = catch_unwind(AssertUnwindSafe(run))
        .unwrap_or_else(|_| Err("the key operation panicked".to_owned()));
    match outcome {
        Ok(out) => Some(out),
        Err(message) => {
            let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
            // SAFETY: records an error on this thread's queue; the format
            // takes one NUL-terminated string, which OpenSSL copies.
            unsafe {
                openssl_sys::ERR_new();
                openssl_sys::ERR_set_debug(c"held.rs".as_ptr(), 0, c"key operation".as_ptr());
                openssl_sys::ERR_set_error(ERR_LIB_USER, 1, c"%s".as_ptr(), message.as_ptr());
            }
            None
        }
    }
}

/// Runs a key operation (as [`operation`]) and writes its result into
/// `out`, which has room for `room` bytes; the length written. A result
/// longer than `room` (the token's `what`) is a failure.
///
/// # Safety
/// `out` is valid for `room` bytes of writes.
unsafe fn write_result(
    out: *mut c_uchar,
    room: usize,
    what: &str,
    run: impl FnOnce() -> std::result::Result<Vec<u8>, String>,
) -> Option<usize> {
    let result = operation(|| {
        let result = run()?;
        if result.len() > room {
            return Err(format!(
                "the token's {what} has {} bytes, more than the {room} the key allows",
                result.len()
            ));
        }
        Ok(result)
    })?;
    // SAFETY: per the contract, and the result fits.
    unsafe { std::ptr::copy_nonoverlapping(result.as_ptr(), out, result.len()) };
    Some(result.len())
}

/// `ERR_LIB_USER`: errors of the application's own.
const ERR_LIB_USER: c_int = 128;

/// The operations `key` carries, if it is one of ours.
///
/// # Safety
/// `key` is a live EC key.
unsafe fn ec_ops<'a>(key: *mut EC_KEY) -> Option<&'a Arc<dyn KeyOperations>> {
    let index = ex_index(EX_INDEX_EC_KEY)?;
    // SAFETY: per the contract; the slot holds null or our box, which
    // lives as long as the key.
    unsafe { unboxed(ffi::EC_KEY_get_ex_data(key, index)) }
}

/// `EC_KEY_METHOD`'s `sign`: a DER signature over `dgst` into `sig` (as long
/// as `ECDSA_size`).
unsafe extern "C" fn ec_sign(
    _type: c_int,
    dgst: *const c_uchar,
    dlen: c_int,
    sig: *mut c_uchar,
    siglen: *mut c_uint,
    _kinv: *const BIGNUM,
    _r: *const BIGNUM,
    key: *mut EC_KEY,
) -> c_int {
    // SAFETY: OpenSSL passes a live key, a digest of `dlen` bytes and a
    // signature buffer of ECDSA_size(key) bytes.
    unsafe {
        let Some(ops) = ec_ops(key) else { return 0 };
        let digest = std::slice::from_raw_parts(dgst, usize::try_from(dlen).unwrap_or(0));
        let room = usize::try_from(ffi::ECDSA_size(key)).unwrap_or(0);
        let Some(len) = write_result(sig, room, "ECDSA signature", || {
            ops.ecdsa_sign_digest(digest)
        }) else {
            return 0;
        };
        *siglen = len as c_uint;
    }
    1
}

/// `EC_KEY_METHOD`'s `sign_sig`: the signature over `dgst` as an `ECDSA_SIG`.
unsafe extern "C" fn ec_sign_sig(
    dgst: *const c_uchar,
    dlen: c_int,
    _kinv: *const BIGNUM,
    _r: *const BIGNUM,
    key: *mut EC_KEY,
) -> *mut ECDSA_SIG {
    // SAFETY: as in `ec_sign`; d2i reads `der.len()` bytes from a live Vec.
    unsafe {
        let Some(ops) = ec_ops(key) else {
            return std::ptr::null_mut();
        };
        let digest = std::slice::from_raw_parts(dgst, usize::try_from(dlen).unwrap_or(0));
        let Some(der) = operation(|| ops.ecdsa_sign_digest(digest)) else {
            return std::ptr::null_mut();
        };
        let mut p = der.as_ptr();
        openssl_sys::d2i_ECDSA_SIG(std::ptr::null_mut(), &mut p, der.len() as c_long)
    }
}

/// `RSA_METHOD`'s `rsa_priv_enc`: the private operation on `from` into `to`
/// (as long as the modulus); the length written, or -1.
unsafe extern "C" fn rsa_priv_enc(
    flen: c_int,
    from: *const c_uchar,
    to: *mut c_uchar,
    rsa: *mut RSA,
    padding: c_int,
) -> c_int {
    // SAFETY: OpenSSL passes a live key, `flen` bytes of input and an output
    // buffer of RSA_size(rsa) bytes.
    unsafe {
        let Some(index) = ex_index(EX_INDEX_RSA) else {
            return -1;
        };
        let Some(ops) = unboxed::<Arc<dyn KeyOperations>>(ffi::RSA_get_ex_data(rsa, index)) else {
            return -1;
        };
        let input = std::slice::from_raw_parts(from, usize::try_from(flen).unwrap_or(0));
        let room = usize::try_from(openssl_sys::RSA_size(rsa)).unwrap_or(0);
        let written = write_result(to, room, "RSA result", || {
            let padding = match padding {
                RSA_NO_PADDING => RsaPadding::None,
                RSA_PKCS1_PADDING => RsaPadding::Pkcs1,
                other => return Err(format!("RSA padding {other} is not one a token signs with")),
            };
            ops.rsa_private(input, padding)
        });
        written.map_or(-1, |len| len as c_int)
    }
}

/// A process-wide method, made once (as a pointer's address: the method is
/// never freed, and only read after it is made).
fn method<T>(cell: &OnceLock<usize>, make: impl FnOnce() -> *mut T) -> Option<*mut T> {
    let address = *cell.get_or_init(|| make() as usize);
    (address != 0).then_some(address as *mut T)
}

/// OpenSSL's EC key method with our signing.
fn ec_method() -> Option<*mut ffi::EC_KEY_METHOD> {
    static METHOD: OnceLock<usize> = OnceLock::new();
    // SAFETY: copies OpenSSL's default method and replaces its signing
    // functions with ours (keeping its sign_setup); the method lives for the
    // process.
    method(&METHOD, || unsafe {
        let default = ffi::EC_KEY_OpenSSL();
        let method = ffi::EC_KEY_METHOD_new(default);
        if !method.is_null() {
            let mut setup = None;
            ffi::EC_KEY_METHOD_get_sign(
                default,
                std::ptr::null_mut(),
                &mut setup,
                std::ptr::null_mut(),
            );
            ffi::EC_KEY_METHOD_set_sign(method, Some(ec_sign), setup, Some(ec_sign_sig));
        }
        method
    })
}

/// OpenSSL's RSA method with our private operation.
fn rsa_method() -> Option<*mut ffi::RSA_METHOD> {
    static METHOD: OnceLock<usize> = OnceLock::new();
    // SAFETY: copies OpenSSL's default method and replaces its private
    // encryption (what signing uses) with ours; the method lives for the
    // process.
    method(&METHOD, || unsafe {
        let method = ffi::RSA_meth_dup(ffi::RSA_PKCS1_OpenSSL());
        if !method.is_null() && ffi::RSA_meth_set_priv_enc(method, Some(rsa_priv_enc)) != 1 {
            return std::ptr::null_mut();
        }
        method
    })
}

/// The Ed25519 key method's one-shot signing (`digestsign`): the length
/// when `sig` is null, else the signature over the whole message by the
/// signing key the key's ex_data holds.
unsafe extern "C" fn ed25519_digestsign(
    ctx: *mut openssl_sys::EVP_MD_CTX,
    sig: *mut c_uchar,
    siglen: *mut usize,
    tbs: *const c_uchar,
    tbslen: usize,
) -> c_int {
    // SAFETY: OpenSSL passes a live signing context of one of our keys, a
    // message of `tbslen` bytes and, with `sig`, a buffer of `*siglen`.
    unsafe {
        if siglen.is_null() {
            return 0;
        }
        if sig.is_null() {
            *siglen = ED25519_SIGNATURE;
            return 1;
        }
        let Some(index) = ex_index(EX_INDEX_EVP_PKEY) else {
            return 0;
        };
        let key = ffi::EVP_PKEY_CTX_get0_pkey(ffi::EVP_MD_CTX_get_pkey_ctx(ctx));
        let Some(signing) = unboxed::<Arc<dyn SigningKey>>(ffi::EVP_PKEY_get_ex_data(key, index))
        else {
            return 0;
        };
        let message = if tbs.is_null() {
            &[][..]
        } else {
            std::slice::from_raw_parts(tbs, tbslen)
        };
        let Some(len) = write_result(sig, *siglen, "Ed25519 signature", || {
            let signer = signing
                .choose_scheme(&[SignatureScheme::ED25519])
                .ok_or("the identity's key does not sign with Ed25519")?;
            let signature = signer.sign(message).map_err(|e| e.to_string())?;
            if signature.len() != ED25519_SIGNATURE {
                return Err(format!(
                    "the token's Ed25519 signature has {} bytes, not {ED25519_SIGNATURE}",
                    signature.len()
                ));
            }
            Ok(signature)
        }) else {
            return 0;
        };
        *siglen = len;
    }
    1
}

/// OpenSSL's Ed25519 key method with our one-shot signing.
fn ed25519_method() -> Option<*mut ffi::EVP_PKEY_METHOD> {
    static METHOD: OnceLock<usize> = OnceLock::new();
    // SAFETY: a new method copied from OpenSSL's own Ed25519 one (its
    // controls, verification and sizes), whose signing is ours; it lives for
    // the process.
    method(&METHOD, || unsafe {
        let builtin = ffi::EVP_PKEY_meth_find(NID_ED25519);
        let method = ffi::EVP_PKEY_meth_new(NID_ED25519, EVP_PKEY_FLAG_SIGCTX_CUSTOM);
        if builtin.is_null() || method.is_null() {
            return std::ptr::null_mut();
        }
        ffi::EVP_PKEY_meth_copy(method, builtin);
        ffi::EVP_PKEY_meth_set_digestsign(method, Some(ed25519_digestsign));
        method
    })
}

/// The engine's `pkey_meths`: its one method, for Ed25519.
unsafe extern "C" fn engine_methods(
    _engine: *mut ENGINE,
    method: *mut *mut ffi::EVP_PKEY_METHOD,
    nids: *mut *const c_int,
    nid: c_int,
) -> c_int {
    static NIDS: [c_int; 1] = [NID_ED25519];
    // SAFETY: OpenSSL passes either `nids` to fill (the list of what the
    // engine serves) or `method` to fill for `nid`.
    unsafe {
        if method.is_null() {
            if !nids.is_null() {
                *nids = NIDS.as_ptr();
            }
            return NIDS.len() as c_int;
        }
        match ed25519_method() {
            Some(m) if nid == NID_ED25519 => {
                *method = m;
                1
            }
            _ => {
                *method = std::ptr::null_mut();
                0
            }
        }
    }
}

/// The engine whose Ed25519 keys sign through [`ed25519_digestsign`]: made
/// here, never registered (no other key of the process uses it).
fn ed25519_engine() -> Option<*mut ENGINE> {
    static ENGINE_MADE: OnceLock<usize> = OnceLock::new();
    ed25519_method()?;
    // SAFETY: a new engine with an id, a name and our key methods; it lives
    // for the process.
    method(&ENGINE_MADE, || unsafe {
        let engine = ffi::ENGINE_new();
        if engine.is_null()
            || ffi::ENGINE_set_id(engine, c"memtls-held-keys".as_ptr()) != 1
            || ffi::ENGINE_set_name(engine, c"memtls: keys the host holds on a token".as_ptr()) != 1
            || ffi::ENGINE_set_pkey_meths(engine, Some(engine_methods)) != 1
        {
            return std::ptr::null_mut();
        }
        engine
    })
}
