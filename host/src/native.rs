//! The native provider: `memtls:tls` served by the host through the engine.
//!
//! Everything a guest passes is validated by the engine; handles are looked up in
//! the store's [`ResourceTable`]; limits come from the [`Policy`], applied per
//! store by an [`engine::Admission`]. A guest's bad call is an `error` result (or,
//! for a handle it does not own, a trap of that instance only). As a second line
//! of defence every host function runs under [`std::panic::catch_unwind`]: a
//! panic in the engine or rustls becomes a trap of that store with a message,
//! and the host process goes on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use memtls_engine as engine;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::Policy;
use crate::bindings::memtls::tls::{insecure, tls as wit};

memtls_engine::wit_conversions!(crate::bindings::memtls::tls::tls);

/// Host state of the native provider for one store (one instance).
pub struct MemtlsCtx {
    library: Library,
    admission: engine::Admission,
}

/// The TLS library serving a store.
enum Library {
    /// The engine (rustls).
    Rustls(Arc<engine::Engine>),
    /// The system's OpenSSL.
    #[cfg(feature = "openssl")]
    OpenSsl(memtls_openssl::OpenSsl),
}

/// `$body` with `$x` bound to the value inside `$value`, an enum with the
/// variants of [`Library`] (a resource of either library).
macro_rules! either {
    ($enum:ident, $value:expr, $x:ident => $body:expr) => {
        match $value {
            $enum::Rustls($x) => $body,
            #[cfg(feature = "openssl")]
            $enum::OpenSsl($x) => $body,
        }
    };
}

impl MemtlsCtx {
    /// A context serving `engine` under `policy`. One engine may serve many
    /// stores (its `system` verifier is shared); the policy's limits count per
    /// context, that is per store.
    pub fn new(engine: Arc<engine::Engine>, policy: Policy) -> Self {
        Self {
            library: Library::Rustls(engine),
            admission: engine::Admission::new(policy),
        }
    }

    /// A context serving the system's OpenSSL under `policy` (`system` trust
    /// is OpenSSL's default store plus the policy's extra anchors).
    #[cfg(feature = "openssl")]
    pub fn openssl(policy: Policy) -> Self {
        let openssl = memtls_openssl::OpenSsl::new(policy);
        Self {
            admission: openssl.admission().clone(),
            library: Library::OpenSsl(openssl),
        }
    }

    /// Connections this instance holds now.
    pub fn live_connections(&self) -> usize {
        self.admission.live_connections()
    }

    /// Contexts this instance holds now.
    pub fn live_contexts(&self) -> usize {
        self.admission.live_contexts()
    }

    /// Configuration bytes this instance's live contexts hold now.
    pub fn config_bytes(&self) -> usize {
        self.admission.config_bytes()
    }
}

/// A borrow of the provider's state and the store's resource table, as
/// [`MemtlsView::memtls`] returns it (like wasmtime-wasi's `WasiCtxView`).
pub struct MemtlsCtxView<'a> {
    /// The provider's state.
    pub ctx: &'a mut MemtlsCtx,
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
}

/// Implemented by a store's data to give the native provider its state.
pub trait MemtlsView: Send {
    /// The provider's state and the resource table.
    fn memtls(&mut self) -> MemtlsCtxView<'_>;
}

struct HasMemtls;

impl HasData for HasMemtls {
    type Data<'a> = MemtlsCtxView<'a>;
}

/// Adds the native provider of `memtls:tls/tls` and `memtls:tls/insecure` to
/// `linker`.
pub fn add_to_linker<T: MemtlsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasMemtls>(linker, T::memtls)?;
    insecure::add_to_linker::<T, HasMemtls>(linker, T::memtls)?;
    Ok(())
}

/// Host side of the `client-context` resource.
pub struct ClientContext(Client);
/// Host side of the `server-context` resource.
pub struct ServerContext(Server);
/// Host side of the `connection` resource.
pub struct Connection(Conn);

enum Client {
    Rustls(engine::ClientContext),
    #[cfg(feature = "openssl")]
    OpenSsl(memtls_openssl::ClientContext),
}

