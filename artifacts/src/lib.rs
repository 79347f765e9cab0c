//! The Wasm components the `memtls` command ships — the guest provider, the
//! wasi:tls adapter, the example programs — built for `wasm32-wasip2` by this
//! crate's build script (`memtls-wasm-build`: a nested cargo build into
//! `target/wasm`) and embedded here, so that the crates that run them need no
//! separate Wasm build and `memtls-host` needs none at all. The test programs
//! are in `memtls-test-artifacts`, which only tests depend on.
//!
//! Not published: a published embedder gives `memtls-host` the guest provider
//! component itself (see `memtls_host::GuestComponent`).

#![warn(missing_docs)]

/// The guest provider (`memtls-guest`): exports `memtls:tls`, imports
/// `memtls:tls/policy` and WASI.
pub fn guest() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_GUEST"))
}

/// `https-get`: HTTP/1.1 GET over TLS (the demo's client).
pub fn https_get() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_HTTPS_GET"))
}

/// `tls-echo-server`: a TLS echo server (and SMTP STARTTLS server).
pub fn tls_echo_server() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_TLS_ECHO_SERVER"))
}

/// `https-server`: a concurrent HTTPS/1.1 server (many connections at once
/// through `wasi:io/poll`).
pub fn https_server() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_HTTPS_SERVER"))
}

/// `starttls`: an SMTP STARTTLS client.
pub fn starttls() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_STARTTLS"))
}

/// The wasi:tls adapter (`memtls-wasi-tls`): exports
/// `wasi:tls/client@0.3.0-draft` and `wasi:tls/types@0.3.0-draft`, imports
/// `memtls:tls`.
pub fn wasi_tls_adapter() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_WASI_TLS_ADAPTER"))
}

/// The guest provider as `memtls-host` takes it: the default
/// ([`install`]ed on first use, unless the process installed its own).
pub fn guest_component() -> &'static memtls_host::GuestComponent {
    install();
    memtls_host::GuestComponent::get_default().expect("a guest provider was installed just above")
}

/// The wasi:tls adapter as `memtls-host` takes it: the default ([`install`]ed
/// on first use, unless the process installed its own).
pub fn wasi_tls_adapter_component() -> &'static memtls_host::WasiTlsAdapter {
    install();
    memtls_host::WasiTlsAdapter::get_default().expect("a wasi:tls adapter was installed just above")
}

/// Makes the guest provider and the wasi:tls adapter embedded here
/// `memtls-host`'s defaults, once per process (a process that installed its
/// own before keeps them).
pub fn install() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let _ = memtls_host::GuestComponent::new(guest()).install_default();
        let _ = memtls_host::WasiTlsAdapter::new(wasi_tls_adapter()).install_default();
    });
}
