//! OpenSSL's errors as the interface's: the error queue, X.509 verify codes
//! and the alerts OpenSSL sends and receives, mapped once.

use std::cell::Cell;
use std::ffi::c_int;

use foreign_types::ForeignTypeRef;
use memtls_engine::{CertificateReason, Error, ErrorKind, Stage, alert_name};
use openssl::error::ErrorStack;
use openssl::ssl::{ErrorCode, SslContextBuilder, SslRef};
use openssl::x509::X509VerifyResult;

unsafe extern "C" {
    // libssl 1.1.1 and later; the openssl crate does not wrap them.
    fn SSL_CTX_set_info_callback(
        ctx: *mut openssl_sys::SSL_CTX,
        callback: Option<unsafe extern "C" fn(*const openssl_sys::SSL, c_int, c_int)>,
    );
    pub(crate) fn SSL_key_update(ssl: *mut openssl_sys::SSL, update_type: c_int) -> c_int;
    /// The certificates the peer sent (its leaf first), which a verification
    /// builds its path from (libcrypto 1.1.0 and later).
    pub(crate) fn X509_STORE_CTX_get0_untrusted(
        ctx: *const openssl_sys::X509_STORE_CTX,
    ) -> *mut openssl_sys::stack_st_X509;
    fn SSL_CTX_set_msg_callback(
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
}

/// `SSL_key_update`'s "and update yours too".
pub(crate) const SSL_KEY_UPDATE_REQUESTED: c_int = 1;
/// The info callback's "an alert was written" (`SSL_CB_ALERT | SSL_CB_WRITE`).
const SSL_CB_WRITE_ALERT: c_int = 0x4000 | 0x08;
/// The alerts that answer malformed input (unexpected_message,
/// bad_record_mac, record_overflow, illegal_parameter, decode_error,
/// decrypt_error): errors of kind `protocol`, as the rustls providers report them.
const PROTOCOL_VIOLATIONS: [u8; 6] = [10, 20, 22, 47, 50, 51];
/// Alerts received show in the error queue as reasons from this offset.
const ALERT_REASON_OFFSET: c_int = 1000;
/// `X509_V_ERR_APPLICATION_VERIFICATION`: a check of ours refused the peer's
/// certificate. Alone it means that, with only pins trusted, the certificate
/// is none of them; a refusal noted with [`refuse`] (no extended master
/// secret) is reported before it is looked at.
const APPLICATION_VERIFICATION: c_int = 50;
/// `SSL_R_CERTIFICATE_VERIFY_FAILED`.
const CERTIFICATE_VERIFY_FAILED: c_int = 134;
/// `SSL_R_UNEXPECTED_EOF_WHILE_READING` (OpenSSL 3).
const UNEXPECTED_EOF_WHILE_READING: c_int = 294;
/// `SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE`.
const PEER_DID_NOT_RETURN_A_CERTIFICATE: c_int = 199;

thread_local! {
    /// The last fatal alert OpenSSL wrote on this thread (it calls the info
    /// callback inside our call into it, on this thread).
    static ALERT_SENT: Cell<Option<u8>> = const { Cell::new(None) };
    /// Why one of our callbacks refused the handshake, if one did (the same
    /// thread, the same call).
    static REFUSED: Cell<Option<&'static str>> = const { Cell::new(None) };
    /// Why the chain check refused the server's chain before OpenSSL's
    /// verdict (the policy's chain limits), if it did.
    static CHAIN_REFUSED: Cell<Option<String>> = const { Cell::new(None) };
}

/// Notes that the server's chain was refused before verification, and why
/// (`from_ssl_error` reports it as a rejected certificate).
pub(crate) fn refuse_chain(why: String) {
    CHAIN_REFUSED.with(|r| r.set(Some(why)));
}

/// The refusal of a TLS 1.2 peer without the extended master secret.
pub(crate) const NO_EMS: &str = "the peer does not use the extended master secret \
     (RFC 7627), which memtls requires for TLS 1.2: without it exported keys and resumption \
     would not be bound to the handshake";

/// Notes why a callback of ours refuses the handshake (`from_ssl_error`
/// reports it, with the alert OpenSSL sends).
pub(crate) fn refuse(why: &'static str) {
    REFUSED.with(|r| r.set(Some(why)));
}

unsafe extern "C" fn info_callback(_ssl: *const openssl_sys::SSL, event: c_int, value: c_int) {
    // `value` is (level << 8) | description; level 2 is fatal.
    if event & SSL_CB_WRITE_ALERT == SSL_CB_WRITE_ALERT && value >> 8 == 2 {
        ALERT_SENT.with(|a| a.set(Some((value & 0xff) as u8)));
    }
}

/// Makes the contexts built by `b` note the fatal alerts they send.
pub(crate) fn note_alerts(b: &mut SslContextBuilder) {
    // SAFETY: the pointer is the builder's live `SSL_CTX`; the callback is a
    // plain function that touches only a thread-local.
    unsafe { SSL_CTX_set_info_callback(b.as_ptr(), Some(info_callback)) }
}

/// Makes client contexts built by `b` look at every handshake message they
/// receive, for the ServerHello's extensions (whether EMS was negotiated,
/// which OpenSSL does not report while the handshake runs).
pub(crate) fn note_server_hello(b: &mut SslContextBuilder) {
    // SAFETY: the pointer is the builder's live `SSL_CTX`; the callback only
    // reads the message OpenSSL hands it and the connection's ex-data.
    unsafe { SSL_CTX_set_msg_callback(b.as_ptr(), Some(message_callback)) }
}

unsafe extern "C" fn message_callback(
    write: c_int,
    _version: c_int,
    content_type: c_int,
    buf: *const std::ffi::c_void,
    len: usize,
    ssl: *mut openssl_sys::SSL,
    _arg: *mut std::ffi::c_void,
) {
    const HANDSHAKE: c_int = 22;
    if write != 0 || content_type != HANDSHAKE || buf.is_null() || ssl.is_null() {
        return;
    }
    // SAFETY: OpenSSL passes the received message, `len` bytes at `buf`, and
    // the live connection it belongs to, for the duration of the call.
    let (message, ssl) = unsafe {
        (
            std::slice::from_raw_parts(buf.cast::<u8>(), len),
            SslRef::from_ptr(ssl),
        )
    };
    if message.first() == Some(&2) && server_hello_without_ems(message) {
        crate::mark_without_ems(ssl);
    }
}

/// Whether a ServerHello (the handshake message, header included) chooses
/// TLS 1.2 without the extended master secret extension (RFC 7627): no
/// supported_versions extension choosing TLS 1.3, no extension 23.
fn server_hello_without_ems(message: &[u8]) -> bool {
    let parse = || -> Option<bool> {
        // type, length (3), legacy_version (2), random (32), session id.
        let body = message.get(4..)?;
        let mut at = 2 + 32;
        at += 1 + usize::from(*body.get(at)?);
        // cipher suite (2), compression (1), extensions (2 + list).
        at += 3;
        let total = usize::from(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]));
        let mut exts = body.get(at + 2..at + 2 + total)?;
        let (mut ems, mut tls13) = (false, false);
        while exts.len() >= 4 {
            let kind = u16::from_be_bytes([exts[0], exts[1]]);
            let len = usize::from(u16::from_be_bytes([exts[2], exts[3]]));
            let data = exts.get(4..4 + len)?;
            ems |= kind == 23;
            tls13 |= kind == 43 && data == [3, 4];
            exts = &exts[4 + len..];
        }
        Some(!ems && !tls13)
    };
    // A ServerHello without extensions at all is TLS 1.2 without EMS too.
    parse().unwrap_or(message.len() > 4 + 2 + 32)
}