#[derive(Clone)]
enum Server {
    Rustls(engine::ServerContext),
    #[cfg(feature = "openssl")]
    OpenSsl(memtls_openssl::ServerContext),
}

enum Conn {
    // Boxed: a rustls connection is ten times the size of an OpenSSL handle.
    Rustls(Box<engine::Connection>),
    #[cfg(feature = "openssl")]
    OpenSsl(memtls_openssl::Connection),
}

impl Client {
    fn connect(&self, server_name: &str) -> engine::Result<Conn> {
        either!(Client, self, c => c.connect(server_name).map(Into::into))
    }

    /// `resume` is offered when it is the same library's (a session of the
    /// other one cannot be for this context, so nothing is offered).
    fn connect_with(&self, name: &str, resume: Option<&Session>) -> engine::Result<Conn> {
        match (self, resume) {
            (Client::Rustls(c), Some(Session::Rustls(r))) => {
                c.connect_with(name, Some(r)).map(Into::into)
            }
            (Client::Rustls(c), _) => c.connect_with(name, None).map(Into::into),
            #[cfg(feature = "openssl")]
            (Client::OpenSsl(c), Some(Session::OpenSsl(r))) => {
                c.connect_with(name, Some(r)).map(Into::into)
            }
            #[cfg(feature = "openssl")]
            (Client::OpenSsl(c), _) => c.connect_with(name, None).map(Into::into),
        }
    }
}

impl Server {
    fn accept(&self) -> engine::Result<Conn> {
        either!(Server, self, s => s.accept().map(Into::into))
    }
}

impl From<engine::Connection> for Conn {
    fn from(c: engine::Connection) -> Self {
        Conn::Rustls(Box::new(c))
    }
}

#[cfg(feature = "openssl")]
impl From<memtls_openssl::Connection> for Conn {
    fn from(c: memtls_openssl::Connection) -> Self {
        Conn::OpenSsl(c)
    }
}

