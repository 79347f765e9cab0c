//! Every parity scenario natively on the engine, one test each: the same
//! scenarios the parity suite runs through both providers, without Wasm in
//! between (`cargo test -p memtls-engine --test scenarios`). The list is
//! `tests/scenario-suite/src/list.rs`.

use memtls_engine::Policy;
use memtls_scenario_suite::{engine_backend, fixtures, foreach_scenario};

/// Runs `name` on a fresh engine under the parity suite's policy (the
/// `insecure` interface allowed, the rest the defaults).
fn run(name: &str) {
    let backend = engine_backend(Policy {
        allow_insecure: true,
        ..Policy::default()
    });
    match memtls_scenario_suite::run(backend, name, fixtures::shared()) {
        Ok(summary) => println!("{name}: {summary}"),
        Err(why) => panic!("{name}: {why}"),
    }
}

macro_rules! engine_tests {
    ($($function:ident: $name:literal,)*) => {
        $(
            #[test]
            fn $function() {
                run($name);
            }
        )*
    };
}
foreach_scenario!(engine_tests);
