//! The extended master secret (RFC 7627), which memtls requires for TLS 1.2,
//! in one place: OpenSSL reports it only after the handshake, so a client
//! reads the ServerHello and refuses in its certificate callback, and a
//! server reads the ClientHello.

use std::ffi::c_int;
use std::os::raw::c_uint;

use crate::error::{self};
use foreign_types::ForeignTypeRef as _;
use openssl::ssl::{SslContextBuilder, SslRef};
use openssl::x509::X509StoreContextRef;

/// Whether the server of the handshake `ctx` verifies negotiated TLS 1.2
/// without the extended master secret (then refused, with handshake_failure).
/// The callback verifying the server's certificate is where a client can still
/// refuse after the ServerHello: client contexts verify (and call it) even
/// under `insecure`.
pub(crate) fn without_ems(ctx: &mut X509StoreContextRef) -> bool {
    // OpenSSL tells whether EMS was negotiated only once the handshake is
    // over; the ServerHello said it already.
    let missing = crate::notes::of_verification(ctx, |n| {
        if n.no_ems {
            n.refused = Some(NO_EMS);
        }
        n.no_ems
    })
    .unwrap_or(false);
    if missing {
        ctx.set_error(error::application_refusal());
    }
    missing
}

/// Whether a ClientHello leads to TLS 1.2 without the extended master secret
/// on a server whose highest version is TLS 1.3 when `tls13`: it does not
/// offer TLS 1.3 (or the server stops at 1.2) and has no EMS extension.
pub(crate) fn hello_without_ems(ssl: &SslRef, tls13: bool) -> bool {
    const EXTENDED_MASTER_SECRET: c_uint = 23;
    const SUPPORTED_VERSIONS: c_uint = 43;
    let ext = |kind: c_uint| -> Option<&[u8]> {
        let (mut data, mut len) = (std::ptr::null(), 0);
        // SAFETY: `ssl` is live and inside its client-hello callback, where
        // the ClientHello's extensions can be read; the returned bytes live
        // as long as the ClientHello, longer than this borrow.
        let found = unsafe {
            openssl_sys::SSL_client_hello_get0_ext(
                crate::ffi::ssl_ptr(ssl),
                kind,
                &mut data,
                &mut len,
            )
        };
        // SAFETY: OpenSSL gave `len` bytes at `data`.
        (found == 1).then(|| unsafe { std::slice::from_raw_parts(data, len) })
    };
    let offers_tls13 = ext(SUPPORTED_VERSIONS).is_some_and(|v| {
        v.get(1..)
            .unwrap_or_default()
            .chunks_exact(2)
            .any(|p| p == [3, 4])
    });
    !(tls13 && offers_tls13) && ext(EXTENDED_MASTER_SECRET).is_none()
}

/// The refusal of a TLS 1.2 peer without the extended master secret.
pub(crate) const NO_EMS: &str = "the peer does not use the extended master secret \
     (RFC 7627), which memtls requires for TLS 1.2: without it exported keys and resumption \
     would not be bound to the handshake";

/// Makes client contexts built by `b` look at every handshake message they
/// receive, for the ServerHello's extensions (whether EMS was negotiated,
/// which OpenSSL does not report while the handshake runs).
pub(crate) fn note_server_hello(b: &mut SslContextBuilder) {
    // SAFETY: the pointer is the builder's live `SSL_CTX`; the callback only
    // reads the message OpenSSL hands it and the connection's ex-data.
    unsafe { crate::ffi::SSL_CTX_set_msg_callback(b.as_ptr(), Some(message_callback)) }
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
        crate::notes::with(ssl, |n| n.no_ems = true);
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
