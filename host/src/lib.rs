//! memtls for wasmtime embedders.
//!
//! Components that import `memtls:tls` (the `application` world) can be served
//! by either provider, chosen with one [`Provider`] value:
//!
//! - [`Provider::Native`]: the host serves the interface with native rustls and
//!   the platform's trust (or the Mozilla roots), under the embedder's
//!   [`Policy`]. Add it with [`add_to_linker`] and give the store data a
//!   [`MemtlsView`].
//! - [`Provider::Guest`]: the guest provider component (rustls + ring inside
//!   Wasm, Mozilla roots; the embedder supplies it as a [`GuestComponent`]) is
//!   composed into the application at load time ([`compose_with_guest`])
//!   together with a small generated component that carries the [`Policy`]; the
//!   result needs only WASI from the host, and the application cannot reach or
//!   change the policy.
//!
//! [`prepare_component`] and [`add_provider_to_linker`] do the right thing for
//! either choice, so switching provider is a one-value change.
//!
//! ```no_run
//! use memtls_host::{MemtlsCtx, MemtlsCtxView, MemtlsView, Policy, Provider};
//! use wasmtime::component::{Component, Linker, ResourceTable};
//! use wasmtime::{Engine, Store};
//! use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
//!
//! struct State {
//!     wasi: WasiCtx,
//!     table: ResourceTable,
//!     memtls: MemtlsCtx,
//! }
//! impl WasiView for State {
//!     fn ctx(&mut self) -> WasiCtxView<'_> {
//!         WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
//!     }
//! }
//! impl MemtlsView for State {
//!     fn memtls(&mut self) -> MemtlsCtxView<'_> {
//!         MemtlsCtxView { ctx: &mut self.memtls, table: &mut self.table }
//!     }
//! }
//!
//! # fn main() -> wasmtime::Result<()> {
//! let app_wasm = std::fs::read("app.wasm")?;
//! // The guest provider's component, once per process (a wasm32-wasip2 build
//! // of memtls-guest); the native provider needs none.
//! memtls_host::GuestComponent::new(std::fs::read("memtls_guest.wasm")?)
//!     .install_default()
//!     .ok();
//! let provider: Provider = "guest".parse().map_err(wasmtime::Error::msg)?; // or "native"
//! let policy = Policy { max_connections: 64, ..Policy::default() };
//!
//! let engine = Engine::default();
//! // Composes the guest in, with the policy baked in (for the native provider:
//! // the application as it is).
//! let bytes = memtls_host::prepare_component(&app_wasm, provider, &policy)?;
//! let component = Component::new(&engine, &bytes)?;
//! let mut linker = Linker::<State>::new(&engine);
//! wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
//! memtls_host::add_provider_to_linker(&mut linker, provider)?; // native functions, or none
//!
//! let state = State {
//!     wasi: WasiCtx::builder().build(),
//!     table: ResourceTable::new(),
//!     memtls: MemtlsCtx::native(policy).map_err(wasmtime::Error::msg)?,
//! };
//! let mut store = Store::new(&engine, state);
//! let instance = linker.instantiate(&mut store, &component)?;
//! # let _ = instance;
//! # Ok(())
//! # }
//! ```
//!
//! Asynchronous embedders (tokio, as plugin runtimes run wasmtime) link WASI
//! with `wasmtime_wasi::p2::add_to_linker_async` and the same
//! [`add_provider_to_linker`], then `instantiate_async` and
//! `call_run(...).await`; the pooling allocator works as with any component.
//! The provider's functions are synchronous host functions in either kind of
//! store: each does bounded CPU work (a handshake step, a record) and no I/O,
//! so there is nothing to await. `examples/async-embedder` serves one
//! `tls-echo-server` instance per tenant that way, on every provider.
//!
//! A store serving an untrusted component needs limits of its own too: cap
//! its linear memory and tables with a wasmtime `ResourceLimiter`, its CPU
//! with fuel or epochs, and never preopen a directory that holds or contains
//! compiled code the host maps (wasmtime's compilation cache, memtls's cache,
//! or a parent such as the user's home): a guest that can write there chooses
//! the native code the host runs next. See SECURITY.md, "For plugin hosts".
//!
//! With the `runtime` feature, [`runtime`] does all of that for `wasi:cli`
//! command components — compiling with wasmtime's compilation cache, capping
//! each store's linear memory (`Loaded::set_max_memory`), refusing directory
//! grants that reach a cache of compiled code (`runtime::check_grant`),
//! capturing output — as the `memtls` command does:
//!
//! ```no_run
//! # #[cfg(feature = "runtime")]
//! # fn main() -> wasmtime::Result<()> {
//! use memtls_host::runtime::{RunOptions, load, run};
//! use memtls_host::{Policy, Provider};
//!
//! let app_wasm = std::fs::read("app.wasm")?;
//! # memtls_host::GuestComponent::new(std::fs::read("memtls_guest.wasm")?).install_default().ok();
//! let loaded = load(&app_wasm, Provider::Guest, &Policy::default(), "app")?;
//! let code = run(&loaded, &RunOptions { args: vec!["app".into()], ..RunOptions::default() })?;
//! # let _ = code;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "runtime"))]
//! # fn main() {}
//! ```

