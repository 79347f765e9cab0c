//! The embedder's policy, and the admission checks both providers make with it.
//!
//! A [`Policy`] is what the embedder decides and the application cannot change:
//! whether the `insecure` interface works, how many contexts and connections one
//! instance may hold, how much ciphertext a connection buffers, how many
//! configuration bytes the live contexts of one instance may retain, and extra
//! anchors for `system` trust. An [`Admission`] applies it to one instance: every
//! context and connection is admitted *before* any work is done for it, holds a
//! [`Permit`] while it lives and gives its share back when dropped. The native
//! provider keeps one `Admission` per store; the guest provider one per instance.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::identity::{HostIdentity, Purpose};
use crate::{Error, Result};

/// The default cap on ciphertext buffered per connection: four maximal records.
pub const DEFAULT_MAX_BUFFERED: usize = 4 * (16 * 1024 + 256);

/// The default cap on the certificates of one chain (end entity included): the
/// longest path webpki builds is the end entity, six intermediates and an
/// anchor, and servers send a few more at most (cross-signatures).
pub const DEFAULT_MAX_CHAIN_CERTIFICATES: usize = 10;

/// The default cap on the bytes of one chain: 64 KiB, what one TLS 1.2
/// Certificate message can hold and far above real chains (2 to 8 KiB).
pub const DEFAULT_MAX_CHAIN_BYTES: usize = 64 * 1024;

/// The embedder's policy for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Whether the `insecure` interface works (otherwise its calls answer
    /// `not-permitted`).
    pub allow_insecure: bool,
    /// Most connections one instance may hold at once; also the most client
    /// sessions it may keep.
    pub max_connections: usize,
    /// Most client and server contexts one instance may hold at once.
    pub max_contexts: usize,
    /// Most ciphertext bytes buffered per connection before `write` stops
    /// accepting plaintext.
    pub max_buffered_bytes: usize,
    /// Most configuration bytes (anchors, pins, certificate chains, keys, ALPN
    /// ids, cipher ids) the live contexts of one instance may hold together; also
    /// the most one `verify-server-chain` call may pass.
    pub max_config_bytes: usize,
    /// Most certificates (the end entity included) one chain may hold, whether a
    /// peer presents it or `verify-server-chain` is given it; more are refused
    /// before path building starts, since path building is what costs CPU.
    pub max_chain_certificates: usize,
    /// Most bytes (DER) one chain may take, under the same rule.
    pub max_chain_bytes: usize,
    /// What `system` trust starts from, before the extra anchors.
    pub base_roots: BaseRoots,
    /// Extra trust anchors (PEM text or DER) added to what `system` trust means,
    /// like `SSL_CERT_FILE`. A server presenting one of them as its own
    /// certificate is accepted directly, as OpenSSL does with a certificate in
    /// its store (a pin: its name, validity and key usage are still checked).
    pub extra_system_anchors: Vec<Vec<u8>>,
    /// Identities whose keys stay in the host, granted to this instance by
    /// name, each for its purposes ([`HostIdentity`]).
    pub identities: Vec<Arc<HostIdentity>>,
}

/// The roots `system` trust starts from (the policy's extra anchors are added
/// to any of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BaseRoots {
    /// The platform's trust: on the native provider the operating system's CA
    /// store (or its verifier where it has one); the guest provider has no
    /// platform and uses the Mozilla roots.
    #[default]
    Platform,
    /// The Mozilla root program's roots as shipped with this build
    /// (webpki-root-certs), the same on every provider, so that providers agree
    /// exactly.
    Mozilla,
    /// No base roots: `system` trust is the policy's extra anchors alone (for an
    /// embedder that trusts only its own CA).
    None,
}

impl BaseRoots {
    /// Every choice, in the order the command line lists them.
    pub const ALL: [BaseRoots; 3] = [BaseRoots::Platform, BaseRoots::Mozilla, BaseRoots::None];

    /// The choice's name as the command line and the WIT spell it.
    pub fn name(self) -> &'static str {
        match self {
            BaseRoots::Platform => "platform",
            BaseRoots::Mozilla => "mozilla",
            BaseRoots::None => "none",
        }
    }
}

