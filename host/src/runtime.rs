//! The embedding runtime: load a `wasi:cli` command component for a provider
//! (composing the guest in with the policy baked in, when needed), compile it
//! with wasmtime's compilation cache, link WASI and `memtls:tls`, instantiate
//! it in a store that meters linear memory, and run it. The `memtls` command is
//! argument parsing and presentation on top of this (feature `runtime`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Instance, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::settings::notify;
pub use crate::settings::{Notice, Notices, Settings};
use crate::{MemtlsCtx, MemtlsCtxView, MemtlsView, Policy, Provider};

/// A wasmtime engine with the compilation cache (wasmtime's own, in the user's
/// cache directory), shared by the process; configured by [`Settings`].
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        if Settings::get().perf_map {
            // For `perf record`: name compiled Wasm functions in /tmp/perf-PID.map.
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        // WASI 0.3 programs (wasi:tls 0.3 among them) use the component
        // model's async support.
        config.wasm_component_model_async(true);
        // wasmtime's cache holds native code too: used only while its
        // directory is the user's own and closed to others (made so if the
        // user's), and no guest may be granted it (`protected_directories`).
        match wasmtime::Cache::from_file(None)
            .map_err(|e| format!("{e:#}"))
            .and_then(|cache| {
                let _ = WASMTIME_CACHE.set(cache.directory().clone());
                crate::cache::private_dir(cache.directory()).map(|()| cache)
            }) {
            Ok(cache) => {
                config.cache(Some(cache));
            }
            Err(e) => notify(Notice::Cache(&format!(
                "compilation cache unavailable: {e}"
            ))),
        }
        // Functions compiled before are reused one by one, so that a
        // composition differing only in its policy compiles only what changed.
        if let Some(functions) = functions() {
            let store: Arc<dyn wasmtime::CacheStore> = functions.clone();
            if let Err(e) = config.enable_incremental_compilation(store) {
                notify(Notice::Cache(&format!(
                    "not using the cache of compiled functions: {e:#}"
                )));
            }
        }
        Engine::new(&config).expect("a default wasmtime configuration is valid")
    })
}

/// The cache of compiled functions the engine uses, if any.
fn functions() -> Option<&'static Arc<crate::cache::Functions>> {
    static FUNCTIONS: OnceLock<Option<Arc<crate::cache::Functions>>> = OnceLock::new();
    FUNCTIONS
        .get_or_init(|| crate::cache::Functions::open().map(Arc::new))
        .as_ref()
}

/// What this process's compilations took from the cache of compiled
/// functions and what they compiled ([`function_reuse`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunctionReuse {
    /// Functions found compiled in the cache.
    pub reused: u64,
    /// Functions compiled (and then kept).
    pub compiled: u64,
    /// Entries found but refused (not the user's alone, or failing their
    /// HMAC: damaged or planted), and so compiled anew.
    pub refused: u64,
}

/// Functions reused and compiled by this process's compilations so far
/// (zeros when the cache of compiled functions is not used): a composition
/// that differs from one compiled before only in its policy reuses nearly
/// all of its functions.
pub fn function_reuse() -> FunctionReuse {
    functions().map_or_else(FunctionReuse::default, |f| {
        let (reused, compiled, refused) = f.counts();
        FunctionReuse {
            reused,
            compiled,
            refused,
        }
    })
}

/// Where wasmtime's compilation cache is (once [`engine`] has made it).
static WASMTIME_CACHE: OnceLock<PathBuf> = OnceLock::new();