/// The connection methods, answered by whichever library holds it.
macro_rules! conn_methods {
    (mut: $($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(fn $name(&mut self, $($arg: $ty),*) -> $ret {
            either!(Conn, self, c => c.$name($($arg),*))
        })*
    };
    (ref: $($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(fn $name(&self, $($arg: $ty),*) -> $ret {
            either!(Conn, self, c => c.$name($($arg),*))
        })*
    };
}

impl Conn {
    conn_methods! { mut:
        feed(data: &[u8]) -> engine::Result<u32>;
        eof() -> engine::Result<()>;
        take(max: u32) -> Vec<u8>;
        handshake() -> engine::Result<engine::Progress>;
        read(max: u32) -> engine::Result<engine::ReadOutcome>;
        write(data: &[u8]) -> engine::Result<engine::WriteOutcome>;
        shutdown() -> engine::Result<engine::Progress>;
        request_key_update() -> engine::Result<()>;
    }
    conn_methods! { ref:
        pending_ciphertext() -> u32;
        is_handshake_complete() -> bool;
        pending_plaintext() -> u32;
        peer_closed() -> bool;
        protocol_version() -> Option<engine::ProtocolVersion>;
        cipher_suite() -> Option<engine::CipherSuite>;
        alpn_protocol() -> Option<Vec<u8>>;
        peer_certificates() -> Vec<Vec<u8>>;
        verified_chain() -> Vec<Vec<u8>>;
        server_name() -> Option<String>;
        resumed() -> bool;
        export_keying_material(label: &[u8], context: Option<&[u8]>, length: u32) -> engine::Result<Vec<u8>>;
    }

    fn session(&self) -> engine::Result<Option<Session>> {
        either!(Conn, self, c => Ok(c.session()?.map(Into::into)))
    }
}

/// Host side of the `session` resource.
pub enum Session {
    /// A rustls session.
    Rustls(engine::Session),
    /// An OpenSSL session.
    #[cfg(feature = "openssl")]
    OpenSsl(memtls_openssl::Session),
}

impl From<engine::Session> for Session {
    fn from(s: engine::Session) -> Self {
        Session::Rustls(s)
    }
}

#[cfg(feature = "openssl")]
impl From<memtls_openssl::Session> for Session {
    fn from(s: memtls_openssl::Session) -> Self {
        Session::OpenSsl(s)
    }
}
/// Host side of the `acceptor` resource: the engine's ClientHello reader for
/// every library (started for hand-over on OpenSSL, whose server context then
/// takes the ciphertext it read).
pub type Acceptor = engine::Acceptor;

type WitResult<T> = wasmtime::Result<Result<T, wit::Error>>;

fn lift<T>(r: engine::Result<T>) -> Result<T, wit::Error> {
    r.map_err(convert::from_engine_error)
}

impl MemtlsCtxView<'_> {
    /// Runs one host function; a panic inside becomes a trap of this store.
    fn guard<T>(
        &mut self,
        call: &str,
        f: impl FnOnce(&mut Self) -> wasmtime::Result<T>,
    ) -> wasmtime::Result<T> {
        catch_unwind(AssertUnwindSafe(|| f(self))).unwrap_or_else(|payload| {
            let why = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(wasmtime::format_err!(
                "memtls native provider: internal error in {call} ({why}); \
                 this instance is stopped, the host goes on"
            ))
        })
    }

    /// Drops a resource (under [`Self::guard`]: its engine object's `Drop` runs).
    fn delete<T: Send + 'static>(&mut self, call: &str, r: Resource<T>) -> wasmtime::Result<()> {
        self.guard(call, |s| {
            s.table.delete(r)?;
            Ok(())
        })
    }

    fn conn(&mut self, c: &Resource<Connection>) -> wasmtime::Result<&mut Conn> {
        Ok(&mut self.table.get_mut(c)?.0)
    }

    fn new_connection(&mut self, c: engine::Result<Conn>) -> WitResult<Resource<Connection>> {
        match lift(c) {
            Ok(c) => Ok(Ok(self.table.push(Connection(c))?)),
            Err(e) => Ok(Err(e)),
        }
    }

    fn client_context(
        &mut self,
        config: wit::ClientConfig,
        v: engine::Verification,
    ) -> WitResult<Resource<ClientContext>> {
        let config = convert::to_client_config(config);
        let admission = &self.ctx.admission;
        let ctx = match &self.ctx.library {
            Library::Rustls(e) => e.client_context(&config, v, admission).map(Client::Rustls),
            #[cfg(feature = "openssl")]
            Library::OpenSsl(o) => o.client_context(&config, v).map(Client::OpenSsl),
        };
        match lift(ctx) {
            Ok(ctx) => Ok(Ok(self.table.push(ClientContext(ctx))?)),
            Err(e) => Ok(Err(e)),
        }
    }
}

impl wit::Host for MemtlsCtxView<'_> {
    fn implementation(&mut self) -> wasmtime::Result<wit::ImplementationInfo> {
        self.guard("implementation", |s| {
            let (name, version) = either!(Library, &s.ctx.library, l => l.implementation());
            Ok(wit::ImplementationInfo { name, version })
        })
    }

    fn supported_versions(&mut self) -> wasmtime::Result<Vec<wit::ProtocolVersion>> {
        self.guard("supported-versions", |s| {
            let versions = either!(Library, &s.ctx.library, l => l.supported_versions());
            Ok(versions.into_iter().map(convert::from_version).collect())
        })
    }

    fn supported_cipher_suites(&mut self) -> wasmtime::Result<Vec<wit::CipherSuite>> {
        self.guard("supported-cipher-suites", |s| {
            let suites = either!(Library, &s.ctx.library, l => l.supported_cipher_suites());
            Ok(suites.into_iter().map(convert::from_suite).collect())
        })
    }

    fn verify_server_chain(
        &mut self,
        trust: wit::TrustStore,
        chain: Vec<Vec<u8>>,
        server_name: String,
        at_time: Option<u64>,
    ) -> WitResult<()> {
        self.guard("verify-server-chain", |s| {
            let trust = convert::to_trust(trust);
            let call = engine::ChainCheck {
                trust: &trust,
                chain: &chain,
                server_name: &server_name,
                at_time,
            };
            let verdict = match &s.ctx.library {
                Library::Rustls(e) => e.verify_server_chain(&call, &s.ctx.admission),
                #[cfg(feature = "openssl")]
                Library::OpenSsl(o) => o.verify_server_chain(&call),
            };
            Ok(lift(verdict))
        })
    }
}

