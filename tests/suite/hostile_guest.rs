//! The hostile-guest suite: a component attacks each provider through every
//! function of the interface (tests/scenarios/src/hostile.rs). For each attack
//! and provider: the host process survives, every refusal was a WIT error of the
//! expected kind (the component checks that), the providers observe the same
//! thing (the openssl provider but for the differences memtls-openssl
//! lists), the process's resident memory grows by less than the host budget
//! SECURITY.md states for one store, and a normal handshake in a new instance
//! still works afterwards. `use-after-drop` must trap its own instance only.

use memtls_host::{Policy, Provider};
use memtls_test_harness::{
    Fixtures, Scenarios, peak_memory, reset_peak_memory, resident_memory, thread_cpu_seconds,
};

const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;

/// The most host memory one store may cost under `policy` (SECURITY.md): the
/// configuration budget parsed (three copies at most), the contexts, per
/// connection its ciphertext buffer plus rustls's buffers (about 100 KiB), and
/// per session handed out at most a 64 KiB ticket and a 64 KiB server chain.
fn host_budget(policy: &Policy) -> usize {
    3 * policy.max_config_bytes
        + policy.max_contexts * 8 * 1024
        + policy.max_connections * (policy.max_buffered_bytes + 100 * 1024)
        + policy.max_connections * 128 * 1024
}