/// The directories that hold native code memtls runs (its cache of compiled
/// components, wasmtime's compilation cache): [`run`] refuses a guest any
/// directory grant that reaches into one of them or contains one, and an
/// embedder that preopens directories itself must do the same (a guest that
/// can write there chooses the code the host runs next).
pub fn protected_directories() -> Vec<PathBuf> {
    let wasmtime_default = directories_next::ProjectDirs::from("", "BytecodeAlliance", "wasmtime")
        .map(|d| d.cache_dir().to_path_buf());
    [
        crate::cache::root(),
        WASMTIME_CACHE.get().cloned(),
        wasmtime_default,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `path` made absolute and resolved as far as it exists (the rest kept
/// lexically), so that grants and caches compare whatever links lie between.
fn resolved(path: &std::path::Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// Refuses a directory grant `host` that reaches a [`protected_directories`]
/// entry: one inside it, or one that contains it.
pub fn check_grant(host: &std::path::Path) -> wasmtime::Result<()> {
    let grant = resolved(host);
    for protected in protected_directories() {
        let protected = resolved(&protected);
        if protected.starts_with(&grant) || grant.starts_with(&protected) {
            wasmtime::bail!(
                "--dir {}: refused: the grant would give the component {} ({}), which holds \
                 native code memtls runs outside the sandbox; grant a directory that neither \
                 contains it nor lies in it",
                host.display(),
                protected.display(),
                if protected.starts_with(&grant) {
                    "inside the directory granted"
                } else {
                    "the directory granted is inside it"
                }
            );
        }
    }
    Ok(())
}

/// The default cap on the linear memory of one store (every instance in it,
/// the guest provider's included): 1 GiB, room for CPython with its libraries.
pub const DEFAULT_MAX_MEMORY: usize = 1 << 30;

/// The cap on the elements of each table of a store (not configurable).
pub const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Store data of a running command: WASI, the native provider, and a meter of
/// the store's linear memory.
pub struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The host provider's state; none for the guest provider (nothing links
    /// the host's memtls:tls functions then).
    memtls: Option<MemtlsCtx>,
    /// Signatures by the identities the policy grants, for a guest provider
    /// composed into the program (`memtls:tls/host-signer`).
    signer: crate::HostSigner,
    memory: MemoryMeter,
}

impl Host {
    /// The linear memory of every instance in the store (the application and, with
    /// the guest provider, the guest), in bytes: now and at its peak.
    pub fn linear_memory(&self) -> (usize, usize) {
        (self.memory.total, self.memory.peak)
    }

    /// Connections the native provider holds for this store.
    pub fn native_connections(&self) -> usize {
        self.memtls.as_ref().map_or(0, MemtlsCtx::live_connections)
    }
}

/// Counts the linear memory of all instances of a store as they grow, and
/// refuses growth past the store's cap: `memory.grow` then answers -1, which
/// the program sees as its own out-of-memory.
#[derive(Debug)]
struct MemoryMeter {
    total: usize,
    peak: usize,
    limit: usize,
}

impl wasmtime::ResourceLimiter for MemoryMeter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total.saturating_add(desired.saturating_sub(current));
        if total > self.limit {
            return Ok(false);
        }
        self.total = total;
        self.peak = self.peak.max(self.total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl MemtlsView for Host {
    fn memtls(&mut self) -> MemtlsCtxView<'_> {
        MemtlsCtxView {
            ctx: self.memtls.as_mut().expect(
                "memtls:tls is linked from the host only for a host provider, which has its state",
            ),
            table: &mut self.table,
        }
    }
}

/// A component compiled and linked for one provider.
pub struct Loaded {
    provider: Provider,
    pre: wasmtime::component::InstancePre<Host>,
    policy: Policy,
    /// The signer every store of it shares (`host-signer`, for the
    /// identities the policy grants).
    signer: crate::HostSigner,
    /// The native provider's engine, shared by every instance (its `system`
    /// verifier is built once); none for the other providers.
    native: Option<Arc<crate::engine::Engine>>,
    /// Whether it is a WASI 0.3 program: instantiated and run with wasmtime's
    /// async API on a tokio runtime, WASI 0.2 and 0.3 both linked.
    concurrent: bool,
    /// Whether the compiled component came from the cache.
    cached: bool,
    /// The most linear memory one store may have, all its instances together.
    max_memory: usize,
}

impl Loaded {
    /// The provider it was prepared for.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Instantiates it in a new store with `wasi`, under the policy it was
    /// loaded with: the native provider enforces it in the host, the guest
    /// provider has it baked in.
    pub fn instantiate(&self, wasi: WasiCtxBuilder) -> wasmtime::Result<(Store<Host>, Instance)> {
        if self.concurrent {
            wasmtime::bail!(
                "this is a WASI 0.3 program: it runs with runtime::run (wasmtime's async API)"
            );
        }
        let mut store = self.store(wasi);
        let instance = self.pre.instantiate(&mut store)?;
        Ok((store, instance))
    }

    /// Caps the linear memory of each store it runs in (every instance
    /// together, the guest provider's included) at `bytes`; growth past it is
    /// refused, as the program's own out-of-memory. [`DEFAULT_MAX_MEMORY`]
    /// unless set.
    pub fn set_max_memory(&mut self, bytes: usize) {
        self.max_memory = bytes;
    }

    /// Whether it was mapped from the cache of compiled components (see
    /// [`load`]) rather than composed and compiled now.
    pub fn cached(&self) -> bool {
        self.cached
    }

    /// Whether it is a WASI 0.3 program (see [`run`]).
    pub fn is_concurrent(&self) -> bool {
        self.concurrent
    }

    /// A new store for an instance, with the provider's state under the policy.
    fn store(&self, mut wasi: WasiCtxBuilder) -> Store<Host> {
        // The guest provider needs nothing from the host: no provider state.
        let memtls = match (self.provider, &self.native) {
            #[cfg(feature = "openssl")]
            (Provider::OpenSsl, _) => Some(MemtlsCtx::openssl(self.policy.clone())),
            (_, Some(native)) => Some(MemtlsCtx::new(native.clone(), self.policy.clone())),
            (_, None) => None,
        };
        let mut store = Store::new(
            engine(),
            Host {
                wasi: wasi.build(),
                table: ResourceTable::new(),
                memtls,
                signer: self.signer.clone(),
                memory: MemoryMeter {
                    total: 0,
                    peak: 0,
                    limit: self.max_memory,
                },
            },
        );
        store.limiter(|host| &mut host.memory);
        store
    }
}

/// Compiles `bytes` for `provider` under `policy` (composing the guest in, with
/// the policy baked in, when needed) and links it. A component whose imports
/// memtls cannot satisfy gets an error naming them. Compilation tells its
/// progress ([`Notice`]) when it takes a while (`label` names the component); results are
/// cached across runs in memtls's cache of compiled components (in the user's
/// cache directory, keyed by the application, the guest and the adapter
/// composed in, the policy baked in, wasmtime's settings and the running
/// program), from which a later load maps it without composing or compiling.
pub fn load(
    bytes: &[u8],
    provider: Provider,
    policy: &Policy,
    label: &str,
) -> wasmtime::Result<Loaded> {
    if provider == Provider::OpenSsl && !cfg!(feature = "openssl") {
        wasmtime::bail!("memtls-host was built without the openssl feature (the openssl provider)");
    }
    // Anchors no provider could parse are refused before anything is composed
    // or looked up: the native provider's engine parses them as it is built,
    // and only that provider uses one.
    let policy_error = |e: crate::engine::Error| wasmtime::format_err!("policy: {}", e.message);
    let native = match provider {
        Provider::Native => Some(crate::native_engine(policy).map_err(policy_error)?),
        Provider::Guest | Provider::OpenSsl => {
            crate::engine::parse_certificates(&policy.extra_system_anchors, "extra system anchors")
                .map_err(policy_error)?;
            None
        }
    };
    let (component, cached) = compile(bytes, provider, policy, label)?;
    let missing = unsupported_imports(&component, provider, !policy.identities.is_empty());
    if missing
        .iter()
        .any(|m| m.starts_with("memtls:tls/host-signer@"))
    {
        wasmtime::bail!(
            "{label} has the host sign for identities it holds (it imports \
             memtls:tls/host-signer: a composition made with --identity), and this run grants \
             none: grant them as the composition did (memtls run --identity NAME=CHAIN:KEY)"
        );
    }
    if !missing.is_empty() {
        wasmtime::bail!(
            "{label} imports what memtls cannot provide: {}\n(memtls serves WASI 0.2 and 0.3, \
             memtls:tls@0.1.0, and wasi:tls@0.3.0-draft through its adapter)",
            missing.join(", ")
        );
    }
    let concurrent = is_wasi_p3(&component);
    let mut linker = Linker::<Host>::new(engine());
    if concurrent {
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    } else {
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    }
    crate::add_provider_to_linker(&mut linker, provider)?;
    if !policy.identities.is_empty() {
        crate::add_signer_to_linker(&mut linker, |host: &mut Host| &mut host.signer)?;
    }
    let pre = linker.instantiate_pre(&component)?;
    Ok(Loaded {
        provider,
        pre,
        policy: policy.clone(),
        signer: crate::HostSigner::new(policy.clone()),
        native,
        concurrent,
        cached,
        max_memory: DEFAULT_MAX_MEMORY,
    })
}

/// Compiles what [`crate::prepare_component`] makes of `bytes`; says whether
/// it came from the cache. The cache of compiled components holds it when an
/// earlier load made it (then nothing is composed or compiled), and gets it
/// otherwise.
fn compile(
    bytes: &[u8],
    provider: Provider,
    policy: &Policy,
    label: &str,
) -> wasmtime::Result<(Component, bool)> {
    // What is wrong with the application is said with its name (the rest of
    // what can fail here is the embedder's: the guest or adapter missing).
    #[cfg(feature = "guest-provider")]
    crate::component_imports(bytes).map_err(|e| e.context(label.to_string()))?;
    let parts = crate::Ingredients::of(bytes, provider, policy)?;
    let make = || -> wasmtime::Result<Component> {
        let prepared = crate::prepared(bytes, parts.as_ref())?;
        with_progress(label, prepared.len(), || {
            Component::new(engine(), &prepared)
        })
    };
    if let Some(cache) = crate::cache::Cache::open()
        && let Some(key) = crate::cache::Cache::key(bytes, parts.as_ref(), engine())
    {
        if let Some(component) = cache.get(&key, engine()) {
            return Ok((component, true));
        }
        let component = make()?;
        cache.put(&key, &component);
        return Ok((component, false));
    }
    Ok((make()?, false))
}

/// Whether `component` is a WASI 0.3 program: it exports `wasi:cli/run` 0.3
/// or imports any WASI 0.3 interface.
fn is_wasi_p3(component: &Component) -> bool {
    let ty = component.component_type();
    let p3 = |name: &str| name.starts_with("wasi:") && name.contains("@0.3");
    ty.exports(engine()).any(|(name, _)| p3(name)) || ty.imports(engine()).any(|(name, _)| p3(name))
}

/// The imports of `component` nothing links: besides WASI, the host serves
/// `memtls:tls` for its own providers, and `host-signer` when the policy
/// grants identities (a composition's guest provider signs through it).
fn unsupported_imports(component: &Component, provider: Provider, signs: bool) -> Vec<String> {
    component
        .component_type()
        .imports(engine())
        .map(|(name, _)| name.to_string())
        .filter(|name| {
            let signer = name.starts_with("memtls:tls/host-signer@");
            !(name.starts_with("wasi:")
                || (signs && signer)
                || (provider.is_host_served() && !signer && name.starts_with("memtls:tls/")))
        })
        .collect()
}

/// Runs `f` (a compilation), telling the embedder how it goes from the
/// first second on.
fn with_progress<T>(label: &str, bytes: usize, f: impl FnOnce() -> T) -> T {
    if Settings::get().notices.is_none() {
        return f();
    }
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        let label = label.to_string();
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut told = false;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let seconds = start.elapsed().as_secs_f64();
                if seconds >= 1.0 && !done.load(Ordering::Relaxed) {
                    notify(Notice::Compiling {
                        label: &label,
                        bytes,
                        seconds,
                    });
                    told = true;
                }
            }
            if told {
                let seconds = start.elapsed().as_secs_f64();
                notify(Notice::Compiled {
                    label: &label,
                    seconds,
                });
            }
        })
    };
    let result = f();
    done.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    result
}

