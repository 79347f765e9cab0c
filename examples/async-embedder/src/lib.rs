//! An asynchronous wasmtime embedder serving TLS through memtls, as plugin
//! runtimes and multi-tenant platforms run wasmtime: on tokio, with the
//! pooling allocator, one instance per tenant, each with its own policy and
//! its own store, all in one process.
//!
//! Each tenant runs a server component on its own port: `tls-echo-server`
//! (one connection at a time) or `https-server` (many at once, through
//! `wasi:io/poll`: the load benchmark drives it through this embedder). The
//! store is asynchronous: WASI is linked with
//! [`wasmtime_wasi::p2::add_to_linker_async`], instances are made with
//! `instantiate_async` and run with `call_run(...).await`, so a tenant waiting
//! on its socket yields its tokio worker to the others. memtls's native
//! provider functions stay synchronous host functions on purpose: each does
//! bounded CPU work on memory the call already holds (a handshake step, a
//! record), never I/O (the application moves the ciphertext), so there is
//! nothing to await and an `async` wrapper would only add a future per call.
//! They run on the instance's fiber like any other host call.
//!
//! ```text
//! memtls-async-embedder --cert CHAIN --key KEY [--tenants N] [--port FIRST]
//!                       [--tls native|guest|openssl] [--connections K]
//!                       [--program tls-echo-server|https-server]
//! ```
//!
//! Each tenant's task runs `tokio::task::unconstrained`: an instance
//! multiplexes all its connections through one `wasi:io/poll` call, which
//! tokio's cooperative budget would cut short (see `serve`; the load
//! benchmark found it: with ~100 concurrent connections a constrained tenant
//! stalled).
//!
//! Tenant `i` listens on `127.0.0.1:FIRST+i`. `tls-echo-server` serves `K`
//! connections (or forever); `https-server` serves until the embedder's
//! standard input ends. Each tenant's reports are printed prefixed with its
//! number.

#![warn(missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use memtls_host::{MemtlsCtx, MemtlsCtxView, MemtlsView, Policy, Provider};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

/// The server component each tenant runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `tls-echo-server`: one connection at a time, echoing.
    EchoServer,
    /// `https-server`: HTTP/1.1, many connections at once; stops cleanly when
    /// the embedder's standard input ends.
    HttpsServer,
}

impl std::str::FromStr for Program {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tls-echo-server" => Ok(Program::EchoServer),
            "https-server" => Ok(Program::HttpsServer),
            other => Err(format!(
                "{other:?} is not a program the embedder runs (tls-echo-server, https-server)"
            )),
        }
    }
}

/// What the embedder serves.
#[derive(Debug, Clone)]
pub struct Tenants {
    /// The component every tenant runs.
    pub program: Program,
    /// One port per tenant: tenant `i` listens on `127.0.0.1:ports[i]`.
    pub ports: Vec<u16>,
    /// The provider every tenant's component is served by.
    pub provider: Provider,
    /// The directory holding `chain` and `key`, preopened read-only as `/f`.
    pub dir: PathBuf,
    /// The certificate chain's file name in `dir`.
    pub chain: String,
    /// The private key's file name in `dir`.
    pub key: String,
    /// Connections each `tls-echo-server` tenant serves before it exits
    /// (`None`: forever).
    pub connections: Option<u64>,
    /// More options for the program (after its address, certificate and key).
    pub args: Vec<String>,
}

/// One tenant's store data: WASI and memtls, sharing one resource table.
struct Tenant {
    wasi: WasiCtx,
    table: ResourceTable,
    memtls: MemtlsCtx,
}

impl WasiView for Tenant {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl MemtlsView for Tenant {
    fn memtls(&mut self) -> MemtlsCtxView<'_> {
        MemtlsCtxView {
            ctx: &mut self.memtls,
            table: &mut self.table,
        }
    }
}

/// How one tenant ended: its number, exit, and what it printed.
#[derive(Debug)]
pub struct Finished {
    /// The tenant's number (from 0).
    pub tenant: usize,
    /// Whether `wasi:cli/run` returned success.
    pub ok: bool,
    /// What the component printed on stdout and stderr.
    pub output: String,
}

/// The engine: pooling allocator sized for `tenants` instances of a
/// composition of up to four components (the guest provider's composition
/// has the application, the provider and the policy), 256 MiB of linear
/// memory each at most.
fn engine(tenants: usize) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    let instances = u32::try_from(tenants.max(1))?;
    pool.total_component_instances(instances)
        .total_core_instances(instances * 32)
        .total_memories(instances * 8)
        .total_tables(instances * 16)
        .max_memories_per_component(8)
        .max_tables_per_component(16)
        .max_core_instances_per_component(32)
        .max_memory_size(256 << 20);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// Serves `tenants` concurrently on the current tokio runtime; returns when
