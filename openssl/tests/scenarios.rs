//! Every parity scenario on the openssl provider, one test each, natively
//! (`cargo test -p memtls-openssl --test scenarios`): both ends of each
//! scenario are OpenSSL, driven through the provider contract the engine and
//! the WIT bindings implement too. The list is `tests/scenario-suite/src/list.rs`.
//!
//! A scenario whose outcome differs from the rustls providers' for a reason
//! that is OpenSSL's, not a defect, is listed in `memtls_scenario_suite::parity::OPENSSL_DIFFERENCES` with that reason
//! and the outcome asserted instead; everything else must pass as it does on
//! the other providers.

use std::rc::Rc;

use memtls_engine::Policy;
use memtls_openssl::OpenSsl;
use memtls_scenario_suite::{engine_backend, fixtures, foreach_scenario};

/// Runs `name` on OpenSSL and on the engine, under the parity suite's policy
/// (the `insecure` interface allowed, the rest the defaults), and compares the
/// summaries.
fn run(name: &str) {
    let policy = Policy {
        allow_insecure: true,
        ..Policy::default()
    };
    let backend = Rc::new(OpenSsl::new(policy.clone()));
    let ours = memtls_scenario_suite::run(backend, name, fixtures::shared())
        .unwrap_or_else(|why| panic!("{name}: {why}"));
    let theirs = memtls_scenario_suite::run(engine_backend(policy), name, fixtures::shared())
        .unwrap_or_else(|why| panic!("{name} on the engine: {why}"));
    match memtls_scenario_suite::parity::parity(name, &ours, &theirs) {
        Ok(None) => {}
        Ok(Some(why)) => println!("{name}: differs as listed ({why})"),
        Err(why) => panic!("{why}"),
    }
    println!("{name}: {ours}");
}

macro_rules! openssl_tests {
    ($($function:ident: $name:literal,)*) => {
        $(
            #[test]
            fn $function() {
                run($name);
            }
        )*
    };
}
foreach_scenario!(openssl_tests);
