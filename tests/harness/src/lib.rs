//! The memtls test harness: certificates generated for each run, the
//! scenario component loaded under each provider, peers run as processes,
//! and the components loaded the way the command loads them — without the
//! command crate (the suites in `tests/suite` and `tests/external` and the
//! benchmarks in `tests/bench` use it).

#![warn(missing_docs)]

pub mod peers;
pub mod servers;
pub mod wasi_tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use memtls_host::runtime::{Host, Loaded, RunOptions, run};
use memtls_host::{Policy, Provider};
use wasmtime::component::Instance;
use wasmtime::error::Context as _;
use wasmtime::{Result, Store};
use wasmtime_wasi::WasiCtx;

/// The two rustls providers, native first: the suites that compare rustls
/// with itself across the boundary run over these (the openssl provider
/// joins the suites it passes one by one).
pub const RUSTLS_PROVIDERS: [Provider; 2] = [Provider::Native, Provider::Guest];

/// Every provider: the suites that hold all three to the same guarantees
/// (hostile guests, bounds, leaks, x509-limbo, the interop matrix) run over
/// these.
pub const PROVIDERS: [Provider; 3] = Provider::ALL;

/// The components the command ships (the examples among them).
pub use memtls_artifacts as examples;

/// [`memtls_host::runtime::load`] with the shipped guest provider and
/// wasi:tls adapter installed, as the command loads components.
pub fn load(app: &[u8], provider: Provider, policy: &Policy, label: &str) -> Result<Loaded> {
    memtls_artifacts::install();
    memtls_host::runtime::load(app, provider, policy, label)
}

/// The scenario component (built by `memtls-test-artifacts`).
pub fn scenarios_component() -> &'static [u8] {
    memtls_test_artifacts::scenarios()
}

/// The scenario component prepared (composed if needed, compiled, linked) for
/// one provider, with the policy its instances run under.
pub struct Scenarios {
    loaded: Loaded,
}

/// The runner's export name.
const RUNNER: &str = "memtls:test/runner@0.1.0";

impl Scenarios {
    /// Prepares the scenario component for `provider` under `policy`.
    pub fn load(provider: Provider, policy: Policy) -> Result<Self> {
        let loaded = load(scenarios_component(), provider, &policy, "scenarios")?;
        Ok(Self { loaded })
    }

    /// The provider this was prepared for.
    pub fn provider(&self) -> Provider {
        self.loaded.provider()
    }

    /// A fresh instance of the component, in a store of its own.
    pub fn instantiate(&self) -> Result<(Store<Host>, Instance)> {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stderr();
        self.loaded.instantiate(wasi)
    }

    /// The runner's export `name`, typed.
    pub fn func<P, R>(
        store: &mut Store<Host>,
        instance: &Instance,
        name: &str,
    ) -> Result<wasmtime::component::TypedFunc<P, R>>
    where
        P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
        R: wasmtime::component::ComponentNamedList + wasmtime::component::Lift,
    {
        let runner = instance
            .get_export_index(&mut *store, None, RUNNER)
            .with_context(|| format!("component does not export {RUNNER}"))?;
        let idx = instance
            .get_export_index(&mut *store, Some(&runner), name)
            .with_context(|| format!("{RUNNER} has no function {name}"))?;
        instance.get_typed_func::<P, R>(&mut *store, &idx)
    }

    /// The scenario names.
    pub fn list(&self) -> Result<Vec<String>> {
        let (mut store, instance) = self.instantiate()?;
        let f = Self::func::<(), (Vec<String>,)>(&mut store, &instance, "list-scenarios")?;
        Ok(f.call(&mut store, ())?.0)
    }

    /// The hostile-guest attacks (run them with [`Scenarios::run_measured`]).
    pub fn attacks(&self) -> Result<Vec<String>> {
        let (mut store, instance) = self.instantiate()?;
        let f = Self::func::<(), (Vec<String>,)>(&mut store, &instance, "list-attacks")?;
        Ok(f.call(&mut store, ())?.0)
    }

    /// Runs one scenario in a fresh instance.
    pub fn run(&self, name: &str, fixtures: &Fixtures) -> Result<Result<String, String>> {
        Ok(self.run_measured(name, fixtures)?.0)
    }

    /// Runs one scenario in a fresh instance; also returns the peak linear memory
    /// of the store (application and, with the guest provider, guest) in bytes.
    pub fn run_measured(
        &self,
        name: &str,
        fixtures: &Fixtures,
    ) -> Result<(Result<String, String>, usize)> {
        let (mut store, instance) = self.instantiate()?;
        let f = Self::func::<(String, Vec<(String, Vec<u8>)>), (Result<String, String>,)>(
            &mut store, &instance, "run",
        )?;
        let args: Vec<(String, Vec<u8>)> = fixtures.0.clone().into_iter().collect();
        let result = f.call(&mut store, (name.to_owned(), args))?.0;
        Ok((result, store.data().linear_memory().1))
    }

