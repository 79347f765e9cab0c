//! The native provider: `memtls:tls` served by the host through the engine.
//!
//! Everything a guest passes is validated by the engine; handles are looked up in
//! the store's [`ResourceTable`]; limits come from the [`Policy`]. A guest's bad
//! call is an `error` result (or, for a handle it does not own, a trap of that
//! instance only); nothing here panics.

use std::sync::Arc;

use memtls_engine as engine;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::Policy;
use crate::bindings::memtls::tls::{insecure, tls as wit};

memtls_engine::wit_conversions!(crate::bindings::memtls::tls::tls);

/// Host state of the native provider for one store (one instance).
pub struct MemtlsCtx {
    engine: Arc<engine::Engine>,
    policy: Policy,
    live_connections: usize,
}

impl MemtlsCtx {
    /// A context serving `engine` under `policy`.
    pub fn new(engine: Arc<engine::Engine>, policy: Policy) -> Self {
        Self {
            engine,
            policy,
            live_connections: 0,
        }
    }

    /// Connections this instance holds now.
    pub fn live_connections(&self) -> usize {
        self.live_connections
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
pub struct ClientContext(engine::ClientContext);
/// Host side of the `server-context` resource.
pub struct ServerContext(engine::ServerContext);
/// Host side of the `connection` resource.
pub struct Connection(engine::Connection);

type WitResult<T> = wasmtime::Result<Result<T, wit::Error>>;

fn lift<T>(r: engine::Result<T>) -> Result<T, wit::Error> {
    r.map_err(convert::from_engine_error)
}

impl MemtlsCtxView<'_> {
    fn conn(&mut self, c: &Resource<Connection>) -> wasmtime::Result<&mut engine::Connection> {
        Ok(&mut self.table.get_mut(c)?.0)
    }

    fn new_connection(
        &mut self,
        c: engine::Result<engine::Connection>,
    ) -> WitResult<Resource<Connection>> {
        if self.ctx.live_connections >= self.ctx.policy.max_connections {
            return Ok(Err(convert::from_engine_error(engine::Error::limit(
                format!(
                    "the host allows at most {} live connections per instance",
                    self.ctx.policy.max_connections
                ),
            ))));
        }
        let c = match lift(c) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let r = self.table.push(Connection(c))?;
        self.ctx.live_connections += 1;
        Ok(Ok(r))
    }

    fn client_context(
        &mut self,
        config: wit::ClientConfig,
        v: engine::Verification,
    ) -> WitResult<Resource<ClientContext>> {
        let config = convert::to_client_config(config);
        match lift(self.ctx.engine.client_context(&config, v)) {
            Ok(ctx) => Ok(Ok(self.table.push(ClientContext(ctx))?)),
            Err(e) => Ok(Err(e)),
        }
    }

    fn insecure_allowed(&self) -> Result<(), wit::Error> {
        if self.ctx.policy.allow_insecure {
            Ok(())
        } else {
            Err(convert::from_engine_error(engine::Error::not_permitted(
                "this host does not offer the insecure interface (its policy disallows it)",
            )))
        }
    }
}

impl wit::Host for MemtlsCtxView<'_> {
    fn implementation(&mut self) -> wasmtime::Result<wit::ImplementationInfo> {
        let (name, version) = self.ctx.engine.implementation();
        Ok(wit::ImplementationInfo { name, version })
    }

    fn supported_versions(&mut self) -> wasmtime::Result<Vec<wit::ProtocolVersion>> {
        Ok(self
            .ctx
            .engine
            .supported_versions()
            .into_iter()
            .map(convert::from_version)
            .collect())
    }

    fn supported_cipher_suites(&mut self) -> wasmtime::Result<Vec<wit::CipherSuite>> {
        Ok(self
            .ctx
            .engine
            .supported_cipher_suites()
            .into_iter()
            .map(convert::from_suite)
            .collect())
    }

    fn verify_server_chain(
        &mut self,
        trust: wit::TrustStore,
        chain: Vec<Vec<u8>>,
        server_name: String,
        at_time: Option<u64>,
    ) -> WitResult<()> {
        let trust = convert::to_trust(trust);
        Ok(lift(self.ctx.engine.verify_server_chain(
            &trust,
            &chain,
            &server_name,
            at_time,
        )))
    }
}

impl wit::HostClientContext for MemtlsCtxView<'_> {
    fn create(&mut self, config: wit::ClientConfig) -> WitResult<Resource<ClientContext>> {
        self.client_context(config, engine::Verification::Full)
    }

    fn connect(
        &mut self,
        ctx: Resource<ClientContext>,
        server_name: String,
    ) -> WitResult<Resource<Connection>> {
        let c = self.table.get(&ctx)?.0.connect(&server_name);
        self.new_connection(c)
    }

    fn drop(&mut self, ctx: Resource<ClientContext>) -> wasmtime::Result<()> {
        self.table.delete(ctx)?;
        Ok(())
    }
}

