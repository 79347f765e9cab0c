//! Client sessions the caller holds: taken from one connection, offered on the next.
//!
//! A client context resumes automatically between its connections through its
//! own cache ([`crate::ClientContext::connect`]). Some callers want the choice
//! themselves — CPython's `ssl` resumes only when `session=` is given — so a
//! connection made with [`crate::ClientContext::connect_with`] neither reads nor
//! fills that cache: it offers only the [`Session`] it is given, and the sessions
//! its server issues are kept for [`crate::Connection::session`] to hand out.
//!
//! A TLS 1.3 ticket is used at most once (RFC 8446 Appendix C.4: clients should
//! not reuse a ticket), so a TLS 1.3 session resumes one connection; that
//! connection receives tickets of its own. A TLS 1.2 session can be offered
//! again and again, like a session id.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::NamedGroup;
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;

use crate::policy::Permit;
use crate::{Admission, ProtocolVersion, Result};

/// What can be said about a session, the attributes CPython's `SSLSession` has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session id: for a TLS 1.2 session the id the server gave, otherwise
    /// the SHA-256 digest of the ticket (what OpenSSL uses as a TLS 1.3
    /// session's id). Empty when the server gave neither.
    pub id: Vec<u8>,
    /// When the session was made, in seconds since the Unix epoch.
    pub created: u64,
    /// How long the server said its ticket may be used, in seconds (0 without
    /// a ticket).
    pub ticket_lifetime: u32,
    /// Whether the server issued a ticket (always for TLS 1.3; for TLS 1.2 when
    /// it used RFC 5077 tickets rather than only a session id).
    pub has_ticket: bool,
    /// The protocol version the session was made with.
    pub version: ProtocolVersion,
}

enum Value {
    Tls13(Tls13ClientSessionValue),
    Tls12(Tls12ClientSessionValue),
}

struct Record {
    server_name: ServerName<'static>,
    kx_hint: Option<NamedGroup>,
    version: ProtocolVersion,
    /// Read from the value when the session is first handed out (not for
    /// every ticket a connection receives), before its ticket can be used.
    info: OnceLock<SessionInfo>,
    /// The resumption secret and ticket; a TLS 1.3 ticket leaves when used.
    value: Mutex<Option<Value>>,
}

impl Record {
    fn info(&self) -> &SessionInfo {
        self.info
            .get_or_init(|| describe(lock(&self.value).as_ref(), self.version))
    }
}

/// A client session handed to the application: the secret and ticket with which
/// a later connection to the same server name can resume. Each one handed out
/// holds a place under the policy's limit until dropped (they are what an
/// application could pile up), while the connection that received the session
/// keeps only the newest.
pub struct Session {
    record: Arc<Record>,
    _permit: Permit,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("server_name", &self.record.server_name)
            .field("info", self.record.info())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The session's attributes.
    pub fn info(&self) -> &SessionInfo {
        self.record.info()
    }

    /// Whether the session can still be offered (a TLS 1.3 ticket is gone once
    /// a connection has used it).
    pub fn is_usable(&self) -> bool {
        lock(&self.record.value).is_some()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The session store of one connection made with `connect_with`: it offers the
/// session it was given and keeps the newest one the server issues.
pub(crate) struct ConnectionSessions {
    offered: Option<Arc<Record>>,
    newest: Mutex<Option<Arc<Record>>>,
    kx_hint: Mutex<Option<NamedGroup>>,
    /// Admits each session handed out.
    admission: Admission,
}

impl fmt::Debug for ConnectionSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSessions")
            .field("offered", &self.offered.as_ref().map(|r| r.info()))
            .finish_non_exhaustive()
    }
}

impl ConnectionSessions {
    pub(crate) fn new(offered: Option<&Session>, admission: Admission) -> Self {
        Self {
            offered: offered.map(|s| s.record.clone()),
            newest: Mutex::new(None),
            kx_hint: Mutex::new(None),
            admission,
        }
    }

    /// The newest session the server issued on this connection, admitted
    /// under the policy's limit.
    pub(crate) fn newest(&self) -> Result<Option<Session>> {
        let Some(record) = lock(&self.newest).clone() else {
            return Ok(None);
        };
        record.info();
        Ok(Some(Session {
            record,
            _permit: self.admission.session()?,
        }))
    }

