//! What this provider's callbacks learn during a call into OpenSSL — the
//! alert it wrote, why a check of ours refused, whether the server skipped
//! the extended master secret — kept with the connection it is about (its
//! `Ssl`'s ex-data), not with the thread. OpenSSL calls the callbacks with
//! that `Ssl`, and the connection reads its own notes after the call.

use std::sync::{Mutex, OnceLock, PoisonError};

use memtls_engine::Result;
use openssl::ex_data::Index;
use openssl::ssl::{Ssl, SslRef};
use openssl::x509::{X509StoreContext, X509StoreContextRef};

/// One connection's notes.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    /// The last fatal alert OpenSSL wrote on this connection.
    pub(crate) alert_sent: Option<u8>,
    /// Why one of our callbacks refused the handshake (reported with the
    /// alert OpenSSL sends).
    pub(crate) refused: Option<&'static str>,
    /// Why the chain check refused the peer's chain before OpenSSL's verdict
    /// (the policy's chain limits), reported as a rejected certificate.
    pub(crate) chain_refused: Option<String>,
    /// The server's ServerHello chose TLS 1.2 without the extended master
    /// secret (see [`crate::ems`]); kept for the rest of the handshake.
    pub(crate) no_ems: bool,
}

/// The `Ssl` ex-data slot holding a connection's [`Notes`].
fn index() -> Result<Index<Ssl, Mutex<Notes>>> {
    static INDEX: OnceLock<Index<Ssl, Mutex<Notes>>> = OnceLock::new();
    if let Some(i) = INDEX.get() {
        return Ok(*i);
    }
    let i = Ssl::new_ex_index().map_err(|e| {
        memtls_engine::Error::config(format!(
            "connection notes: OpenSSL gave no ex-data slot ({e})"
        ))
    })?;
    Ok(*INDEX.get_or_init(|| i))
}

/// Gives a new connection its (empty) notes.
pub(crate) fn attach(ssl: &mut SslRef) -> Result<()> {
    ssl.set_ex_data(index()?, Mutex::new(Notes::default()));
    Ok(())
}

/// Runs `f` on the notes of `ssl` (nothing if it has none: a connection this
/// crate did not make).
pub(crate) fn with<R>(ssl: &SslRef, f: impl FnOnce(&mut Notes) -> R) -> Option<R> {
    let notes = ssl.ex_data(index().ok()?)?;
    Some(f(&mut notes.lock().unwrap_or_else(PoisonError::into_inner)))
}

/// Runs `f` on the notes of the connection a verification belongs to.
pub(crate) fn of_verification<R>(
    ctx: &X509StoreContextRef,
    f: impl FnOnce(&mut Notes) -> R,
) -> Option<R> {
    let ssl = ctx.ex_data(X509StoreContext::ssl_idx().ok()?)?;
    with(ssl, f)
}

/// Forgets what the previous call learnt (before a call into OpenSSL); what
/// the handshake learnt so far (the ServerHello's choice) stays.
pub(crate) fn clear(ssl: &SslRef) {
    with(ssl, |n| {
        n.alert_sent = None;
        n.refused = None;
        n.chain_refused = None;
    });
}