    /// Runs `warmup` then `count` create / handshake / drop cycles in one
    /// instance, calling `between` after the warm-up. Returns the store's linear
    /// memory after the warm-up and at the end, and the native provider's live
    /// connections at the end.
    pub fn cycles(
        &self,
        fixtures: &Fixtures,
        warmup: u32,
        count: u32,
        between: impl FnOnce(),
    ) -> Result<CycleReport> {
        let (mut store, instance) = self.instantiate()?;
        let f = Self::func::<(Vec<(String, Vec<u8>)>, u32), (Result<u32, String>,)>(
            &mut store, &instance, "cycles",
        )?;
        let args: Vec<(String, Vec<u8>)> = fixtures.0.clone().into_iter().collect();
        f.call(&mut store, (args.clone(), warmup))?
            .0
            .map_err(wasmtime::Error::msg)?;
        let after_warmup = store.data().linear_memory().0;
        between();
        let done = f
            .call(&mut store, (args, count))?
            .0
            .map_err(wasmtime::Error::msg)?;
        Ok(CycleReport {
            completed: done,
            memory_after_warmup: after_warmup,
            memory_at_end: store.data().linear_memory().0,
            live_native_connections: store.data().native_connections(),
        })
    }

    /// A verifier instance for many chain checks (x509-limbo).
    pub fn verifier(&self) -> Result<Verifier> {
        let (mut store, instance) = self.instantiate()?;
        let func = Self::func(&mut store, &instance, "verify")?;
        Ok(Verifier { store, func })
    }
}

/// What [`Scenarios::cycles`] measured.
#[derive(Debug, Clone, Copy)]
pub struct CycleReport {
    /// Cycles completed after the warm-up.
    pub completed: u32,
    /// Linear memory of the store after the warm-up, in bytes.
    pub memory_after_warmup: usize,
    /// Linear memory of the store at the end, in bytes.
    pub memory_at_end: usize,
    /// Connections the native provider still held at the end.
    pub live_native_connections: usize,
}

/// CPU time the calling thread has used so far, in seconds (its CPU-time
/// clock, exact to the nanosecond): what one call into a store costs,
/// whatever else the process is doing.
pub fn thread_cpu_seconds() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to the pointer, which points
    // at a live, writable timespec.
    let read = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if read != 0 {
        return 0.0;
    }
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

/// Starts measuring this process's peak resident memory afresh (Linux's
/// clear_refs: the peak becomes the current resident memory).
pub fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak resident memory of this process (VmHWM) since it started or since
/// [`reset_peak_memory`], in bytes.
pub fn peak_memory() -> usize {
    status_kib("self", "VmHWM:") * 1024
}

/// The peak resident memory (VmHWM) of process `pid`, in bytes (0 when it
/// cannot be read).
pub fn peak_memory_of(pid: u32) -> usize {
    status_kib(&pid.to_string(), "VmHWM:") * 1024
}

/// The resident memory (VmRSS) of process `pid`, in bytes (0 when it cannot
/// be read).
pub fn resident_memory_of(pid: u32) -> usize {
    status_kib(&pid.to_string(), "VmRSS:") * 1024
}

/// A value in kB from /proc/PROCESS/status (0 when it cannot be read).
fn status_kib(process: &str, field: &str) -> usize {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<usize>().ok())
        })
        .unwrap_or(0)
}

/// Resident memory of this process (VmRSS), in bytes.
pub fn resident_memory() -> usize {
    status_kib("self", "VmRSS:") * 1024
}

type VerifyFunc = wasmtime::component::TypedFunc<
    (
        Vec<Vec<u8>>,
        Vec<Vec<u8>>,
        Vec<Vec<u8>>,
        String,
        Option<u64>,
    ),
    (std::result::Result<(), memtls_host::bindings::memtls::tls::tls::Error>,),
>;

memtls_wit::wit_conversions!(memtls_host::bindings::memtls::tls::tls);

/// Chain verification through the interface of one provider.
pub struct Verifier {
    store: Store<Host>,
    func: VerifyFunc,
}

impl Verifier {
    /// Verifies `chain` (end-entity first) against the anchors and pins of
    /// `trust` (not `system`) for `name` at `time`: the provider's answer, its
    /// error as the engine's.
    pub fn verify(
        &mut self,
        trust: &memtls_engine::TrustStore,
        chain: &[Vec<u8>],
        name: &str,
        time: Option<u64>,
    ) -> Result<std::result::Result<(), memtls_engine::Error>> {
        let args = (
            trust.anchors.clone(),
            trust.pinned.clone(),
            chain.to_vec(),
            name.to_owned(),
            time,
        );
        Ok(self
            .func
            .call(&mut self.store, args)?
            .0
            .map_err(convert::to_engine_error))
    }
}

/// Named certificates and keys for the scenarios, generated fresh
/// ([`memtls_scenario_suite::fixtures`]).
#[derive(Clone, Debug, Default)]
pub struct Fixtures(pub BTreeMap<String, Vec<u8>>);

impl Fixtures {
    /// Generates every certificate and key the scenarios use.
    pub fn generate() -> Result<Self> {
        Ok(Self(
            memtls_scenario_suite::fixtures::generate().map_err(wasmtime::Error::msg)?,
        ))
    }
}

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