#![warn(missing_docs)]

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The engine the providers share (its `Engine`, `Policy` and error types).
pub use memtls_engine as engine;
use wasmtime::component::Linker;

#[cfg(feature = "runtime")]
mod cache;
#[cfg(feature = "guest-provider")]
mod compose;
mod identity;
mod pkcs11;
#[cfg(feature = "runtime")]
pub mod runtime;
mod serve;
#[cfg(feature = "runtime")]
mod settings;

#[cfg(feature = "guest-provider")]
pub use compose::{
    GuestComponent, WASI_TLS, WasiTlsAdapter, component_imports, compose, compose_with_guest,
    imports_wasi_tls, policy_component,
};
pub use identity::{HostSigner, add_signer_to_linker, load_identity};

/// Reads an operator's input file, `what` naming it in errors: a regular file
/// of at most `max` bytes, opened without blocking (a FIFO, a device such as
/// /dev/zero or a directory is refused with a sentence, not read forever).
pub fn read_input(path: &std::path::Path, what: &str, max: u64) -> wasmtime::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
    // Non-blocking, so that opening a FIFO with no writer returns at once.
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| wasmtime::format_err!("{what}: cannot open it: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| wasmtime::format_err!("{what}: {e}"))?;
    let kind = meta.file_type();
    let not = if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("a device")
    } else if !kind.is_file() {
        Some("not a regular file")
    } else {
        None
    };
    if let Some(not) = not {
        wasmtime::bail!("{what}: it is {not}; give a regular file");
    }
    if meta.len() > max {
        wasmtime::bail!(
            "{what}: it is {} bytes; at most {max} are accepted",
            meta.len()
        );
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // `take`: a file that grows while it is read still stops at the cap.
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| wasmtime::format_err!("{what}: cannot read it: {e}"))?;
    if bytes.len() as u64 > max {
        wasmtime::bail!("{what}: it grew past {max} bytes while it was read");
    }
    Ok(bytes)
}
pub use serve::{
    Acceptor, ClientContext, Connection, MemtlsCtx, MemtlsCtxView, MemtlsView, ServerContext,
    Session, add_to_linker,
};

/// Bindings generated from the `memtls:tls` WIT package (the `application`
/// world, whose imports the native provider implements).
#[allow(missing_docs)] // the WIT items are documented; some generated helpers are not
pub mod bindings {
    wasmtime::component::bindgen!({
        world: "application",
        path: "wit",
        imports: { default: trappable },
        with: {
            "memtls:tls/tls.client-context": crate::serve::ClientContext,
            "memtls:tls/tls.server-context": crate::serve::ServerContext,
            "memtls:tls/tls.connection": crate::serve::Connection,
            "memtls:tls/tls.session": crate::serve::Session,
            "memtls:tls/tls.acceptor": crate::serve::Acceptor,
        },
    });
}

