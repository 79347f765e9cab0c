//! The hostile-guest suite: a component attacks each provider through every
//! function of the interface (tests/scenarios/src/hostile.rs). For each attack
//! and provider: the host process survives, every refusal was a WIT error of the
//! expected kind (the component checks that), the providers observe the same
//! thing (the openssl provider but for the differences memtls-openssl
//! lists), the process's resident memory grows by less than the host budget
//! SECURITY.md states for one store, and a normal handshake in a new instance
//! still works afterwards. `use-after-drop` must trap its own instance only.

use memtls_host::{Policy, Provider};
use memtls_tests::{Fixtures, Scenarios, resident_memory};

const MIB: usize = 1 << 20;

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
    let runners: Vec<Scenarios> = Provider::EVERY
        .iter()
        .map(|p| Scenarios::load(*p, policy.clone()).expect("load"))
        .collect();
    let attacks = runners[0].attacks().expect("list attacks");
    assert!(attacks.len() >= 10, "{attacks:?}");
    let (mut failures, mut as_expected, mut peak_growth) = (Vec::new(), 0, 0);
    for attack in &attacks {
        let mut summaries = Vec::new();
        for runner in &runners {
            let provider = runner.provider();
            let before = resident_memory();
            let result = runner.run_measured(attack, &fixtures);
            let growth = resident_memory().saturating_sub(before);
            peak_growth = peak_growth.max(growth);
            let verdict = match (attack.as_str(), &result) {
                ("use-after-drop", Err(trap)) => Ok(format!("trapped: {}", first_line(trap))),
                ("use-after-drop", Ok(r)) => Err(format!("did not trap: {r:?}")),
                (_, Ok((Ok(summary), _))) => Ok(summary.clone()),
                (_, Ok((Err(why), _))) => Err(why.clone()),
                (_, Err(trap)) => Err(format!("trap: {trap:#}")),
            };
            let verdict = verdict.and_then(|s| {
                if growth > budget {
                    Err(format!("host RSS grew {} MiB > budget", growth / MIB))
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
                        "hostile {attack:<20} {provider:<6} ok   rss+{:>4} MiB  {s}",
                        growth / MIB
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
        {
            if native != guest {
                println!("hostile {attack:<20} parity FAIL native {native:?} != guest {guest:?}");
                failures.push(format!("{attack}: the rustls providers differ"));
            }
            if let Some(Err(why)) = openssl
                .as_ref()
                .map(|o| memtls_openssl::parity(attack, o, native))
            {
                println!("hostile {attack:<20} parity FAIL {why}");
                failures.push(format!("{attack}: openssl differs"));
            }
        }
    }
    println!(
        "hostile-guest: {} attacks x {} providers, {as_expected} as expected, {} failures; \
         host alive; peak RSS growth {} MiB (budget {} MiB per store)",
        attacks.len(),
        runners.len(),
        failures.len(),
        peak_growth / MIB,
        budget / MIB
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

fn first_line(e: &wasmtime::Error) -> String {
    format!("{e:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}
