//! The parity scenarios, written once against the provider contract.
//!
//! Each scenario drives a client and a server connection pumping bytes to each
//! other in memory, checks its own expectations and returns a summary of what it
//! observed. The scenarios see the `memtls:tls` interface as the engine's
//! provider contract ([`Backend`], `memtls_engine::TlsProvider`), with the
//! engine's types for configurations, outcomes and errors. Three
//! implementations run them: the engine directly ([`engine_backend`]: `cargo
//! test -p memtls-engine` runs every scenario in seconds, no Wasm), the
//! openssl provider (`cargo test -p memtls-openssl`), and the WIT bindings
//! inside the scenario component (`tests/scenarios`), which the parity suite
//! runs under each provider.
//!
//! The scenarios call free functions ([`tls::client_context`], …) that reach the
//! backend [`run`] installed for the duration of one scenario.
//!
//! Layout: [`tls`] (the trait and the calls), `harness` (pumps, configurations,
//! summaries), and the scenarios by theme: `handshake`, `trust`, `data`,
//! `robustness`. `list.rs` names them; adding a scenario is its function and one
//! line there.

#![warn(missing_docs)]

use std::collections::HashMap;

pub mod bench;
mod data;
#[cfg(not(target_arch = "wasm32"))]
pub mod fixtures;
mod handshake;
pub mod harness;
mod on_engine;
#[cfg(not(target_arch = "wasm32"))]
pub mod parity;
mod robustness;
pub mod tls;
mod trust;

pub use on_engine::engine_backend;
pub use tls::Backend;

/// Fixture files by name (certificates and keys the harness generated).
pub type Fixtures = HashMap<String, Vec<u8>>;
/// What a scenario observed (its summary), or why it failed.
pub type Outcome = Result<String, String>;
/// A scenario: takes the fixtures, returns its observable summary.
pub type Scenario = fn(&Fixtures) -> Outcome;

include!("list.rs");

macro_rules! scenario_table {
    ($($function:ident: $name:literal,)*) => {
        /// Every scenario by name, in the order of `list.rs`.
        pub const SCENARIOS: &[(&str, Scenario)] = &[$(($name, scenario_fns::$function)),*];
    };
}

mod scenario_fns {
    pub(crate) use crate::data::*;
    pub(crate) use crate::handshake::*;
    pub(crate) use crate::robustness::*;
    pub(crate) use crate::trust::*;
}

foreach_scenario!(scenario_table);

/// Runs `f` with `backend` as the interface the scenarios reach.
pub fn with_backend<T>(backend: std::rc::Rc<Backend>, f: impl FnOnce() -> T) -> T {
    let _installed = tls::install(backend);
    f()
}

/// Runs the scenario `name` (or anything of [`SCENARIOS`]) on `backend`.
pub fn run(backend: std::rc::Rc<Backend>, name: &str, fixtures: &Fixtures) -> Outcome {
    let (_, f) = SCENARIOS
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| format!("no scenario named {name}"))?;
    with_backend(backend, || f(fixtures))
}

/// Runs a benchmark workload ([`bench::Workload`]) on `backend`.
pub fn bench(
    backend: std::rc::Rc<Backend>,
    fixtures: &Fixtures,
    workload: &bench::Workload,
) -> Result<bench::Figures, String> {
    with_backend(backend, || bench::run(fixtures, workload))
}

/// `count` create / handshake / drop cycles on `backend`: every other cycle a new
/// client context too (a full handshake, a context created and dropped), in
/// between a resumed handshake.
pub fn cycles(
    backend: std::rc::Rc<Backend>,
    fixtures: &Fixtures,
    count: u32,
) -> Result<u32, String> {
    use harness::{client_config, connect, contexts, ensure, err, send, server_config};
    with_backend(backend, || {
        let (mut cc, sc) = contexts(client_config(fixtures)?, server_config(fixtures)?)?;
        for i in 0..count {
            if i % 2 == 0 {
                cc = tls::client_context(&client_config(fixtures)?).map_err(err)?;
            }
            let (client, server, pair) = connect(&cc, &sc, "localhost")?;
            pair.ok().map_err(|e| format!("cycle {i}: {e}"))?;
            ensure(send(&client, &server, b"ping")? == b"ping", || {
                format!("cycle {i}: corrupted")
            })?;
        }
        Ok(count)
    })
}
