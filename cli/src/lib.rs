//! The `memtls` command's library: the example components, the demo, and
//! `memtls python build`. Loading and running components is `memtls-host`'s
//! embedding runtime ([`memtls_host::runtime`]), re-exported here.

#![warn(missing_docs)]

pub use memtls_host::runtime::{Host, Loaded, RunOptions, engine, load, run};

pub mod demo;
mod leak_fix;
pub mod python;

/// The example components, built by this crate's build script.
pub mod examples {
    /// `https-get`: HTTP/1.1 GET over TLS.
    pub fn https_get() -> &'static [u8] {
        include_bytes!(env!("MEMTLS_EXAMPLE_HTTPS_GET"))
    }
    /// `tls-echo-server`: a TLS echo server (and SMTP STARTTLS server).
    pub fn tls_echo_server() -> &'static [u8] {
        include_bytes!(env!("MEMTLS_EXAMPLE_TLS_ECHO_SERVER"))
    }
    /// `starttls`: an SMTP STARTTLS client.
    pub fn starttls() -> &'static [u8] {
        include_bytes!(env!("MEMTLS_EXAMPLE_STARTTLS"))
    }
}