    fn offered_for(&self, name: &ServerName<'_>) -> Option<&Record> {
        self.offered.as_deref().filter(|r| r.server_name == *name)
    }

    fn keep(&self, server_name: ServerName<'static>, value: Value) {
        let record = Record {
            server_name,
            kx_hint: *lock(&self.kx_hint),
            version: match value {
                Value::Tls13(_) => ProtocolVersion::Tls13,
                Value::Tls12(_) => ProtocolVersion::Tls12,
            },
            info: OnceLock::new(),
            value: Mutex::new(Some(value)),
        };
        *lock(&self.newest) = Some(Arc::new(record));
    }
}

impl ClientSessionStore for ConnectionSessions {
    fn set_kx_hint(&self, _server_name: ServerName<'static>, group: NamedGroup) {
        *lock(&self.kx_hint) = Some(group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.offered_for(server_name).and_then(|r| r.kx_hint)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.keep(server_name, Value::Tls12(value));
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        match &*lock(&self.offered_for(server_name)?.value) {
            Some(Value::Tls12(v)) => Some(v.clone()),
            _ => None,
        }
    }

    fn remove_tls12_session(&self, _server_name: &ServerName<'static>) {
        // The server refused the offered session; the caller's session object
        // stays as it is (CPython's does too), and nothing new was kept.
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.keep(server_name, Value::Tls13(value));
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        let mut slot = lock(&self.offered_for(server_name)?.value);
        match slot.take() {
            Some(Value::Tls13(v)) => Some(v),
            other => {
                *slot = other;
                None
            }
        }
    }
}

/// Reads a session's attributes. rustls 0.23 keeps the ticket, its lifetime
/// and the creation time private and shows them only in its `Debug` output
/// (hex bytes and decimal numbers; never the secret), so that is where they
/// are read; `sessions_resume_only_when_offered_and_say_what_they_are`
/// (engine/tests/memory_channel.rs) and `test_sessions_with_a_cpython_server`
/// (python/tests/test_ssl.py) pin the format, and a value that cannot be read
/// leaves the attribute empty (as does a value already used, which
/// `Record::info` never meets: it reads the value before handing it out).
fn describe(value: Option<&Value>, version: ProtocolVersion) -> SessionInfo {
    let shown = match value {
        Some(Value::Tls13(v)) => format!("{v:?}"),
        Some(Value::Tls12(v)) => format!("{v:?}"),
        None => String::new(),
    };
    let common = shown.find("ClientSessionCommon {").unwrap_or(shown.len());
    let ticket = field(&shown[common..], "ticket").and_then(unhex);
    let session_id = field(&shown[..common], "session_id").and_then(unhex);
    let number = |name| field(&shown[common..], name).and_then(|v| v.parse::<u64>().ok());
    let ticket = ticket.unwrap_or_default();
    let id = match session_id {
        Some(id) if !id.is_empty() => id,
        _ if !ticket.is_empty() => ring::digest::digest(&ring::digest::SHA256, &ticket)
            .as_ref()
            .to_vec(),
        _ => Vec::new(),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    SessionInfo {
        id,
        created: number("epoch").unwrap_or(now),
        ticket_lifetime: if ticket.is_empty() {
            0
        } else {
            number("lifetime_secs").map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
        },
        has_ticket: !ticket.is_empty(),
        version,
    }
}

/// The text of `name: <value>` in a `Debug` rendering, up to the next `,` or `}`.
fn field<'a>(shown: &'a str, name: &str) -> Option<&'a str> {
    let start = shown.find(&format!("{name}: "))? + name.len() + 2;
    let rest = &shown[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

/// The bytes of hexadecimal text (either case), or None.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_from_a_debug_rendering() {
        let shown = "Tls12ClientSessionValue { suite: X, session_id: 0a0b, extended_ms: true, \
                     common: ClientSessionCommon { ticket: , epoch: 1700000000, lifetime_secs: 300, \
                     server_cert_chain: [] } }";
        let common = shown.find("ClientSessionCommon {").unwrap();
        assert_eq!(field(&shown[..common], "session_id"), Some("0a0b"));
        assert_eq!(field(&shown[common..], "ticket"), Some(""));
        assert_eq!(field(&shown[common..], "epoch"), Some("1700000000"));
        assert_eq!(unhex("0a0b"), Some(vec![10, 11]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }
}