/// every tenant has finished (never, without `connections`).
pub async fn serve(tenants: &Tenants) -> wasmtime::Result<Vec<Finished>> {
    memtls_artifacts::install();
    let engine = engine(tenants.ports.len())?;
    // Every tenant gets the default policy here; a platform would load each
    // tenant's own (identities, extra anchors, limits).
    let policy = Policy::default();
    let program = match tenants.program {
        Program::EchoServer => memtls_artifacts::tls_echo_server(),
        Program::HttpsServer => memtls_artifacts::https_server(),
    };
    let bytes = memtls_host::prepare_component(program, tenants.provider, &policy)?;
    let component = Component::new(&engine, &bytes)?;
    let mut linker = Linker::<Tenant>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    memtls_host::add_provider_to_linker(&mut linker, tenants.provider)?;
    // Linked and type-checked once; each tenant only instantiates.
    let pre = Arc::new(CommandPre::new(linker.instantiate_pre(&component)?)?);
    let mut running = tokio::task::JoinSet::new();
    for tenant in 0..tenants.ports.len() {
        let (engine, pre, tenants, policy) =
            (engine.clone(), pre.clone(), tenants.clone(), policy.clone());
        // Unconstrained: an instance is one tokio task multiplexing all its
        // connections through one `wasi:io/poll` call over every pollable;
        // under tokio's cooperative budget (128 resource polls per task
        // poll) the readiness of the pollables past the budget went unseen
        // and the wake-up tokio defers for them was lost on the instance's
        // fiber: with ~100 concurrent connections the tenant stalled, every
        // thread parked. The instance still yields at every poll that finds
        // nothing ready.
        running.spawn(tokio::task::unconstrained(async move {
            run_tenant(&engine, &pre, &tenants, policy, tenant).await
        }));
    }
    let mut finished = Vec::new();
    while let Some(done) = running.join_next().await {
        finished.push(done.map_err(|e| wasmtime::format_err!("a tenant's task failed: {e}"))??);
    }
    finished.sort_by_key(|f| f.tenant);
    Ok(finished)
}

async fn run_tenant(
    engine: &Engine,
    pre: &CommandPre<Tenant>,
    tenants: &Tenants,
    policy: Policy,
    tenant: usize,
) -> wasmtime::Result<Finished> {
    let port = tenants.ports[tenant];
    let mut args = vec![
        match tenants.program {
            Program::EchoServer => "tls-echo-server",
            Program::HttpsServer => "https-server",
        }
        .to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--cert".into(),
        format!("/f/{}", tenants.chain),
        "--key".into(),
        format!("/f/{}", tenants.key),
    ];
    match (tenants.program, tenants.connections) {
        (Program::EchoServer, Some(k)) => {
            args.extend(["--max-connections".into(), k.to_string()]);
        }
        (Program::EchoServer, None) => {}
        (Program::HttpsServer, _) => args.push("--stop-on-stdin-eof".into()),
    }
    args.extend(tenants.args.iter().cloned());
    let output = MemoryOutputPipe::new(1 << 20);
    let mut wasi = WasiCtx::builder();
    // TCP on any address (a platform would check each tenant's): wasmtime's
    // WASI allows no TCP until told.
    wasi.args(&args)
        .inherit_network()
        .allow_tcp(true)
        .stdout(output.clone())
        .stderr(output.clone());
    if tenants.program == Program::HttpsServer {
        wasi.inherit_stdin();
    }
    wasi.preopened_dir(&tenants.dir, "/f", FsPerms::ReadOnly)?;
    let wasi = wasi.build();
    let memtls = match tenants.provider {
        Provider::OpenSsl => MemtlsCtx::openssl(policy),
        // The guest provider is composed in: the native context stays unused.
        Provider::Native | Provider::Guest => {
            MemtlsCtx::native(policy).map_err(|e| wasmtime::format_err!("{e}"))?
        }
    };
    let mut store = Store::new(
        engine,
        Tenant {
            wasi,
            table: ResourceTable::new(),
            memtls,
        },
    );
    let command = pre.instantiate_async(&mut store).await?;
    let ok = command.wasi_cli_run().call_run(&mut store).await?.is_ok();
    Ok(Finished {
        tenant,
        ok,
        output: String::from_utf8_lossy(&output.contents()).into_owned(),
    })
}