/// Forgets the last alert sent and refusal (before a call into OpenSSL).
pub(crate) fn clear_alert() {
    ALERT_SENT.with(|a| a.set(None));
    REFUSED.with(|r| r.set(None));
    CHAIN_REFUSED.with(|r| r.set(None));
}

fn take_alert() -> Option<u8> {
    ALERT_SENT.with(Cell::take)
}

/// What OpenSSL's error queue says, as one line.
pub(crate) fn describe(stack: &ErrorStack) -> String {
    let reasons: Vec<String> = stack
        .errors()
        .iter()
        .map(|e| e.reason().unwrap_or("unknown reason").to_owned())
        .collect();
    if reasons.is_empty() {
        "no reason given".into()
    } else {
        reasons.join("; ")
    }
}

/// A configuration that OpenSSL refused, naming the field (`what`).
pub fn from_stack(what: &str, stack: &ErrorStack) -> Error {
    Error::config(format!("{what}: OpenSSL refused it ({})", describe(stack)))
}

/// The verify result [`APPLICATION_VERIFICATION`].
pub(crate) fn application_refusal() -> X509VerifyResult {
    // SAFETY: 50 is X509_V_ERR_APPLICATION_VERIFICATION, a code OpenSSL
    // defines (from_raw asks for a valid verify result).
    unsafe { X509VerifyResult::from_raw(APPLICATION_VERIFICATION) }
}