impl wit::HostClientContext for MemtlsCtxView<'_> {
    fn create(&mut self, config: wit::ClientConfig) -> WitResult<Resource<ClientContext>> {
        self.guard("client-context.create", |s| {
            s.client_context(config, engine::Verification::Full)
        })
    }

    fn connect(
        &mut self,
        ctx: Resource<ClientContext>,
        server_name: String,
    ) -> WitResult<Resource<Connection>> {
        self.guard("client-context.connect", |s| {
            let c = s.table.get(&ctx)?.0.connect(&server_name);
            s.new_connection(c)
        })
    }

    fn connect_with(
        &mut self,
        ctx: Resource<ClientContext>,
        server_name: String,
        resume: Option<Resource<Session>>,
    ) -> WitResult<Resource<Connection>> {
        self.guard("client-context.connect-with", |s| {
            let resume = match &resume {
                Some(r) => Some(s.table.get(r)?),
                None => None,
            };
            let c = s.table.get(&ctx)?.0.connect_with(&server_name, resume);
            s.new_connection(c)
        })
    }

    fn drop(&mut self, ctx: Resource<ClientContext>) -> wasmtime::Result<()> {
        self.delete("client-context.drop", ctx)
    }
}

impl wit::HostServerContext for MemtlsCtxView<'_> {
    fn create(&mut self, config: wit::ServerConfig) -> WitResult<Resource<ServerContext>> {
        self.guard("server-context.create", |s| {
            let config = convert::to_server_config(config);
            let admission = &s.ctx.admission;
            let ctx = match &s.ctx.library {
                Library::Rustls(e) => e.server_context(&config, admission).map(Server::Rustls),
                #[cfg(feature = "openssl")]
                Library::OpenSsl(o) => o.server_context(&config).map(Server::OpenSsl),
            };
            match lift(ctx) {
                Ok(ctx) => Ok(Ok(s.table.push(ServerContext(ctx))?)),
                Err(e) => Ok(Err(e)),
            }
        })
    }

    fn accept(&mut self, ctx: Resource<ServerContext>) -> WitResult<Resource<Connection>> {
        self.guard("server-context.accept", |s| {
            let c = s.table.get(&ctx)?.0.accept();
            s.new_connection(c)
        })
    }

    fn drop(&mut self, ctx: Resource<ServerContext>) -> wasmtime::Result<()> {
        self.delete("server-context.drop", ctx)
    }
}

/// `connection` methods that return what the engine's method of the same name
/// returns (an option mapped through `$convert`), called under `guard` (which
/// names the WIT function).
macro_rules! connection_getters {
    ($($name:ident $wit:literal ($($arg:ident: $ty:ty),*) -> $ret:ty $(=> $convert:path)?;)*) => {
        $(fn $name(&mut self, c: Resource<Connection>, $($arg: $ty),*) -> wasmtime::Result<$ret> {
            self.guard(concat!("connection.", $wit), |s| {
                Ok(s.conn(&c)?.$name($($arg),*)$(.map($convert))?)
            })
        })*
    };
}

