//! The `memtls` command's library: the example components, the demo, and
//! `memtls python build`. Loading and running components is `memtls-host`'s
//! embedding runtime ([`memtls_host::runtime`]), re-exported here with the
//! guest provider the command embeds.

#![warn(missing_docs)]

use std::sync::Once;

pub use memtls_host::runtime::{Host, Loaded, RunOptions, engine, run};
use memtls_host::{GuestComponent, Policy, Provider};
use wasmtime::Result;

pub mod demo;
mod leak_fix;
pub mod python;

/// The example components the command embeds (built by `memtls-artifacts`).
pub mod examples {
    pub use memtls_artifacts::{https_get, starttls, tls_echo_server};
}

/// The guest provider: the one the command embeds, installed as
/// `memtls-host`'s default on first use (unless the process installed its own
/// before, which then stays).
pub fn guest() -> &'static GuestComponent {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = GuestComponent::new(memtls_artifacts::guest()).install_default();
    });
    GuestComponent::get_default().expect("a guest provider was installed just above")
}

/// [`memtls_host::runtime::load`] with the embedded guest provider installed.
pub fn load(app: &[u8], provider: Provider, policy: &Policy, label: &str) -> Result<Loaded> {
    guest();
    memtls_host::runtime::load(app, provider, policy, label)
}