/// A peer certificate rejected with X.509 verify code `code`.
pub(crate) fn rejected(code: X509VerifyResult, depth: u32) -> Error {
    if code.as_raw() == APPLICATION_VERIFICATION {
        return Error::new(
            ErrorKind::CertificateRejected(CertificateReason::Other),
            "the certificate is none of the pinned certificates",
        );
    }
    let reason = match code.as_raw() {
        10 => CertificateReason::Expired,
        9 => CertificateReason::NotYetValid,
        2 | 18 | 19 | 20 | 21 => CertificateReason::UnknownIssuer,
        62 | 64 => CertificateReason::NameMismatch,
        4 | 6 | 7 | 8 => CertificateReason::BadSignature,
        23 => CertificateReason::Revoked,
        _ => CertificateReason::Other,
    };
    let at = if depth == 0 {
        "the end-entity certificate".to_owned()
    } else {
        format!("the certificate at depth {depth}")
    };
    Error::new(
        ErrorKind::CertificateRejected(reason),
        format!(
            "{at} was rejected: {} (OpenSSL verify error {})",
            code.error_string(),
            code.as_raw()
        ),
    )
}

/// A failed TLS call as the interface's error: the peer's alert, our
/// certificate verdict, the alert we sent, or the transport's end (`eof`).
/// `handshaken`: the handshake had completed before the call.
pub fn from_ssl_error(e: &openssl::ssl::Error, ssl: &SslRef, eof: bool, handshaken: bool) -> Error {
    let sent = take_alert();
    if e.code() == ErrorCode::ZERO_RETURN {
        return Error::closed();
    }
    if let Some(why) = CHAIN_REFUSED.with(Cell::take) {
        return Error::new(
            ErrorKind::CertificateRejected(CertificateReason::Other),
            format!("certificate rejected: {why}"),
        );
    }
    if let Some(why) = REFUSED.with(Cell::take) {
        // One of our checks refused (handshake_failure, as on the rustls
        // providers).
        return Error::new(ErrorKind::AlertSent(sent.unwrap_or(40)), why);
    }
    let Some(stack) = e.ssl_error() else {
        return match e.io_error() {
            Some(io) => Error::new(ErrorKind::Protocol, format!("transport: {io}")),
            None if eof => Error::ragged(Stage::Data),
            None => Error::new(ErrorKind::Protocol, format!("OpenSSL: {e}")),
        };
    };
    let reasons: Vec<c_int> = stack.errors().iter().map(|e| e.reason_code()).collect();
    if reasons.contains(&UNEXPECTED_EOF_WHILE_READING) {
        return Error::ragged(Stage::Data);
    }
    if let Some(alert) = reasons
        .iter()
        .find(|r| (ALERT_REASON_OFFSET..ALERT_REASON_OFFSET + 256).contains(*r))
    {
        let alert = (alert - ALERT_REASON_OFFSET) as u8;
        return Error::new(
            ErrorKind::AlertReceived(alert),
            format!("the peer sent a fatal {} alert", alert_name(alert)),
        );
    }
    if reasons.contains(&CERTIFICATE_VERIFY_FAILED) {
        return rejected(ssl.verify_result(), 0);
    }
    if reasons.contains(&PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        return Error::new(
            ErrorKind::CertificateRejected(CertificateReason::NoCertificate),
            "the client sent no certificate, and one is required",
        );
    }
    let why = describe(stack);
    match sent {
        // What the peer sent broke the protocol: the alert only says so. After
        // the handshake nothing is negotiated any more, so every alert answers
        // a violation (a record with another version gets protocol_version).
        Some(alert) if PROTOCOL_VIOLATIONS.contains(&alert) || handshaken => Error::new(
            ErrorKind::Protocol,
            format!("{why} (sent a fatal {} alert)", alert_name(alert)),
        ),
        // The peer is well-formed but cannot be served (no common version,
        // suite or protocol, …): the alert is the answer.
        Some(alert) => Error::new(
            ErrorKind::AlertSent(alert),
            format!("{why} (sent a fatal {} alert)", alert_name(alert)),
        ),
        None => Error::new(ErrorKind::Protocol, why),
    }
}

/// The raw pointer of a live `SSL`, for the calls the crate does not wrap.
pub(crate) fn ssl_ptr(ssl: &SslRef) -> *mut openssl_sys::SSL {
    ssl.as_ptr()
}