impl wit::HostConnection for MemtlsCtxView<'_> {
    connection_getters! {
        take "take" (max: u32) -> Vec<u8>;
        pending_ciphertext "pending-ciphertext" () -> u32;
        is_handshake_complete "is-handshake-complete" () -> bool;
        pending_plaintext "pending-plaintext" () -> u32;
        peer_closed "peer-closed" () -> bool;
        alpn_protocol "alpn-protocol" () -> Option<Vec<u8>>;
        peer_certificates "peer-certificates" () -> Vec<Vec<u8>>;
        verified_chain "verified-chain" () -> Vec<Vec<u8>>;
        server_name "server-name" () -> Option<String>;
        resumed "resumed" () -> bool;
        protocol_version "protocol-version" () -> Option<wit::ProtocolVersion> => convert::from_version;
        cipher_suite "cipher-suite" () -> Option<wit::CipherSuite> => convert::from_suite;
    }

    fn feed(&mut self, c: Resource<Connection>, data: Vec<u8>) -> WitResult<u32> {
        self.guard("connection.feed", |s| Ok(lift(s.conn(&c)?.feed(&data))))
    }

    fn eof(&mut self, c: Resource<Connection>) -> WitResult<()> {
        self.guard("connection.eof", |s| Ok(lift(s.conn(&c)?.eof())))
    }

    fn handshake(&mut self, c: Resource<Connection>) -> WitResult<wit::Progress> {
        self.guard("connection.handshake", |s| {
            Ok(lift(s.conn(&c)?.handshake()).map(convert::from_progress))
        })
    }

    fn read(&mut self, c: Resource<Connection>, max: u32) -> WitResult<wit::ReadOutcome> {
        self.guard("connection.read", |s| {
            Ok(lift(s.conn(&c)?.read(max)).map(convert::from_read))
        })
    }

    fn write(&mut self, c: Resource<Connection>, data: Vec<u8>) -> WitResult<wit::WriteOutcome> {
        self.guard("connection.write", |s| {
            Ok(lift(s.conn(&c)?.write(&data)).map(convert::from_write))
        })
    }

    fn shutdown(&mut self, c: Resource<Connection>) -> WitResult<wit::Progress> {
        self.guard("connection.shutdown", |s| {
            Ok(lift(s.conn(&c)?.shutdown()).map(convert::from_progress))
        })
    }

    fn session(&mut self, c: Resource<Connection>) -> WitResult<Option<Resource<Session>>> {
        self.guard("connection.session", |s| {
            match lift(s.conn(&c)?.session()) {
                Ok(Some(session)) => Ok(Ok(Some(s.table.push(session)?))),
                Ok(None) => Ok(Ok(None)),
                Err(e) => Ok(Err(e)),
            }
        })
    }

    fn export_keying_material(
        &mut self,
        c: Resource<Connection>,
        label: Vec<u8>,
        context: Option<Vec<u8>>,
        length: u32,
    ) -> WitResult<Vec<u8>> {
        self.guard("connection.export-keying-material", |s| {
            Ok(lift(s.conn(&c)?.export_keying_material(
                &label,
                context.as_deref(),
                length,
            )))
        })
    }

    fn request_key_update(&mut self, c: Resource<Connection>) -> WitResult<()> {
        self.guard("connection.request-key-update", |s| {
            Ok(lift(s.conn(&c)?.request_key_update()))
        })
    }

    fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        self.delete("connection.drop", c)
    }
}

impl MemtlsCtxView<'_> {
    fn acceptor(&mut self, a: &Resource<Acceptor>) -> wasmtime::Result<&mut Acceptor> {
        Ok(self.table.get_mut(a)?)
    }
}