/// The embedder's policy (the engine's [`engine::Policy`]): the native provider
/// enforces it in the host; for the guest provider it is baked into the
/// composition ([`prepare_component`], [`compose_with_guest`]), out of the
/// application's reach.
pub use engine::{BaseRoots, Policy};

/// The platform's trust store. Where the operating system has a verifier of its
/// own (macOS, Windows, Android), rustls-platform-verifier asks it; elsewhere
/// (Linux and the BSDs) the system's CA store is read once per engine
/// (`SSL_CERT_FILE` and `SSL_CERT_DIR` of the host process honoured, as
/// OpenSSL does) and the engine verifies against it, reporting the paths.
struct PlatformTrust;

impl engine::PlatformTrust for PlatformTrust {
    #[cfg(all(unix, not(target_os = "android"), not(target_vendor = "apple")))]
    fn roots(
        &self,
        _provider: &Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<engine::SystemRoots, rustls::Error> {
        // An empty or unreadable store is no error by itself: the policy's extra
        // anchors may be all the trust there is (the engine says so when nothing
        // at all is left).
        Ok(engine::SystemRoots::Certificates(
            rustls_native_certs::load_native_certs().certs,
        ))
    }

    #[cfg(not(all(unix, not(target_os = "android"), not(target_vendor = "apple"))))]
    fn roots(
        &self,
        provider: &Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<engine::SystemRoots, rustls::Error> {
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
        Ok(engine::SystemRoots::Verifier(Arc::new(verifier)))
    }
}

/// The engine the native provider uses under `policy`: ring crypto, the base
/// roots the policy chose (the platform's by default) plus its extra anchors,
/// AES-GCM first (native code has AES instructions). Fails when the policy's
/// extra anchors do not parse. One engine can serve many stores: its `system`
/// verifier is built once and shared.
pub fn native_engine(policy: &Policy) -> Result<Arc<engine::Engine>, engine::Error> {
    engine::parse_certificates(&policy.extra_system_anchors, "extra system anchors")?;
    Ok(Arc::new(engine::Engine::new(engine::EngineOptions {
        version: format!("{} (rustls 0.23)", env!("CARGO_PKG_VERSION")),
        platform_trust: Some(Arc::new(PlatformTrust)),
        base_roots: policy.base_roots,
        extra_system_anchors: policy.extra_system_anchors.clone(),
        ..engine::EngineOptions::ring("memtls-host (rustls, ring, platform trust; native)")
    })))
}

impl MemtlsCtx {
    /// A native-provider context with its own engine under `policy`.
    pub fn native(policy: Policy) -> Result<Self, engine::Error> {
        Ok(MemtlsCtx::new(native_engine(&policy)?, policy))
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
    /// Served by the host on the system's OpenSSL (its trust store and
    /// configuration), under the host policy (feature `openssl`).
    OpenSsl,
}

impl Provider {
    /// Every provider, in the order the command lists them (the openssl one
    /// needs feature `openssl`).
    pub const ALL: [Provider; 3] = [Provider::Native, Provider::Guest, Provider::OpenSsl];

    /// The provider's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Native => "native",
            Provider::Guest => "guest",
            Provider::OpenSsl => "openssl",
        }
    }

    /// Whether the host serves `memtls:tls` itself (native, openssl) rather
    /// than a component composed into the application (guest).
    pub fn is_host_served(self) -> bool {
        self != Provider::Guest
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
            "openssl" => Ok(Provider::OpenSsl),
            other => Err(format!(
                "unknown TLS provider {other:?}: use \"native\", \"guest\" or \"openssl\""
            )),
        }
    }
}

