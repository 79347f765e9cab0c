//! OpenSSL's errors as the interface's: the error queue, X.509 verify codes
//! and the alerts OpenSSL sends and receives, mapped once.

use std::ffi::c_int;

use foreign_types::ForeignTypeRef;
use memtls_engine::{CertificateReason, Error, ErrorKind, Stage, alert_name};
use openssl::error::ErrorStack;
use openssl::ssl::{ErrorCode, SslContextBuilder, SslRef};
use openssl::x509::X509VerifyResult;

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

unsafe extern "C" fn info_callback(ssl: *const openssl_sys::SSL, event: c_int, value: c_int) {
    // `value` is (level << 8) | description; level 2 is fatal.
    if event & SSL_CB_WRITE_ALERT == SSL_CB_WRITE_ALERT && value >> 8 == 2 && !ssl.is_null() {
        // SAFETY: OpenSSL passes the live connection the alert was written
        // on, for the duration of the call.
        let ssl = unsafe { SslRef::from_ptr(ssl.cast_mut()) };
        crate::notes::with(ssl, |n| n.alert_sent = Some((value & 0xff) as u8));
    }
}

/// Makes the contexts built by `b` note the fatal alerts they send.
pub(crate) fn note_alerts(b: &mut SslContextBuilder) {
    // SAFETY: the pointer is the builder's live `SSL_CTX`; the callback is a
    // plain function that touches only the connection's notes.
    unsafe { crate::ffi::SSL_CTX_set_info_callback(b.as_ptr(), Some(info_callback)) }
}

/// What OpenSSL's error queue says, as one line.
pub(crate) fn describe(stack: &ErrorStack) -> String {
    let reasons: Vec<String> = stack
        .errors()
        .iter()
        // Our own errors (a held key's operation) carry their sentence as
        // data, with no reason OpenSSL knows.
        .map(|e| {
            e.reason()
                .or(e.data())
                .unwrap_or("unknown reason")
                .to_owned()
        })
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
    let (sent, chain_refused, refused) = crate::notes::with(ssl, |n| {
        (
            n.alert_sent.take(),
            n.chain_refused.take(),
            n.refused.take(),
        )
    })
    .unwrap_or_default();
    if e.code() == ErrorCode::ZERO_RETURN {
        return Error::closed();
    }
    if let Some(why) = chain_refused {
        return Error::new(
            ErrorKind::CertificateRejected(CertificateReason::Other),
            format!("certificate rejected: {why}"),
        );
    }
    if let Some(why) = refused {
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