impl wit::HostServerContext for MemtlsCtxView<'_> {
    fn create(&mut self, config: wit::ServerConfig) -> WitResult<Resource<ServerContext>> {
        let config = convert::to_server_config(config);
        match lift(self.ctx.engine.server_context(&config)) {
            Ok(ctx) => Ok(Ok(self.table.push(ServerContext(ctx))?)),
            Err(e) => Ok(Err(e)),
        }
    }

    fn accept(&mut self, ctx: Resource<ServerContext>) -> WitResult<Resource<Connection>> {
        let c = self.table.get(&ctx)?.0.accept();
        self.new_connection(c)
    }

    fn drop(&mut self, ctx: Resource<ServerContext>) -> wasmtime::Result<()> {
        self.table.delete(ctx)?;
        Ok(())
    }
}

impl wit::HostConnection for MemtlsCtxView<'_> {
    fn feed(&mut self, c: Resource<Connection>, data: Vec<u8>) -> WitResult<u32> {
        Ok(lift(self.conn(&c)?.feed(&data)))
    }

    fn eof(&mut self, c: Resource<Connection>) -> WitResult<()> {
        Ok(lift(self.conn(&c)?.eof()))
    }

    fn take(&mut self, c: Resource<Connection>, max: u32) -> wasmtime::Result<Vec<u8>> {
        Ok(self.conn(&c)?.take(max))
    }

    fn pending_ciphertext(&mut self, c: Resource<Connection>) -> wasmtime::Result<u32> {
        Ok(self.conn(&c)?.pending_ciphertext())
    }

    fn handshake(&mut self, c: Resource<Connection>) -> WitResult<wit::Progress> {
        Ok(lift(self.conn(&c)?.handshake()).map(convert::from_progress))
    }

    fn is_handshake_complete(&mut self, c: Resource<Connection>) -> wasmtime::Result<bool> {
        Ok(self.conn(&c)?.is_handshake_complete())
    }

    fn read(&mut self, c: Resource<Connection>, max: u32) -> WitResult<wit::ReadOutcome> {
        Ok(lift(self.conn(&c)?.read(max)).map(convert::from_read))
    }

    fn write(&mut self, c: Resource<Connection>, data: Vec<u8>) -> WitResult<wit::WriteOutcome> {
        Ok(lift(self.conn(&c)?.write(&data)).map(convert::from_write))
    }

    fn pending_plaintext(&mut self, c: Resource<Connection>) -> wasmtime::Result<u32> {
        Ok(self.conn(&c)?.pending_plaintext())
    }

    fn shutdown(&mut self, c: Resource<Connection>) -> WitResult<wit::Progress> {
        Ok(lift(self.conn(&c)?.shutdown()).map(convert::from_progress))
    }

    fn peer_closed(&mut self, c: Resource<Connection>) -> wasmtime::Result<bool> {
        Ok(self.conn(&c)?.peer_closed())
    }

    fn protocol_version(
        &mut self,
        c: Resource<Connection>,
    ) -> wasmtime::Result<Option<wit::ProtocolVersion>> {
        Ok(self.conn(&c)?.protocol_version().map(convert::from_version))
    }

    fn cipher_suite(
        &mut self,
        c: Resource<Connection>,
    ) -> wasmtime::Result<Option<wit::CipherSuite>> {
        Ok(self.conn(&c)?.cipher_suite().map(convert::from_suite))
    }

    fn alpn_protocol(&mut self, c: Resource<Connection>) -> wasmtime::Result<Option<Vec<u8>>> {
        Ok(self.conn(&c)?.alpn_protocol())
    }

    fn peer_certificates(&mut self, c: Resource<Connection>) -> wasmtime::Result<Vec<Vec<u8>>> {
        Ok(self.conn(&c)?.peer_certificates())
    }

    fn server_name(&mut self, c: Resource<Connection>) -> wasmtime::Result<Option<String>> {
        Ok(self.conn(&c)?.server_name())
    }

    fn resumed(&mut self, c: Resource<Connection>) -> wasmtime::Result<bool> {
        Ok(self.conn(&c)?.resumed())
    }

    fn export_keying_material(
        &mut self,
        c: Resource<Connection>,
        label: Vec<u8>,
        context: Option<Vec<u8>>,
        length: u32,
    ) -> WitResult<Vec<u8>> {
        Ok(lift(self.conn(&c)?.export_keying_material(
            &label,
            context.as_deref(),
            length,
        )))
    }

    fn request_key_update(&mut self, c: Resource<Connection>) -> WitResult<()> {
        Ok(lift(self.conn(&c)?.request_key_update()))
    }

    fn drop(&mut self, c: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        self.ctx.live_connections = self.ctx.live_connections.saturating_sub(1);
        Ok(())
    }
}

impl insecure::Host for MemtlsCtxView<'_> {
    fn client_context_without_hostname_check(
        &mut self,
        config: wit::ClientConfig,
    ) -> WitResult<Resource<ClientContext>> {
        if let Err(e) = self.insecure_allowed() {
            return Ok(Err(e));
        }
        self.client_context(config, engine::Verification::WithoutHostname)
    }

    fn client_context_without_verification(
        &mut self,
        config: wit::ClientConfig,
    ) -> WitResult<Resource<ClientContext>> {
        if let Err(e) = self.insecure_allowed() {
            return Ok(Err(e));
        }
        self.client_context(config, engine::Verification::None)
    }
}
