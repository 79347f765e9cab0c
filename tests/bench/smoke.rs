//! The benchmark suite's code paths, once, with tiny counts (CI's smoke run). It
//! checks that every figure was produced for every column that has it; it asserts
//! nothing about speed.

use memtls_bench::{COLUMNS, Options, run_suite, svg, table};

#[test]
fn bench_suite_runs_every_workload() {
    let figures = run_suite(&Options {
        quick: true,
        heap_bytes: None,
        child_exe: Some(env!("CARGO_BIN_EXE_bench").into()),
        only: None,
        wasi_tls: Some(memtls_bench::wasi_tls_runner),
        wasi_tls_p3: Some(memtls_bench::wasi_tls_p3_runner),
    })
    .expect("the bench suite runs");
    println!("{}", table(&figures));
    let names: Vec<&str> = figures.iter().map(|f| f.name.as_str()).collect();
    for needle in [
        "full handshakes, P-256",
        "full handshakes, Ed25519",
        "full handshakes, RSA-2048",
        "resumed handshakes",
        "encrypt TLS13_CHACHA20_POLY1305_SHA256",
        "decrypt ECDHE_ECDSA_AES_128_GCM_SHA256",
        "full handshakes, P-256, x25519 only",
        "ClientHello bytes, default groups",
        "ClientHello bytes, x25519 only",
        "bytes across the boundary",
        "memory per idle connection",
        "load to first handshake, cold",
        "load to first handshake, cached",
        "TCP client: handshake latency",
        "TCP client: GET",
        "TCP client: POST",
        "TCP client: provider calls, receiving",
        "TCP client: provider calls, sending",
        "wasi:tls 0.3 program: handshake latency",
        "wasi:tls 0.3 program: GET",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(needle)),
            "no figure {needle:?} in {names:?}"
        );
    }
    for f in &figures {
        // Native, host, guest and openssl provider columns everywhere (memory on
        // the native and host side needs the bench binary's counting allocator);
        // libssl directly in the in-memory workloads.
        let expected: &[usize] = if f.name.starts_with("memory") {
            &[2]
        } else if f.name.contains("provider calls") {
            // Counted by the program's stream: only the providers have them.
            &[1, 2, 5]
        } else if f.name.starts_with("load") || f.name.starts_with("TCP") {
            &[0, 1, 2, 5]
        } else if f.name.starts_with("wasi:tls 0.3") {
            &[0, 1, 2, 3, 5]
        } else if f.name.starts_with("bytes across") || f.name.starts_with("ClientHello") {
            // Sizes the providers produce (and the hybrid's share is a
            // provider's, not rustls's or libssl's).
            &[1, 2, 5]
        } else {
            &[0, 1, 2, 4, 5]
        };
        for &i in expected {
            let v = f.values[i].unwrap_or_else(|| panic!("{} has no {} value", f.name, COLUMNS[i]));
            assert!(
                v.is_finite() && v >= 0.0,
                "{}: {} = {v}",
                f.name,
                COLUMNS[i]
            );
            // Every transfer makes calls: zero would mean nothing was counted.
            assert!(
                !f.name.contains("provider calls") || v > 0.0,
                "{}: {} counted no calls",
                f.name,
                COLUMNS[i]
            );
        }
    }
    assert!(svg(&figures, "smoke").starts_with("<svg"));
}
