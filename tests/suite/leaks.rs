//! No leaks: create / handshake / exchange / drop cycles per provider (20,000 by
//! default; `MEMTLS_LEAK_CYCLES` overrides). Every other cycle also creates and
//! drops a client context, so half are full handshakes and half resumed. Memory is
//! sampled after a warm-up and at the end: the store's linear memory (application
//! and guest) may not grow by more than 256 KiB (four pages: about 13 bytes a
//! cycle), the process's resident memory by more than 8 MiB (about 420 bytes a
//! cycle), and a host-served provider (native, openssl) must hold no connection
//! afterwards.
//! `context_dropped_before_connections` drops contexts while their connections live.

use std::sync::mpsc;
use std::time::Duration;

use memtls_host::Policy;
use memtls_test_harness::{Fixtures, Scenarios, resident_memory};

const MIB: usize = 1 << 20;
/// How much the store's linear memory may grow over the cycles.
const LINEAR_LIMIT: usize = 256 * 1024;
/// How much the process's resident memory may grow over the cycles.
const RESIDENT_LIMIT: usize = 8 * MIB;

#[test]
fn create_handshake_drop_cycles_do_not_leak() {
    let count: u32 = std::env::var("MEMTLS_LEAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let fixtures = Fixtures::generate().expect("fixtures");
    // Every provider at once, one thread each. Resident memory is sampled once both
    // have loaded and warmed up.
    let (warmed_up, ready) = mpsc::channel();
    let handles: Vec<_> = memtls_test_harness::PROVIDERS
        .into_iter()
        .map(|provider| {
            let (fixtures, warmed_up) = (fixtures.clone(), warmed_up.clone());
            std::thread::spawn(move || {
                let runner = Scenarios::load(provider, Policy::default()).expect("load");
                let mut start = std::time::Instant::now();
                let report = runner
                    .cycles(&fixtures, 2_000, count, || {
                        let _ = warmed_up.send(());
                        start = std::time::Instant::now();
                    })
                    .expect("cycles");
                (provider, report, start.elapsed())
            })
        })
        .collect();
    for _ in memtls_test_harness::PROVIDERS {
        ready
            .recv_timeout(Duration::from_secs(900))
            .expect("a provider failed before its warm-up finished");
    }
    let rss_start = resident_memory();
    let mut failures = Vec::new();
    for h in handles {
        let (provider, r, took) = h.join().expect("thread");
        let growth = r.memory_at_end.saturating_sub(r.memory_after_warmup);
        let ok = r.completed == count && growth <= LINEAR_LIMIT && r.live_native_connections == 0;
        println!(
            "leaks {provider:<6} {} cycles in {:.0} s ({:.0}/s): linear memory {} -> {} KiB (+{} KiB), host connections left {} {}",
            r.completed,
            took.as_secs_f64(),
            f64::from(r.completed) / took.as_secs_f64(),
            r.memory_after_warmup / 1024,
            r.memory_at_end / 1024,
            growth / 1024,
            r.live_native_connections,
            if ok { "ok" } else { "FAIL" }
        );
        if !ok {
            failures.push(provider);
        }
    }
    let rss_growth = resident_memory().saturating_sub(rss_start);
    println!(
        "leaks resident memory growth during the cycles: {} KiB (limit {} KiB)",
        rss_growth / 1024,
        RESIDENT_LIMIT / 1024
    );
    assert!(failures.is_empty(), "leaking providers: {failures:?}");
    assert!(
        rss_growth <= RESIDENT_LIMIT,
        "resident memory grew by {} KiB",
        rss_growth / 1024
    );
}
