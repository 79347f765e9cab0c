//! The parity suite: every scenario of the scenario component runs under the
//! native, the guest and the openssl provider, each as its own test (a module
//! per scenario, a test per provider); each must pass, and all must observe the
//! same thing (the openssl provider but for the differences memtls-openssl
//! lists, each with its reason). The list of scenarios is `tests/scenario-suite/src/list.rs`.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use memtls_host::{Policy, Provider};
use memtls_test_harness::{Fixtures, Scenarios};

/// What one scenario observed under one provider (its summary, or why it failed).
type Observed = Result<String, String>;

/// The scenario component for each provider, the fixtures, and every result so
/// far: each scenario runs once per provider, whichever test asks first.
struct Suite {
    fixtures: Fixtures,
    runners: Vec<Scenarios>,
    results: Mutex<HashMap<(&'static str, Provider), Observed>>,
}

fn suite() -> &'static Suite {
    static SUITE: OnceLock<Suite> = OnceLock::new();
    SUITE.get_or_init(|| {
        let policy = Policy {
            allow_insecure: true,
            ..Policy::default()
        };
        Suite {
            fixtures: Fixtures::generate().expect("generating certificates"),
            runners: [Provider::Native, Provider::Guest, Provider::OpenSsl]
                .iter()
                .map(|p| {
                    Scenarios::load(*p, policy.clone()).expect("loading the scenario component")
                })
                .collect(),
            results: Mutex::new(HashMap::new()),
        }
    })
}

/// Runs `name` under `provider` (once; later calls get the same result).
fn observed(name: &'static str, provider: Provider) -> Observed {
    let suite = suite();
    if let Some(r) = suite.results.lock().unwrap().get(&(name, provider)) {
        return r.clone();
    }
    let runner = suite
        .runners
        .iter()
        .find(|r| r.provider() == provider)
        .expect("a runner per provider");
    let result = runner
        .run(name, &suite.fixtures)
        .unwrap_or_else(|trap| Err(format!("trap: {trap:#}")));
    suite
        .results
        .lock()
        .unwrap()
        .entry((name, provider))
        .or_insert(result)
        .clone()
}

/// The scenario passes under `provider` and observes what every other provider
/// observes.
fn check(name: &'static str, provider: Provider) {
    let mine = match observed(name, provider) {
        Ok(summary) => summary,
        Err(why) => panic!("{name} under {provider}: {why}"),
    };
    println!("{name:<24} {provider:<6} ok    {mine}");
    for other in memtls_test_harness::RUSTLS_PROVIDERS
        .into_iter()
        .filter(|p| *p != provider)
    {
        match observed(name, other) {
            Err(why) => panic!("{name} passes under {provider} but fails under {other}: {why}"),
            Ok(theirs) => assert_eq!(
                mine, theirs,
                "{name}: {provider} and {other} observed different results"
            ),
        }
    }
}

/// The scenario passes on the openssl provider and observes what the native
/// provider observes, but for the differences memtls-openssl lists.
fn check_openssl(name: &'static str) {
    let provider = Provider::OpenSsl;
    let mine = observed(name, provider).unwrap_or_else(|why| panic!("{name} under openssl: {why}"));
    println!("{name:<24} {provider:<6} ok    {mine}");
    let theirs = observed(name, Provider::Native)
        .unwrap_or_else(|why| panic!("{name} passes under openssl but fails under native: {why}"));
    match memtls_scenario_suite::parity::parity(name, &mine, &theirs) {
        Ok(None) => {}
        Ok(Some(why)) => println!("{name}: differs as listed ({why})"),
        Err(why) => panic!("{why}"),
    }
}

/// One module per scenario, one test per provider in it
/// (`cargo test --test parity -- tls13_handshake::guest`).
macro_rules! parity_tests {
    ($($function:ident: $name:literal,)*) => {
        $(
            mod $function {
                #[test]
                fn native() {
                    super::check($name, memtls_host::Provider::Native);
                }
                #[test]
                fn guest() {
                    super::check($name, memtls_host::Provider::Guest);
                }
                #[test]
                fn openssl() {
                    super::check_openssl($name);
                }
            }
        )*

        /// The component runs exactly the scenarios this suite has tests for.
        #[test]
        fn every_scenario_has_its_tests() {
            let listed = suite().runners[0].list().expect("listing scenarios");
            assert_eq!(listed, [$($name),*], "the component's list and this suite's differ");
        }
    };
}
memtls_scenario_suite::foreach_scenario!(parity_tests);

#[test]
fn connection_cap_is_enforced_by_both_providers() {
    // With a cap of zero, connecting must give a resource-limit error, not trap.
    let fixtures = Fixtures::generate().expect("generating certificates");
    let policy = Policy {
        max_connections: 0,
        ..Policy::default()
    };
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
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
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        let runner = Scenarios::load(provider, Policy::default()).expect("loading");
        let why = runner
            .run("insecure", &fixtures)
            .expect("no trap")
            .expect_err("insecure must be refused");
        assert!(why.starts_with("not-permitted:"), "{provider}: {why}");
    }
}
