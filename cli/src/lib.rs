//! The `memtls` command's library: the example components, the demo, and
//! `memtls python build`. Loading and running components is `memtls-host`'s
//! embedding runtime ([`memtls_host::runtime`]), re-exported here with the
//! guest provider the command embeds.

#![warn(missing_docs)]

use std::sync::Once;

pub use memtls_host::runtime::{Host, Loaded, RunOptions, engine, run};
use memtls_host::{GuestComponent, Policy, Provider, WasiTlsAdapter};
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

/// The wasi:tls adapter: the one the command embeds, installed as
/// `memtls-host`'s default on first use (unless the process installed its own
/// before, which then stays).
pub fn wasi_tls_adapter() -> &'static WasiTlsAdapter {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = WasiTlsAdapter::new(memtls_artifacts::wasi_tls_adapter()).install_default();
    });
    WasiTlsAdapter::get_default().expect("a wasi:tls adapter was installed just above")
}

/// [`memtls_host::runtime::load`] with the embedded guest provider and wasi:tls
/// adapter installed.
pub fn load(app: &[u8], provider: Provider, policy: &Policy, label: &str) -> Result<Loaded> {
    guest();
    wasi_tls_adapter();
    memtls_host::runtime::load(app, provider, policy, label)
}
