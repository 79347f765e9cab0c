//! Client sessions the caller holds (`connection.session`, offered again with
//! `connect-with`), as on the rustls providers (`memtls_engine::Session`): a
//! connection made with `connect-with` offers only the session it is given and
//! keeps the newest one its server issues; a TLS 1.3 session resumes one
//! connection (its ticket is used at most once), a TLS 1.2 one can be offered
//! again. A session is offered only to its own server name on the context that
//! made it (OpenSSL would offer it anywhere).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use foreign_types::ForeignTypeRef;
use memtls_engine::{Admission, Permit, ProtocolVersion, Result, SessionInfo};
use openssl::ssl::{Ssl, SslSession, SslSessionRef, SslVersion};

use crate::error::from_stack;

/// A client context's identity, which its sessions carry.
pub(crate) fn next_context_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Record {
    server_name: String,
    context: u64,
    info: SessionInfo,
    /// The session; a TLS 1.3 one leaves when offered.
    session: Mutex<Option<SslSession>>,
}

/// A client session handed to the application. Each one handed out holds a
/// place under the policy's limit until dropped.
pub struct Session {
    record: Arc<Record>,
    _permit: Permit,
}

impl Session {
    /// The session's attributes.
    pub fn info(&self) -> &SessionInfo {
        &self.record.info
    }

    /// Whether the session can still be offered (a TLS 1.3 ticket is gone once
    /// a connection has used it).
    pub fn is_usable(&self) -> bool {
        lock(&self.record.session).is_some()
    }

    /// The OpenSSL session to offer on a connection to `server_name` from
    /// context `context`: none when it is for another name or context, or
    /// already used (TLS 1.3).
    pub(crate) fn offer(&self, server_name: &str, context: u64) -> Option<SslSession> {
        let r = &self.record;
        if r.server_name != server_name || r.context != context {
            return None;
        }
        let mut slot = lock(&r.session);
        match r.info.version {
            ProtocolVersion::Tls13 => slot.take(),
            ProtocolVersion::Tls12 => slot.clone(),
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("server_name", &self.record.server_name)
            .field("info", &self.record.info)
            .finish_non_exhaustive()
    }
}

/// The newest session the server issued on one `connect-with` connection
/// (shared with the context's new-session callback).
#[derive(Clone)]
pub(crate) struct Newest {
    slot: Arc<Mutex<Option<Arc<Record>>>>,
    context: u64,
}

impl Newest {
    pub(crate) fn new(context: u64) -> Self {
        Self {
            slot: Arc::default(),
            context,
        }
    }

    /// Keeps `session`, issued for `server_name`, as the newest.
    pub(crate) fn keep(&self, server_name: &str, session: SslSession) {
        let record = Record {
            server_name: server_name.to_owned(),
            context: self.context,
            info: describe(&session),
            session: Mutex::new(Some(session)),
        };
        *lock(&self.slot) = Some(Arc::new(record));
    }

    /// Keeps `session` unless a newer one was issued.
    pub(crate) fn keep_if_empty(&self, server_name: &str, session: SslSession) {
        if lock(&self.slot).is_none() {
            self.keep(server_name, session);
        }
    }

    /// The newest session, admitted under the policy's limit.
    pub(crate) fn handed_out(&self, admission: &Admission) -> Result<Option<Session>> {
        let Some(record) = lock(&self.slot).clone() else {
            return Ok(None);
        };
        Ok(Some(Session {
            record,
            _permit: admission.session()?,
        }))
    }
}

/// What can be said about an OpenSSL session.
fn describe(session: &SslSessionRef) -> SessionInfo {
    // SAFETY: the pointer is a live SSL_SESSION; both only read it.
    let (lifetime, has_ticket) = unsafe {
        (
            crate::ffi::SSL_SESSION_get_ticket_lifetime_hint(session.as_ptr()),
            crate::ffi::SSL_SESSION_has_ticket(session.as_ptr()) == 1,
        )
    };
    SessionInfo {
        id: session.id().to_vec(),
        created: u64::try_from(session.time()).unwrap_or(0),
        ticket_lifetime: if has_ticket {
            u32::try_from(lifetime).unwrap_or(u32::MAX)
        } else {
            0
        },
        has_ticket,
        version: if session.protocol_version() == SslVersion::TLS1_3 {
            ProtocolVersion::Tls13
        } else {
            ProtocolVersion::Tls12
        },
    }
}

/// A client connection's server name (which a pin's name check reads) and
/// where the sessions it receives go: the context's cache under that name,
/// or (made with `connect-with`) the connection's own newest-session slot.
pub(crate) struct ClientState {
    pub(crate) server_name: String,
    pub(crate) newest: Option<Newest>,
}

/// The `Ssl` ex-data slot holding a client connection's [`ClientState`].
pub(crate) fn client_state_index() -> Result<openssl::ex_data::Index<Ssl, ClientState>> {
    static INDEX: std::sync::OnceLock<openssl::ex_data::Index<Ssl, ClientState>> =
        std::sync::OnceLock::new();
    if let Some(i) = INDEX.get() {
        return Ok(*i);
    }
    let i = Ssl::new_ex_index().map_err(|e| from_stack("session cache", &e))?;
    Ok(*INDEX.get_or_init(|| i))
}