impl wit::HostAcceptor for MemtlsCtxView<'_> {
    fn create(&mut self) -> WitResult<Resource<Acceptor>> {
        self.guard("acceptor.create", |s| {
            let admission = &s.ctx.admission;
            let a = match &s.ctx.library {
                Library::Rustls(_) => Acceptor::start(admission),
                #[cfg(feature = "openssl")]
                Library::OpenSsl(_) => Acceptor::start_for_hand_over(admission),
            };
            match lift(a) {
                Ok(a) => Ok(Ok(s.table.push(a)?)),
                Err(e) => Ok(Err(e)),
            }
        })
    }

    fn feed(&mut self, a: Resource<Acceptor>, data: Vec<u8>) -> WitResult<u32> {
        self.guard("acceptor.feed", |s| Ok(lift(s.acceptor(&a)?.feed(&data))))
    }

    fn eof(&mut self, a: Resource<Acceptor>) -> WitResult<()> {
        self.guard("acceptor.eof", |s| Ok(lift(s.acceptor(&a)?.eof())))
    }

    fn client_hello(
        &mut self,
        a: Resource<Acceptor>,
    ) -> wasmtime::Result<Option<wit::ClientHello>> {
        self.guard("acceptor.client-hello", |s| {
            Ok(s.acceptor(&a)?
                .client_hello()
                .map(convert::from_client_hello))
        })
    }

    fn accept(
        &mut self,
        a: Resource<Acceptor>,
        context: Resource<ServerContext>,
    ) -> WitResult<Resource<Connection>> {
        self.guard("acceptor.accept", |s| {
            // Both live in the table: a clone of the context (shared
            // configuration) lets the acceptor be borrowed mutably.
            let context = s.table.get(&context)?.0.clone();
            let a = s.acceptor(&a)?;
            let c = match context {
                Server::Rustls(context) => a.accept(&context).map(Into::into),
                #[cfg(feature = "openssl")]
                Server::OpenSsl(context) => context.accept_handed_over(a).map(Into::into),
            };
            s.new_connection(c)
        })
    }

    fn refuse(&mut self, a: Resource<Acceptor>, description: u8) -> WitResult<()> {
        self.guard("acceptor.refuse", |s| {
            Ok(lift(s.acceptor(&a)?.refuse(description)))
        })
    }

    fn take(&mut self, a: Resource<Acceptor>, max: u32) -> wasmtime::Result<Vec<u8>> {
        self.guard("acceptor.take", |s| Ok(s.acceptor(&a)?.take(max)))
    }

    fn pending_ciphertext(&mut self, a: Resource<Acceptor>) -> wasmtime::Result<u32> {
        self.guard("acceptor.pending-ciphertext", |s| {
            Ok(s.acceptor(&a)?.pending_ciphertext())
        })
    }

    fn drop(&mut self, a: Resource<Acceptor>) -> wasmtime::Result<()> {
        self.delete("acceptor.drop", a)
    }
}

impl wit::HostSession for MemtlsCtxView<'_> {
    fn info(&mut self, session: Resource<Session>) -> wasmtime::Result<wit::SessionInfo> {
        self.guard("session.info", |s| {
            let session = s.table.get(&session)?;
            Ok(convert::from_session_info(
                either!(Session, session, x => x.info()),
            ))
        })
    }

    fn is_usable(&mut self, session: Resource<Session>) -> wasmtime::Result<bool> {
        self.guard("session.is-usable", |s| {
            let session = s.table.get(&session)?;
            Ok(either!(Session, session, x => x.is_usable()))
        })
    }

    fn drop(&mut self, session: Resource<Session>) -> wasmtime::Result<()> {
        self.delete("session.drop", session)
    }
}

impl insecure::Host for MemtlsCtxView<'_> {
    fn client_context_without_hostname_check(
        &mut self,
        config: wit::ClientConfig,
    ) -> WitResult<Resource<ClientContext>> {
        self.guard("insecure.client-context-without-hostname-check", |s| {
            s.client_context(config, engine::Verification::WithoutHostname)
        })
    }

    fn client_context_without_verification(
        &mut self,
        config: wit::ClientConfig,
    ) -> WitResult<Resource<ClientContext>> {
        self.guard("insecure.client-context-without-verification", |s| {
            s.client_context(config, engine::Verification::None)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_host_function_becomes_an_error() {
        let mut ctx = MemtlsCtx::native(Policy::default()).unwrap();
        let mut table = ResourceTable::new();
        let mut view = MemtlsCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let r: wasmtime::Result<()> = view.guard("connection.feed", |_| panic!("boom"));
        let msg = format!("{:#}", r.unwrap_err());
        assert!(
            msg.contains("internal error in connection.feed (boom)"),
            "{msg}"
        );
        // The view still works afterwards.
        assert!(wit::Host::implementation(&mut view).is_ok());
    }
}
