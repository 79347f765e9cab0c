//! The host-served providers — native (the engine on rustls) and openssl —
//! behind `memtls:tls`: the host functions, each one call through the
//! provider contract (`memtls_engine::TlsProvider` and its resources).
//!
//! Everything a guest passes is validated by the provider; handles are looked
//! up in the store's [`ResourceTable`]; limits come from the [`Policy`], applied
//! per store by the provider's [`engine::Admission`]. A guest's bad call is an
//! `error` result (or, for a handle it does not own, a trap of that instance
//! only). As a second line of defence every host function runs under
//! [`std::panic::catch_unwind`]: a panic in a provider becomes a trap of that
//! store with a message, and the host process goes on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use memtls_engine as engine;
use memtls_engine::{
    TlsAcceptor, TlsClientContext, TlsConnection, TlsProvider, TlsServerContext, TlsSession,
};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::Policy;
use crate::bindings::memtls::tls::{insecure, tls as wit};

memtls_wit::wit_conversions!(crate::bindings::memtls::tls::tls);

/// Host state of a host-served provider for one store (one instance).
pub struct MemtlsCtx {
    provider: Box<dyn TlsProvider>,
    admission: engine::Admission,
}

impl MemtlsCtx {
    /// A context serving `engine` (the native provider) under `policy`. One
    /// engine may serve many stores (its `system` verifier is shared); the
    /// policy's limits count per context, that is per store.
    pub fn new(engine: Arc<engine::Engine>, policy: Policy) -> Self {
        let admission = engine::Admission::new(policy);
        let provider = engine::RustlsProvider::new(engine, admission.clone());
        Self::serving(Box::new(provider), admission)
    }

    /// A context serving the system's OpenSSL under `policy` (`system` trust
    /// is OpenSSL's default store plus the policy's extra anchors).
    #[cfg(feature = "openssl")]
    pub fn openssl(policy: Policy) -> Self {
        let openssl = memtls_openssl::OpenSsl::new(policy);
        let admission = openssl.admission().clone();
        Self::serving(Box::new(openssl), admission)
    }