/// The component to instantiate for `provider`: the application itself for
/// [`Provider::Native`] and [`Provider::OpenSsl`] (the host enforces `policy`),
/// the application composed with the guest provider and `policy` baked in for
/// [`Provider::Guest`]. An application that imports wasi:tls 0.3 gets the
/// installed [`WasiTlsAdapter`] plugged in as well (over the guest, or over
/// the host's provider).
pub fn prepare_component<'a>(
    app: &'a [u8],
    provider: Provider,
    policy: &Policy,
) -> wasmtime::Result<Cow<'a, [u8]>> {
    prepared(app, Ingredients::of(app, provider, policy)?.as_ref())
}

/// `app` composed with `parts`, or as it is when there are none.
pub(crate) fn prepared<'a>(
    app: &'a [u8],
    parts: Option<&Ingredients>,
) -> wasmtime::Result<Cow<'a, [u8]>> {
    parts.map_or(Ok(Cow::Borrowed(app)), |parts| {
        parts.compose(app).map(Cow::Owned)
    })
}

/// What [`prepare_component`] composes with an application: the guest
/// provider with the policy baked in, the wasi:tls adapter, or both. One place
/// decides it, for the composition and for the runtime's cache of compiled
/// components alike.
#[cfg(feature = "guest-provider")]
pub(crate) struct Ingredients<'p> {
    /// The guest provider and the policy baked into the composition.
    pub(crate) guest: Option<(&'static GuestComponent, &'p Policy)>,
    /// The wasi:tls adapter, for an application that imports wasi:tls 0.3.
    pub(crate) adapter: Option<&'static WasiTlsAdapter>,
}

/// Without the guest-provider feature nothing is ever composed.
#[cfg(not(feature = "guest-provider"))]
pub(crate) enum Ingredients {}

#[cfg(feature = "guest-provider")]
impl<'p> Ingredients<'p> {
    /// What to compose with `app` for `provider`: `None` when it runs as it is.
    pub(crate) fn of(
        app: &[u8],
        provider: Provider,
        policy: &'p Policy,
    ) -> wasmtime::Result<Option<Self>> {
        let adapter = match imports_wasi_tls(app)? {
            true => Some(WasiTlsAdapter::installed()?),
            false => None,
        };
        let guest = match provider {
            Provider::Native | Provider::OpenSsl => None,
            Provider::Guest => Some((GuestComponent::installed()?, policy)),
        };
        Ok((guest.is_some() || adapter.is_some()).then_some(Self { guest, adapter }))
    }

    /// The composition of `app` with these.
    pub(crate) fn compose(&self, app: &[u8]) -> wasmtime::Result<Vec<u8>> {
        compose(app, self.guest, self.adapter)
    }
}

#[cfg(not(feature = "guest-provider"))]
impl Ingredients {
    /// Without the guest-provider feature: the application as it is, for the
    /// host's providers only.
    pub(crate) fn of(
        _app: &[u8],
        provider: Provider,
        _policy: &Policy,
    ) -> wasmtime::Result<Option<Self>> {
        match provider {
            Provider::Native | Provider::OpenSsl => Ok(None),
            Provider::Guest => Err(wasmtime::format_err!(
                "memtls-host was built without the guest-provider feature"
            )),
        }
    }

    /// Never called: there is no value of this type.
    pub(crate) fn compose(&self, _app: &[u8]) -> wasmtime::Result<Vec<u8>> {
        match *self {}
    }
}

/// Adds what `provider` needs from the host to `linker`: the native provider's
/// functions, or nothing for the guest (the composition carries it).
pub fn add_provider_to_linker<T: MemtlsView + 'static>(
    linker: &mut Linker<T>,
    provider: Provider,
) -> wasmtime::Result<()> {
    match provider {
        Provider::Native | Provider::OpenSsl => add_to_linker(linker),
        Provider::Guest => Ok(()),
    }
}
