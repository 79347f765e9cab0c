//! The load benchmark's code paths once, small (CI's quick form): the
//! `https-server` component on each provider and in the async embedder, and
//! the tokio-rustls reference (with and without TCP_NODELAY), under h2load
//! and openssl s_time (several processes at once resuming their sessions),
//! then a short soak with every fault injected. It checks that every figure
//! was produced, that no request of a well-behaved client failed, that
//! s_time's sessions were resumed, that the server freed the stalled
//! connections on its own and answered garbage with an alert; nothing about
//! speed.

use memtls_bench::load::{LoadOptions, Server, Soak, run_load};

#[test]
fn load_runs_on_every_server_and_survives_the_faults() {
    memtls_test_harness::peers::require("h2load", "nghttp2-client");
    let results = run_load(&LoadOptions {
        quick: true,
        exe: env!("CARGO_BIN_EXE_load").into(),
        servers: Server::ALL.to_vec(),
        // 150: more pollables than tokio's cooperative budget, which once
        // stalled the async embedder.
        concurrency: vec![1, 150],
        soak: Some(Soak {
            server: Server::Guest,
            seconds: 6,
            clients: 10,
            slowloris: 20,
        }),
    })
    .expect("the load benchmark runs");
    print!("{}", results.table());
    let soak = results.soak.as_ref().expect("the soak ran");
    for line in &soak.lines {
        println!("{line}");
    }
    for f in &results.figures {
        for (column, value) in results.columns.iter().zip(&f.values) {
            assert!(value.is_some(), "{column}: no figure for {}", f.name);
        }
    }
    assert_eq!(
        results.failed,
        vec![0; results.columns.len()],
        "requests h2load saw fail, per server ({:?})",
        results.columns
    );
    for (column, &(resumed, all)) in results.columns.iter().zip(&results.s_time_reused) {
        // Every s_time process resumes one session over and over: all but a
        // few should be resumed (s_time marks each with `r`).
        assert!(
            all > 0 && resumed * 10 >= all * 9,
            "{column}: openssl s_time -reuse saw {resumed} of {all} connections resumed"
        );
    }
    assert!(
        soak.succeeded > 0,
        "no well-behaved request was served in the soak"
    );
    assert_eq!(
        soak.failed, 0,
        "well-behaved requests failed under the faults"
    );
    assert!(
        soak.stalled_freed > 0,
        "the server closed no stalled connection"
    );
    assert_eq!(
        soak.open_after, 1.0,
        "connections still open after the faults and the timeouts (the one asking is 1)"
    );
    assert!(soak.garbage.0 > 0, "no garbage was sent");
    assert_eq!(
        soak.garbage.1, soak.garbage.0,
        "connections that sent garbage and received no TLS alert"
    );
}