/// How to run a command component.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Program arguments (the first is the program name).
    pub args: Vec<String>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Preopened directories: (host path, guest path).
    pub dirs: Vec<(PathBuf, String)>,
    /// Allow the component to use the host's network.
    pub inherit_network: bool,
    /// Allow DNS lookups.
    pub allow_ip_name_lookup: bool,
    /// Deny TCP altogether (wasmtime's `-S tcp=n`; allowed by default, to the
    /// addresses `inherit_network` permits).
    pub deny_tcp: bool,
    /// Deny UDP altogether (wasmtime's `-S udp=n`; allowed by default, to the
    /// addresses `inherit_network` permits).
    pub deny_udp: bool,
    /// Capture stdout into this pipe instead of inheriting it.
    pub capture_stdout: Option<MemoryOutputPipe>,
    /// Capture stderr into this pipe instead of inheriting it.
    pub capture_stderr: Option<MemoryOutputPipe>,
}

/// Runs a loaded command component to completion; returns its exit code.
pub fn run(loaded: &Loaded, opts: &RunOptions) -> wasmtime::Result<i32> {
    let mut wasi = WasiCtx::builder();
    wasi.args(&opts.args).envs(&opts.env).inherit_stdin();
    match &opts.capture_stdout {
        Some(pipe) => wasi.stdout(pipe.clone()),
        None => wasi.inherit_stdout(),
    };
    match &opts.capture_stderr {
        Some(pipe) => wasi.stderr(pipe.clone()),
        None => wasi.inherit_stderr(),
    };
    for (host, guest) in &opts.dirs {
        check_grant(host)?;
        wasi.preopened_dir(host, guest, FsPerms::ReadWrite)
            .map_err(|e| wasmtime::format_err!("cannot preopen {}: {e:#}", host.display()))?;
    }
    if opts.inherit_network {
        wasi.inherit_network();
    }
    wasi.allow_ip_name_lookup(opts.allow_ip_name_lookup);
    wasi.allow_tcp(!opts.deny_tcp);
    wasi.allow_udp(!opts.deny_udp);
    if loaded.concurrent {
        return run_concurrent(loaded, wasi);
    }
    let (mut store, instance) = loaded.instantiate(wasi)?;
    let command = Command::new(&mut store, &instance)
        .map_err(|e| wasmtime::format_err!("not a wasi:cli command component: {e:#}"))?;
    exit_code(command.wasi_cli_run().call_run(&mut store))
}