    /// A context serving `provider`, any implementation of the contract,
    /// made with `admission` (whose counts [`Self::live_connections`] and the
    /// others report).
    pub fn serving(provider: Box<dyn TlsProvider>, admission: engine::Admission) -> Self {
        Self {
            provider,
            admission,
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
pub struct ClientContext(Box<dyn TlsClientContext>);
/// Host side of the `server-context` resource (shared: an acceptor continues
/// as its connection while both are in the table).
pub struct ServerContext(Arc<dyn TlsServerContext>);
/// Host side of the `connection` resource.
pub struct Connection(Box<dyn TlsConnection>);
/// Host side of the `session` resource.
pub struct Session(Box<dyn TlsSession>);
/// Host side of the `acceptor` resource.
pub struct Acceptor(Box<dyn TlsAcceptor>);

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
                "memtls host provider: internal error in {call} ({why}); \
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

    fn conn(&mut self, c: &Resource<Connection>) -> wasmtime::Result<&mut dyn TlsConnection> {
        Ok(self.table.get_mut(c)?.0.as_mut())
    }

    fn new_connection(
        &mut self,
        c: engine::Result<Box<dyn TlsConnection>>,
    ) -> WitResult<Resource<Connection>> {
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
        match lift(self.ctx.provider.client_context(&config, v)) {
            Ok(ctx) => Ok(Ok(self.table.push(ClientContext(ctx))?)),
            Err(e) => Ok(Err(e)),
        }
    }
}

impl wit::Host for MemtlsCtxView<'_> {
    fn implementation(&mut self) -> wasmtime::Result<wit::ImplementationInfo> {
        self.guard("implementation", |s| {
            let (name, version) = s.ctx.provider.implementation();
            Ok(wit::ImplementationInfo { name, version })
        })
    }

    fn supported_versions(&mut self) -> wasmtime::Result<Vec<wit::ProtocolVersion>> {
        self.guard("supported-versions", |s| {
            let versions = s.ctx.provider.supported_versions();
            Ok(versions.into_iter().map(convert::from_version).collect())
        })
    }

    fn supported_cipher_suites(&mut self) -> wasmtime::Result<Vec<wit::CipherSuite>> {
        self.guard("supported-cipher-suites", |s| {
            let suites = s.ctx.provider.supported_cipher_suites();
            Ok(suites.into_iter().map(convert::from_suite).collect())
        })
    }

    fn supported_key_exchange_groups(&mut self) -> wasmtime::Result<Vec<wit::KeyExchangeGroup>> {
        self.guard("supported-key-exchange-groups", |s| {
            let groups = s.ctx.provider.supported_key_exchange_groups();
            Ok(groups.into_iter().map(convert::from_group).collect())
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
            Ok(lift(s.ctx.provider.verify_server_chain(&call)))
        })
    }

    fn decode_certificate(&mut self, der: Vec<u8>) -> WitResult<wit::CertificateInfo> {
        self.guard("decode-certificate", |s| {
            let info = s
                .ctx
                .admission
                .transient(der.len())
                .and_then(|()| s.ctx.provider.decode_certificate(&der));
            Ok(lift(info).map(convert::from_certificate_info))
        })
    }

    fn host_identity_certificates(&mut self, name: String) -> WitResult<Vec<Vec<u8>>> {
        self.guard("host-identity-certificates", |s| {
            Ok(lift(s.ctx.provider.host_identity_certificates(&name)))
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
                Some(r) => Some(s.table.get(r)?.0.as_ref()),
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
            match lift(s.ctx.provider.server_context(&config)) {
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

impl wit::HostConnection for MemtlsCtxView<'_> {
    fn take(&mut self, c: Resource<Connection>, max: u32) -> wasmtime::Result<Vec<u8>> {
        self.guard("connection.take", |s| Ok(s.conn(&c)?.take(max)))
    }

    fn pending_ciphertext(&mut self, c: Resource<Connection>) -> wasmtime::Result<u32> {
        self.guard("connection.pending-ciphertext", |s| {
            Ok(s.conn(&c)?.pending_ciphertext())
        })
    }

    fn is_handshake_complete(&mut self, c: Resource<Connection>) -> wasmtime::Result<bool> {
        self.guard("connection.is-handshake-complete", |s| {
            Ok(s.conn(&c)?.is_handshake_complete())
        })
    }

    fn pending_plaintext(&mut self, c: Resource<Connection>) -> wasmtime::Result<u32> {
        self.guard("connection.pending-plaintext", |s| {
            Ok(s.conn(&c)?.pending_plaintext())
        })
    }

    fn peer_closed(&mut self, c: Resource<Connection>) -> wasmtime::Result<bool> {
        self.guard("connection.peer-closed", |s| Ok(s.conn(&c)?.peer_closed()))
    }

    fn alpn_protocol(&mut self, c: Resource<Connection>) -> wasmtime::Result<Option<Vec<u8>>> {
        self.guard("connection.alpn-protocol", |s| {
            Ok(s.conn(&c)?.alpn_protocol())
        })
    }

    fn peer_certificates(&mut self, c: Resource<Connection>) -> wasmtime::Result<Vec<Vec<u8>>> {
        self.guard("connection.peer-certificates", |s| {
            Ok(s.conn(&c)?.peer_certificates())
        })
    }

    fn verified_chain(&mut self, c: Resource<Connection>) -> wasmtime::Result<Vec<Vec<u8>>> {
        self.guard("connection.verified-chain", |s| {
            Ok(s.conn(&c)?.verified_chain())
        })
    }

    fn server_name(&mut self, c: Resource<Connection>) -> wasmtime::Result<Option<String>> {
        self.guard("connection.server-name", |s| Ok(s.conn(&c)?.server_name()))
    }

    fn resumed(&mut self, c: Resource<Connection>) -> wasmtime::Result<bool> {
        self.guard("connection.resumed", |s| Ok(s.conn(&c)?.resumed()))
    }

    fn protocol_version(
        &mut self,
        c: Resource<Connection>,
    ) -> wasmtime::Result<Option<wit::ProtocolVersion>> {
        self.guard("connection.protocol-version", |s| {
            Ok(s.conn(&c)?.protocol_version().map(convert::from_version))
        })
    }

    fn cipher_suite(
        &mut self,
        c: Resource<Connection>,
    ) -> wasmtime::Result<Option<wit::CipherSuite>> {
        self.guard("connection.cipher-suite", |s| {
            Ok(s.conn(&c)?.cipher_suite().map(convert::from_suite))
        })
    }

    fn key_exchange_group(
        &mut self,
        c: Resource<Connection>,
    ) -> wasmtime::Result<Option<wit::KeyExchangeGroup>> {
        self.guard("connection.key-exchange-group", |s| {
            Ok(s.conn(&c)?.key_exchange_group().map(convert::from_group))
        })
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
                Ok(Some(session)) => Ok(Ok(Some(s.table.push(Session(session))?))),
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
    fn acceptor(&mut self, a: &Resource<Acceptor>) -> wasmtime::Result<&mut dyn TlsAcceptor> {
        Ok(self.table.get_mut(a)?.0.as_mut())
    }
}

impl wit::HostAcceptor for MemtlsCtxView<'_> {
    fn create(&mut self) -> WitResult<Resource<Acceptor>> {
        self.guard("acceptor.create", |s| {
            match lift(s.ctx.provider.acceptor()) {
                Ok(a) => Ok(Ok(s.table.push(Acceptor(a))?)),
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
                .as_ref()
                .map(convert::from_client_hello))
        })
    }

    fn accept(
        &mut self,
        a: Resource<Acceptor>,
        context: Resource<ServerContext>,
    ) -> WitResult<Resource<Connection>> {
        self.guard("acceptor.accept", |s| {
            // Both live in the table: a second handle on the context (shared
            // configuration) lets the acceptor be borrowed mutably.
            let context = Arc::clone(&s.table.get(&context)?.0);
            let c = context.accept_from(s.acceptor(&a)?);
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
            Ok(convert::from_session_info(session.0.info()))
        })
    }

    fn is_usable(&mut self, session: Resource<Session>) -> wasmtime::Result<bool> {
        self.guard("session.is-usable", |s| {
            let session = s.table.get(&session)?;
            Ok(session.0.is_usable())
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
