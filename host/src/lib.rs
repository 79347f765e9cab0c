//! memtls for wasmtime embedders.
//!
//! Components that import `memtls:tls` (the `application` world) can be served
//! by either provider, chosen with one [`Provider`] value:
//!
//! - [`Provider::Native`]: the host serves the interface with native rustls and
//!   the platform's trust (rustls-platform-verifier), under the embedder's
//!   [`Policy`]. Add it with [`add_to_linker`] and give the store data a
//!   [`MemtlsView`].
//! - [`Provider::Guest`]: the embedded guest component (rustls + ring inside Wasm,
//!   Mozilla roots) is composed into the application at load time
//!   ([`compose_with_guest`]); the result needs only WASI from the host.
//!
//! [`prepare_component`] and [`add_provider_to_linker`] do the right thing for
//! either choice, so switching provider is a one-value change.

#![warn(missing_docs)]

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use memtls_engine as engine;
use wasmtime::component::Linker;

mod compose;
mod native;

pub use compose::{compose_with_guest, guest_component};
pub use native::{
    ClientContext, Connection, MemtlsCtx, MemtlsCtxView, MemtlsView, ServerContext, add_to_linker,
};

/// Bindings generated from the `memtls:tls` WIT package (the `application`
/// world, whose imports the native provider implements).
#[allow(missing_docs)] // the WIT items are documented; some generated helpers are not
pub mod bindings {
    wasmtime::component::bindgen!({
        world: "application",
        path: "../wit",
        imports: { default: trappable },
        with: {
            "memtls:tls/tls.client-context": crate::native::ClientContext,
            "memtls:tls/tls.server-context": crate::native::ServerContext,
            "memtls:tls/tls.connection": crate::native::Connection,
        },
    });
}

/// The embedder's policy for the native provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Whether the `insecure` interface works (otherwise its calls answer
    /// `not-permitted`).
    pub allow_insecure: bool,
    /// Most connections one instance may hold at once.
    pub max_connections: usize,
    /// Most ciphertext bytes buffered per connection before `write` stops
    /// accepting plaintext.
    pub max_buffered_bytes: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allow_insecure: false,
            max_connections: 1024,
            max_buffered_bytes: engine::DEFAULT_MAX_BUFFERED,
        }
    }
}

/// System trust from the platform, through rustls-platform-verifier.
struct PlatformTrust;

impl engine::SystemTrust for PlatformTrust {
    fn server_verifier(
        &self,
        extra_anchors: Vec<rustls::pki_types::CertificateDer<'static>>,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Arc<dyn rustls::client::danger::ServerCertVerifier>, rustls::Error> {
        let v = rustls_platform_verifier::Verifier::new_with_extra_roots(extra_anchors, provider)?;
        Ok(Arc::new(v))
    }
}

/// The engine the native provider uses under `policy`: ring crypto, platform
/// trust, AES-GCM first (native code has AES instructions).
pub fn native_engine(policy: &Policy) -> Arc<engine::Engine> {
    Arc::new(engine::Engine::new(engine::EngineOptions {
        name: "memtls-host (rustls, ring, platform verifier; native)".into(),
        version: format!("{} (rustls 0.23)", env!("CARGO_PKG_VERSION")),
        crypto: rustls::crypto::ring::default_provider(),
        system_trust: Arc::new(PlatformTrust),
        prefer_chacha20: false,
        max_buffered: policy.max_buffered_bytes,
    }))
}

impl MemtlsCtx {
    /// A native-provider context with its own engine under `policy`.
    pub fn native(policy: Policy) -> Self {
        MemtlsCtx::new(native_engine(&policy), policy)
    }
}

/// Which implementation serves `memtls:tls` to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Provider {
    /// Served by the host: native rustls, platform trust, host policy.
    #[default]
    Native,
    /// Served by the sandboxed guest component composed into the application.
    Guest,
}

impl Provider {
    /// Both providers, native first.
    pub const ALL: [Provider; 2] = [Provider::Native, Provider::Guest];

    /// The provider's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Native => "native",
            Provider::Guest => "guest",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "native" | "host" => Ok(Provider::Native),
            "guest" | "wasm" => Ok(Provider::Guest),
            other => Err(format!(
                "unknown TLS provider {other:?}: use \"native\" or \"guest\""
            )),
        }
    }
}

/// The component to instantiate for `provider`: the application itself for
/// [`Provider::Native`], the application composed with the guest provider for
/// [`Provider::Guest`].
pub fn prepare_component(app: &[u8], provider: Provider) -> wasmtime::Result<Cow<'_, [u8]>> {
    match provider {
        Provider::Native => Ok(Cow::Borrowed(app)),
        Provider::Guest => Ok(Cow::Owned(compose_with_guest(app)?)),
    }
}

/// Adds what `provider` needs from the host to `linker`: the native provider's
/// functions, or nothing for the guest (the composition carries it).
pub fn add_provider_to_linker<T: MemtlsView + 'static>(
    linker: &mut Linker<T>,
    provider: Provider,
) -> wasmtime::Result<()> {
    match provider {
        Provider::Native => add_to_linker(linker),
        Provider::Guest => Ok(()),
    }
}