/// The exit code of a finished `wasi:cli/run` call: 0, 1 for an error result,
/// or what the program passed to `exit`; a trap stays an error.
pub fn exit_code(result: wasmtime::Result<Result<(), ()>>) -> wasmtime::Result<i32> {
    match result {
        Ok(Ok(())) => Ok(0),
        Ok(Err(())) => Ok(1),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => Ok(exit.0),
            None => Err(e),
        },
    }
}

/// Runs a WASI 0.3 command (`wasi:cli/run@0.3`) on a tokio runtime of its own:
/// instantiated with wasmtime's async API, `run` called inside
/// `run_concurrent` so that its streams, futures and subtasks make progress.
fn run_concurrent(loaded: &Loaded, wasi: WasiCtxBuilder) -> wasmtime::Result<i32> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| wasmtime::format_err!("cannot start a tokio runtime: {e}"))?;
    runtime.block_on(async {
        let mut store = loaded.store(wasi);
        let instance = loaded.pre.instantiate_async(&mut store).await?;
        let command = wasmtime_wasi::p3::bindings::Command::new(&mut store, &instance)
            .map_err(|e| wasmtime::format_err!("not a wasi:cli 0.3 command component: {e:#}"))?;
        let result = store
            .run_concurrent(async move |store| command.wasi_cli_run().call_run(store).await)
            .await;
        exit_code(result.and_then(|r| r))
    })
}
