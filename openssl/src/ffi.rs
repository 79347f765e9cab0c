//! The few libssl and libcrypto calls the openssl crate does not wrap
//! (OpenSSL 1.1.1 and later), declared in one place.

use std::ffi::{c_char, c_int, c_uchar, c_uint, c_ulong, c_void};

use openssl_sys::{BIGNUM, EC_KEY, ECDSA_SIG, ENGINE, EVP_MD_CTX, EVP_PKEY, EVP_PKEY_CTX, RSA};

use foreign_types::ForeignTypeRef as _;
use openssl::ssl::SslRef;

unsafe extern "C" {
    pub(crate) fn SSL_CTX_set_info_callback(
        ctx: *mut openssl_sys::SSL_CTX,
        callback: Option<unsafe extern "C" fn(*const openssl_sys::SSL, c_int, c_int)>,
    );
    pub(crate) fn SSL_key_update(ssl: *mut openssl_sys::SSL, update_type: c_int) -> c_int;
    /// The certificates the peer sent (its leaf first), which a verification
    /// builds its path from (libcrypto 1.1.0 and later).
    pub(crate) fn X509_STORE_CTX_get0_untrusted(
        ctx: *const openssl_sys::X509_STORE_CTX,
    ) -> *mut openssl_sys::stack_st_X509;
    pub(crate) fn SSL_CTX_set_msg_callback(
        ctx: *mut openssl_sys::SSL_CTX,
        callback: Option<
            unsafe extern "C" fn(
                c_int,
                c_int,
                c_int,
                *const std::ffi::c_void,
                usize,
                *mut openssl_sys::SSL,
                *mut std::ffi::c_void,
            ),
        >,
    );

    pub(crate) fn SSL_SESSION_get_ticket_lifetime_hint(
        session: *const openssl_sys::SSL_SESSION,
    ) -> c_ulong;
    pub(crate) fn SSL_SESSION_has_ticket(session: *const openssl_sys::SSL_SESSION) -> c_int;

    pub(crate) fn X509_STORE_up_ref(store: *mut openssl_sys::X509_STORE) -> c_int;

    /// The registry name of a group as `SSL_get_negotiated_group` gives it
    /// (OpenSSL 3.0 and later).
    pub(crate) fn SSL_group_to_name(ssl: *mut openssl_sys::SSL, id: c_int) -> *const c_char;

    // Key methods, for keys held elsewhere (`held`).
    pub(crate) fn EC_KEY_OpenSSL() -> *const EC_KEY_METHOD;
    pub(crate) fn EC_KEY_METHOD_new(from: *const EC_KEY_METHOD) -> *mut EC_KEY_METHOD;
    pub(crate) fn EC_KEY_METHOD_get_sign(
        method: *const EC_KEY_METHOD,
        sign: *mut Option<EcSign>,
        sign_setup: *mut Option<EcSignSetup>,
        sign_sig: *mut Option<EcSignSig>,
    );
    pub(crate) fn EC_KEY_METHOD_set_sign(
        method: *mut EC_KEY_METHOD,
        sign: Option<EcSign>,
        sign_setup: Option<EcSignSetup>,
        sign_sig: Option<EcSignSig>,
    );
    pub(crate) fn EC_KEY_set_method(key: *mut EC_KEY, method: *const EC_KEY_METHOD) -> c_int;
    pub(crate) fn EC_KEY_set_ex_data(key: *mut EC_KEY, index: c_int, data: *mut c_void) -> c_int;
    pub(crate) fn EC_KEY_get_ex_data(key: *const EC_KEY, index: c_int) -> *mut c_void;
    pub(crate) fn ECDSA_size(key: *const EC_KEY) -> c_int;
    pub(crate) fn RSA_PKCS1_OpenSSL() -> *const RSA_METHOD;
    pub(crate) fn RSA_meth_dup(method: *const RSA_METHOD) -> *mut RSA_METHOD;
    pub(crate) fn RSA_meth_set_priv_enc(method: *mut RSA_METHOD, f: Option<RsaPrivEnc>) -> c_int;
    pub(crate) fn RSA_set_method(rsa: *mut RSA, method: *const RSA_METHOD) -> c_int;
    pub(crate) fn RSA_set_flags(rsa: *mut RSA, flags: c_int);
    pub(crate) fn RSA_set_ex_data(rsa: *mut RSA, index: c_int, data: *mut c_void) -> c_int;
    pub(crate) fn RSA_get_ex_data(rsa: *const RSA, index: c_int) -> *mut c_void;

    // An Ed25519 key held elsewhere: a legacy key of an engine of ours whose
    // key method's one-shot signing calls the host's signer (`held`).
    pub(crate) fn ENGINE_new() -> *mut ENGINE;
    pub(crate) fn ENGINE_set_id(e: *mut ENGINE, id: *const c_char) -> c_int;
    pub(crate) fn ENGINE_set_name(e: *mut ENGINE, name: *const c_char) -> c_int;
    pub(crate) fn ENGINE_set_pkey_meths(e: *mut ENGINE, f: Option<EnginePkeyMeths>) -> c_int;
    pub(crate) fn EVP_PKEY_meth_new(id: c_int, flags: c_int) -> *mut EVP_PKEY_METHOD;
    pub(crate) fn EVP_PKEY_meth_find(id: c_int) -> *const EVP_PKEY_METHOD;
    pub(crate) fn EVP_PKEY_meth_copy(dst: *mut EVP_PKEY_METHOD, src: *const EVP_PKEY_METHOD);
    pub(crate) fn EVP_PKEY_meth_set_digestsign(method: *mut EVP_PKEY_METHOD, f: Option<DigestSign>);
    pub(crate) fn EVP_PKEY_new_raw_public_key(
        id: c_int,
        e: *mut ENGINE,
        public: *const c_uchar,
        len: usize,
    ) -> *mut EVP_PKEY;
    pub(crate) fn EVP_PKEY_set_ex_data(
        key: *mut EVP_PKEY,
        index: c_int,
        data: *mut c_void,
    ) -> c_int;
    pub(crate) fn EVP_PKEY_get_ex_data(key: *const EVP_PKEY, index: c_int) -> *mut c_void;
    pub(crate) fn EVP_MD_CTX_get_pkey_ctx(ctx: *const EVP_MD_CTX) -> *mut EVP_PKEY_CTX;
    pub(crate) fn EVP_PKEY_CTX_get0_pkey(ctx: *mut EVP_PKEY_CTX) -> *mut EVP_PKEY;
}

