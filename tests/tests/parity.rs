//! The parity suite: every scenario of the scenario component runs under the
//! native provider and under the guest provider; each must pass, and both must
//! observe the same thing.

use memtls_host::{Policy, Provider};
use memtls_tests::{Fixtures, Scenarios};

#[test]
fn parity() {
    let fixtures = Fixtures::generate().expect("generating certificates");
    let policy = Policy {
        allow_insecure: true,
        ..Policy::default()
    };
    let runners: Vec<Scenarios> = Provider::ALL
        .iter()
        .map(|p| Scenarios::load(*p, policy.clone()).expect("loading the scenario component"))
        .collect();
    let names = runners[0].list().expect("listing scenarios");
    assert!(names.len() >= 30, "only {} scenarios", names.len());
    let mut failures = Vec::new();
    let mut passed = 0;
    for name in &names {
        let mut results = Vec::new();
        for runner in &runners {
            let result = runner
                .run(name, &fixtures)
                .unwrap_or_else(|trap| Err(format!("trap: {trap:#}")));
            match &result {
                Ok(summary) => println!("{name:<24} {:<6} ok    {summary}", runner.provider()),
                Err(why) => {
                    println!("{name:<24} {:<6} FAIL  {why}", runner.provider());
                    failures.push(format!("{name} on {}: {why}", runner.provider()));
                }
            }
            results.push(result);
        }
        if results.iter().all(Result::is_ok) {
            if results[0] == results[1] {
                passed += 1;
            } else {
                println!("{name:<24} parity FAIL  providers observed different results");
                failures.push(format!(
                    "{name}: native {:?} != guest {:?}",
                    results[0], results[1]
                ));
            }
        }
    }
    println!(
        "parity: {passed} scenarios passed on both providers with equal results, {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

#[test]
fn connection_cap_is_enforced_by_both_providers() {
    // With a cap of zero, connecting must give a resource-limit error, not trap.
    let fixtures = Fixtures::generate().expect("generating certificates");
    let policy = Policy {
        max_connections: 0,
        ..Policy::default()
    };
    for provider in Provider::ALL {
        let runner = Scenarios::load(provider, policy.clone()).expect("loading");
        let result = runner.run("tls13-handshake", &fixtures).expect("no trap");
        let why = result.expect_err("connecting must fail under a cap of zero");
        assert!(why.starts_with("resource-limit:"), "{provider}: {why}");
        assert!(
            why.contains("at most 0 live connections"),
            "{provider}: {why}"
        );
    }
}

#[test]
fn insecure_is_refused_by_default_on_both_providers() {
    let fixtures = Fixtures::generate().expect("generating certificates");
    for provider in Provider::ALL {
        let runner = Scenarios::load(provider, Policy::default()).expect("loading");
        let why = runner
            .run("insecure", &fixtures)
            .expect("no trap")
            .expect_err("insecure must be refused");
        assert!(why.starts_with("not-permitted:"), "{provider}: {why}");
    }
}