impl std::str::FromStr for BaseRoots {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        BaseRoots::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                format!("unknown base roots {s:?}: use \"platform\", \"mozilla\" or \"none\"")
            })
    }
}

impl Default for Policy {
    /// Secure defaults: no `insecure` interface, 1024 connections, 256 contexts,
    /// four records buffered per connection, 16 MiB of configuration, chains of
    /// at most 10 certificates and 64 KiB, platform roots, no host identities.
    fn default() -> Self {
        Self {
            allow_insecure: false,
            max_connections: 1024,
            max_contexts: 256,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED,
            max_config_bytes: 16 << 20,
            max_chain_certificates: DEFAULT_MAX_CHAIN_CERTIFICATES,
            max_chain_bytes: DEFAULT_MAX_CHAIN_BYTES,
            base_roots: BaseRoots::Platform,
            extra_system_anchors: Vec::new(),
            identities: Vec::new(),
        }
    }
}

impl Policy {
    /// Refuses the `insecure` interface unless the policy allows it.
    pub fn check_insecure(&self) -> Result<()> {
        if self.allow_insecure {
            Ok(())
        } else {
            Err(Error::not_permitted(
                "the insecure interface is disabled by the embedder's policy \
                 (the embedder can allow it; the application cannot)",
            ))
        }
    }

    /// The host identity `name` for `purpose`, or `not-permitted` naming it
    /// when this policy does not grant it, or not for that purpose.
    pub fn identity(&self, name: &str, purpose: Purpose) -> Result<&HostIdentity> {
        crate::identity::find(&self.identities, name, purpose)
    }

    /// The public certificate chain (DER, end entity first) of the host
    /// identity `name`, granted for any purpose; `not-permitted` otherwise.
    pub fn identity_certificates(&self, name: &str) -> Result<Vec<Vec<u8>>> {
        Ok(crate::identity::named(&self.identities, name)?
            .certificates()
            .iter()
            .map(|c| c.as_ref().to_vec())
            .collect())
    }

    /// Identity `name`'s signature over `message` under `scheme` (an IANA
    /// code point) for a handshake the guest provider runs: what the host's
    /// `host-signer` answers ([`HostIdentity::sign_handshake`] says what it
    /// signs). `not-permitted` naming the identity when it is not granted.
    pub fn sign_handshake(&self, name: &str, scheme: u16, message: &[u8]) -> Result<Vec<u8>> {
        crate::identity::named(&self.identities, name)?
            .sign_handshake(rustls::SignatureScheme::from(scheme), message)
    }
}

#[derive(Debug, Default)]
struct Counters {
    contexts: AtomicUsize,
    connections: AtomicUsize,
    sessions: AtomicUsize,
    config_bytes: AtomicUsize,
}

impl Counters {
    /// The counter of what `kind` admits.
    fn of(&self, kind: Held) -> &AtomicUsize {
        match kind {
            Held::Context => &self.contexts,
            Held::Connection => &self.connections,
            Held::Session => &self.sessions,
        }
    }
}

/// What a [`Permit`] admits.
#[derive(Debug, Clone, Copy)]
enum Held {
    Context,
    Connection,
    Session,
}

/// A [`Policy`] applied to one instance: counts what it holds.
#[derive(Debug, Clone)]
pub struct Admission {
    policy: Arc<Policy>,
    held: Arc<Counters>,
}

/// What one admitted context, connection or session holds; given back on drop.
#[derive(Debug)]
pub struct Permit {
    held: Arc<Counters>,
    kind: Held,
    config_bytes: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.held.of(self.kind).fetch_sub(1, Ordering::Relaxed);
        self.held
            .config_bytes
            .fetch_sub(self.config_bytes, Ordering::Relaxed);
    }
}

/// Adds `n` to `counter` unless that would pass `max`.
fn reserve(counter: &AtomicUsize, n: usize, max: usize) -> bool {
    counter
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
            held.checked_add(n).filter(|total| *total <= max)
        })
        .is_ok()
}

