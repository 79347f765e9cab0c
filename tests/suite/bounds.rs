//! Bounds under hostile input, measured: the hostile scenarios (garbage floods of
//! up to 1 GiB, an endless handshake message, a stalled handshake, extreme
//! arguments, a reader that never reads) end in an error or wait without growing
//! memory, on every provider. Linear memory of the store (application and guest)
//! and the resident memory of this process are sampled around each.

use memtls_host::Policy;
use memtls_test_harness::{Fixtures, Scenarios, resident_memory};

const MIB: usize = 1 << 20;

#[test]
fn hostile_inputs_keep_memory_bounded() {
    let fixtures = Fixtures::generate().expect("fixtures");
    let mut failures = Vec::new();
    for provider in memtls_test_harness::PROVIDERS {
        let runner = Scenarios::load(provider, Policy::default()).expect("load");
        for name in [
            "hostile-garbage-flood",
            "hostile-endless-handshake-message",
            "hostile-stalled-handshake",
            "argument-extremes",
            "bounded-buffers",
        ] {
            let rss_before = resident_memory();
            let (result, peak) = runner.run_measured(name, &fixtures).expect("no trap");
            let rss_growth = resident_memory().saturating_sub(rss_before);
            // The scenario itself holds a 16 MiB test buffer in argument-extremes.
            let ok = result.is_ok() && peak <= 160 * MIB && rss_growth <= 96 * MIB;
            println!(
                "bounds {name:<36} {provider:<6} {} linear-peak={} MiB rss-growth={} MiB {}",
                if ok { "ok  " } else { "FAIL" },
                peak / MIB,
                rss_growth / MIB,
                result.as_ref().map_or_else(|e| e.clone(), |s| s.clone())
            );
            if !ok {
                failures.push(format!("{name} on {provider}"));
            }
        }
    }
    assert!(failures.is_empty(), "failed: {failures:?}");
}