#[test]
fn hostile_guest() {
    let fixtures = Fixtures::generate().expect("fixtures");
    let policy = Policy::default();
    let budget = host_budget(&policy);
    let runners: Vec<Scenarios> = memtls_test_harness::PROVIDERS
        .iter()
        .map(|p| Scenarios::load(*p, policy.clone()).expect("load"))
        .collect();
    let attacks = runners[0].attacks().expect("list attacks");
    assert!(attacks.len() >= 10, "{attacks:?}");
    let (mut failures, mut as_expected, mut peak_growth) = (Vec::new(), 0, 0);
    let mut costliest = (String::new(), 0.0f64);
    let mut highest = 0;
    for attack in &attacks {
        let mut summaries = Vec::new();
        for runner in &runners {
            let provider = runner.provider();
            let before = resident_memory();
            reset_peak_memory();
            let cpu_before = thread_cpu_seconds();
            let result = runner.run_measured(attack, &fixtures);
            let cpu = thread_cpu_seconds() - cpu_before;
            let growth = resident_memory().saturating_sub(before);
            // The peak during the attack too: a store's memory is gone by
            // the time a trapped call returns.
            let peak = peak_memory();
            highest = highest.max(peak);
            if cpu > costliest.1 {
                costliest = (format!("{attack} on {provider}"), cpu);
            }
            peak_growth = peak_growth.max(growth);
            let verdict = match (attack.as_str(), &result) {
                ("use-after-drop", Err(trap)) => Ok(format!("trapped: {}", first_line(trap))),
                // The copy is stopped: a trap of that instance alone.
                ("aliased-lists", Err(trap)) => Ok(format!("trapped: {}", first_line(trap))),
                ("use-after-drop", Ok(r)) => Err(format!("did not trap: {r:?}")),
                (_, Ok((Ok(summary), _))) => Ok(summary.clone()),
                (_, Ok((Err(why), _))) => Err(why.clone()),
                (_, Err(trap)) => Err(format!("trap: {trap:#}")),
            };
            // What stays after the attack is within the host's budget; at
            // its peak the store's linear memory comes on top (the runtime
            // caps it), and the process stays under 1.5 GiB.
            let allowed = budget + memtls_host::runtime::DEFAULT_MAX_MEMORY;
            let verdict = verdict.and_then(|s| {
                if growth > budget {
                    Err(format!("host RSS grew {} MiB > budget", growth / MIB))
                } else if peak.saturating_sub(before) > allowed || peak > 3 * GIB / 2 {
                    Err(format!(
                        "host RSS peaked at {} MiB: over the budget plus the store's memory \
                         cap, or over 1.5 GiB",
                        peak / MIB
                    ))
                } else {
                    Ok(s)
                }
            });
            // The host goes on: a fresh instance handshakes.
            let alive = runner
                .run("tls13-handshake", &fixtures)
                .map_err(|e| format!("{e:#}"))
                .and_then(|r| r);
            let verdict = verdict.and_then(|s| alive.map(|_| s).map_err(|e| format!("after: {e}")));
            match &verdict {
                Ok(s) => {
                    as_expected += 1;
                    println!(
                        "hostile {attack:<20} {provider:<6} ok   rss+{:>4} MiB peak {:>4} MiB \
                         cpu {cpu:>6.2} s  {s}",
                        growth / MIB,
                        peak / MIB
                    );
                }
                Err(why) => {
                    println!("hostile {attack:<20} {provider:<6} FAIL {why}");
                    failures.push(format!("{attack} on {provider}: {why}"));
                }
            }
            summaries.push(verdict.ok());
        }
        // Trap messages name the provider's function; compare the rest.
        if let [Some(native), Some(guest), openssl] = &summaries[..]
            && attack != "use-after-drop"
            && attack != "aliased-lists"
        {
            if native != guest {
                println!("hostile {attack:<20} parity FAIL native {native:?} != guest {guest:?}");
                failures.push(format!("{attack}: the rustls providers differ"));
            }
            if let Some(Err(why)) = openssl
                .as_ref()
                .map(|o| memtls_scenario_suite::parity::parity(attack, o, native))
            {
                println!("hostile {attack:<20} parity FAIL {why}");
                failures.push(format!("{attack}: openssl differs"));
            }
        }
    }
    println!(
        "hostile-guest: {} attacks x {} providers, {as_expected} as expected, {} failures; \
         host alive; peak RSS growth {} MiB (budget {} MiB per store, plus linear memory); \
         process peak {} MiB; costliest attack {} at {:.2} s of CPU (each attack is many \
         calls)",
        attacks.len(),
        runners.len(),
        failures.len(),
        peak_growth / MIB,
        budget / MIB,
        highest / MIB,
        costliest.0,
        costliest.1
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

/// What a trap says at its root (wasmtime's context lines — "error while
/// executing at wasm backtrace" — say nothing of why).
fn first_line(e: &wasmtime::Error) -> String {
    e.root_cause()
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// One `verify-server-chain` call with the `loop` chain (anchors: the test
/// CA), on every provider: refused with resource-limit, its CPU printed; and
/// the costliest chain found inside the limits (the leaf and four of the
/// `loop` intermediates: exactly the 64 path-building steps allowed), which
/// webpki explores and refuses as an unknown issuer.
#[test]
fn one_verify_call_with_the_loop_chain() {
    let fixtures = Fixtures::generate().expect("fixtures");
    let pem = String::from_utf8(fixtures.0["loop.chain"].clone()).unwrap();
    let blocks: Vec<Vec<u8>> = pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .map(|b| b.as_bytes().to_vec())
        .collect();
    assert_eq!(blocks.len(), 10);
    let trust = memtls_engine::TrustStore {
        system: false,
        anchors: vec![fixtures.0["ca"].clone()],
        pinned: vec![],
    };
    let mut figures = Vec::new();
    for provider in memtls_test_harness::PROVIDERS {
        let runner = Scenarios::load(provider, Policy::default()).expect("load");
        let mut verifier = runner.verifier().expect("verifier");
        let mut call = |chain: &[Vec<u8>]| {
            let before = thread_cpu_seconds();
            let answer = verifier
                .verify(&trust, chain, "localhost", None)
                .expect("no trap");
            (answer, thread_cpu_seconds() - before)
        };
        let (answer, refused) = call(&blocks);
        let e = answer.expect_err("the loop chain is refused");
        assert_eq!(e.kind, memtls_engine::ErrorKind::ResourceLimit, "{e:?}");
        let (answer, inside) = call(&blocks[..5]);
        let e = answer.expect_err("four loop intermediates lead nowhere");
        assert!(
            matches!(e.kind, memtls_engine::ErrorKind::CertificateRejected(_)),
            "{e:?}"
        );
        figures.push(format!(
            "{provider} {refused:.4} s (refused), {inside:.4} s (64 steps, verified)"
        ));
    }
    println!(
        "verify-server-chain, one call's CPU, the loop chain and the costliest inside the \
         limits: {}",
        figures.join("; ")
    );
}

/// What is around the host, attacked as a guest and an operator would: a
/// directory grant over the user's home, the caches' parent or the caches
/// themselves is refused before the component runs (a guest that can write
/// there chooses the native code the host runs next), and special files as
/// inputs are refused at once. The summary line gives the time each took.
#[test]
fn the_hosts_surroundings_hold() {
    use memtls_host::runtime::{RunOptions, protected_directories, run};
    let files = memtls_test_harness::peers::Files::scratch("surroundings");
    let loaded = memtls_test_harness::load(
        memtls_test_harness::examples::https_get(),
        Provider::Native,
        &Policy::default(),
        "https-get",
    )
    .expect("load");
    let home = std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let mut grants = vec![home, std::path::PathBuf::from("/")];
    for dir in protected_directories() {
        grants.extend(dir.parent().map(std::path::Path::to_path_buf));
        grants.push(dir);
    }
    let started = std::time::Instant::now();
    for grant in &grants {
        let opts = RunOptions {
            args: vec!["https-get".into(), "https://localhost:1/".into()],
            dirs: vec![(grant.clone(), "/granted".into())],
            ..RunOptions::default()
        };
        let e = run(&loaded, &opts).expect_err("the grant must be refused");
        assert!(
            format!("{e}").contains("holds native code"),
            "{}: {e}",
            grant.display()
        );
    }
    let grants_took = started.elapsed();
    let fifo = files.dir.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let started = std::time::Instant::now();
    for special in [std::path::Path::new("/dev/zero"), &fifo, &files.dir] {
        let e = memtls_cli::read_input(special, "--ca-file", memtls_cli::MAX_TEXT_FILE)
            .expect_err("a special file is refused");
        assert!(format!("{e}").contains("give a regular file"), "{e}");
    }
    println!(
        "hostile surroundings: {} directory grants reaching a cache refused in {:.1} ms; \
         /dev/zero, a FIFO and a directory as --ca-file refused in {:.1} ms; host RSS {} MiB",
        grants.len(),
        grants_took.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64() * 1e3,
        resident_memory() / MIB
    );
}