/// `EVP_PKEY_METHOD`, opaque.
#[allow(non_camel_case_types)]
pub(crate) enum EVP_PKEY_METHOD {}

/// An engine's `pkey_meths` callback.
pub(crate) type EnginePkeyMeths =
    unsafe extern "C" fn(*mut ENGINE, *mut *mut EVP_PKEY_METHOD, *mut *const c_int, c_int) -> c_int;
/// A key method's one-shot `digestsign`.
pub(crate) type DigestSign =
    unsafe extern "C" fn(*mut EVP_MD_CTX, *mut c_uchar, *mut usize, *const c_uchar, usize) -> c_int;

/// `EC_KEY_METHOD` and `RSA_METHOD`, opaque.
#[allow(non_camel_case_types)]
pub(crate) enum EC_KEY_METHOD {}
#[allow(non_camel_case_types)]
pub(crate) enum RSA_METHOD {}

/// An EC key method's `sign`.
pub(crate) type EcSign = unsafe extern "C" fn(
    c_int,
    *const c_uchar,
    c_int,
    *mut c_uchar,
    *mut c_uint,
    *const BIGNUM,
    *const BIGNUM,
    *mut EC_KEY,
) -> c_int;
/// An EC key method's `sign_setup`.
pub(crate) type EcSignSetup =
    unsafe extern "C" fn(*mut EC_KEY, *mut c_void, *mut *mut BIGNUM, *mut *mut BIGNUM) -> c_int;
/// An EC key method's `sign_sig`.
pub(crate) type EcSignSig = unsafe extern "C" fn(
    *const c_uchar,
    c_int,
    *const BIGNUM,
    *const BIGNUM,
    *mut EC_KEY,
) -> *mut ECDSA_SIG;
/// An RSA method's `rsa_priv_enc`.
pub(crate) type RsaPrivEnc =
    unsafe extern "C" fn(c_int, *const c_uchar, *mut c_uchar, *mut RSA, c_int) -> c_int;

/// `SSL_get_negotiated_group`, a macro over `SSL_ctrl`.
const SSL_CTRL_GET_NEGOTIATED_GROUP: c_int = 134;

/// The IANA id of a group as OpenSSL identifies it (a NID, or a group id
/// with `TLSEXT_nid_unknown` set), through its registry name.
fn group_id(ssl: &SslRef, nid: c_int) -> Option<u16> {
    // SAFETY: `ssl` is live; OpenSSL returns a static string or null.
    let name = unsafe { SSL_group_to_name(ssl_ptr(ssl), nid) };
    if name.is_null() {
        return None;
    }
    // SAFETY: a non-null result is a NUL-terminated static string.
    let name = unsafe { std::ffi::CStr::from_ptr(name) }.to_str().ok()?;
    memtls_engine::group_id(name)
}

/// The group `ssl`'s handshake used for its key exchange, once known.
pub(crate) fn negotiated_group(ssl: &SslRef) -> Option<u16> {
    // SAFETY: `ssl` is live; the control only reads its state.
    let nid = unsafe {
        openssl_sys::SSL_ctrl(
            ssl_ptr(ssl),
            SSL_CTRL_GET_NEGOTIATED_GROUP,
            0,
            std::ptr::null_mut(),
        )
    };
    match c_int::try_from(nid) {
        Ok(nid) if nid > 0 => group_id(ssl, nid),
        _ => None,
    }
}

/// `SSL_key_update`'s "and update yours too".
pub(crate) const SSL_KEY_UPDATE_REQUESTED: c_int = 1;

/// The raw pointer of a live `SSL`, for the calls the crate does not wrap.
pub(crate) fn ssl_ptr(ssl: &SslRef) -> *mut openssl_sys::SSL {
    ssl.as_ptr()
}