impl Admission {
    /// Starts counting for one instance under `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy: Arc::new(policy),
            held: Arc::default(),
        }
    }

    /// The policy applied.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Contexts held now.
    pub fn live_contexts(&self) -> usize {
        self.held.contexts.load(Ordering::Relaxed)
    }

    /// Connections held now.
    pub fn live_connections(&self) -> usize {
        self.held.connections.load(Ordering::Relaxed)
    }

    /// Client sessions held now.
    pub fn live_sessions(&self) -> usize {
        self.held.sessions.load(Ordering::Relaxed)
    }

    /// Configuration bytes held by live contexts now.
    pub fn config_bytes(&self) -> usize {
        self.held.config_bytes.load(Ordering::Relaxed)
    }

    /// Admits a context whose configuration is `config_bytes` long.
    pub fn context(&self, config_bytes: usize) -> Result<Permit> {
        let max = self.policy.max_contexts;
        if !reserve(&self.held.contexts, 1, max) {
            return Err(Error::limit(format!(
                "the policy allows at most {max} live contexts per instance \
                 (max-contexts); drop contexts that are no longer needed"
            )));
        }
        let budget = self.policy.max_config_bytes;
        if !reserve(&self.held.config_bytes, config_bytes, budget) {
            self.held.contexts.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::limit(format!(
                "this configuration is {config_bytes} bytes and the instance's live contexts \
                 already hold {} of at most {budget} configuration bytes (max-config-bytes)",
                self.config_bytes()
            )));
        }
        Ok(Permit {
            held: self.held.clone(),
            kind: Held::Context,
            config_bytes,
        })
    }

    /// Admits a connection.
    pub fn connection(&self) -> Result<Permit> {
        self.counted(Held::Connection, "connections", "")
    }

    /// Admits a client session kept for the application (it holds a secret, a
    /// ticket and the server's chain). Sessions are bounded like connections:
    /// at most `max_connections` at once.
    pub fn session(&self) -> Result<Permit> {
        self.counted(
            Held::Session,
            "sessions",
            "; max-connections bounds sessions too: drop sessions that are no longer needed",
        )
    }

    /// Admits one more of `kind`, counted against `max_connections`.
    fn counted(&self, kind: Held, what: &str, advice: &str) -> Result<Permit> {
        let max = self.policy.max_connections;
        if !reserve(self.held.of(kind), 1, max) {
            return Err(Error::limit(format!(
                "the policy allows at most {max} live {what} per instance \
                 (max-connections){advice}"
            )));
        }
        Ok(Permit {
            held: self.held.clone(),
            kind,
            config_bytes: 0,
        })
    }

    /// Refuses a one-off configuration (a `verify-server-chain` call) larger than
    /// the whole configuration budget.
    pub fn transient(&self, bytes: usize) -> Result<()> {
        let budget = self.policy.max_config_bytes;
        if bytes > budget {
            return Err(Error::limit(format!(
                "this call passes {bytes} bytes of certificates; the policy allows at most \
                 {budget} (max-config-bytes)"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_count_and_give_back() {
        let a = Admission::new(Policy {
            max_contexts: 2,
            max_connections: 1,
            max_config_bytes: 100,
            ..Policy::default()
        });
        let c1 = a.context(60).unwrap();
        let e = a.context(41).unwrap_err();
        assert!(e.message.contains("max-config-bytes"), "{}", e.message);
        assert_eq!(a.live_contexts(), 1, "a refused context holds nothing");
        let c2 = a.context(40).unwrap();
        let e = a.context(0).unwrap_err();
        assert!(
            e.message.contains("at most 2 live contexts"),
            "{}",
            e.message
        );
        drop(c1);
        assert_eq!((a.live_contexts(), a.config_bytes()), (1, 40));
        let k = a.connection().unwrap();
        assert!(a.connection().is_err());
        drop(k);
        assert!(a.connection().is_ok());
        drop(c2);
        assert_eq!((a.live_contexts(), a.config_bytes()), (0, 0));
        assert!(a.transient(101).is_err() && a.transient(100).is_ok());
    }

    #[test]
    fn huge_sizes_do_not_overflow() {
        let a = Admission::new(Policy::default());
        assert!(a.context(usize::MAX).is_err());
        assert_eq!(a.live_contexts(), 0);
    }
}
