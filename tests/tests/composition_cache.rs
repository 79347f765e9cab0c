//! The cache of compiled components (`memtls_host::runtime::load`): the
//! second load of a composition comes from it; another policy is another
//! entry, and every cached composition still enforces the policy it was made
//! with; the application as it is (the native provider) is one more entry; a
//! damaged entry is replaced, never run.
//!
//! One test in its own binary: it points `XDG_CACHE_HOME` at a scratch
//! directory before anything else runs.

use std::path::PathBuf;

use memtls_cli::demo::{DemoCerts, start_https_server};
use memtls_cli::{examples, load};
use memtls_host::{Policy, Provider};
use memtls_tests::peers::{Example, Files, result_field};

#[test]
fn components_are_cached_per_policy_and_damaged_entries_replaced() {
    let home = Files::scratch("composition-cache");
    // SAFETY: this binary's only test sets the variable before it starts any
    // thread or reads the environment anywhere else.
    unsafe { std::env::set_var("XDG_CACHE_HOME", &home.dir) };
    let entries = || -> Vec<PathBuf> {
        std::fs::read_dir(home.dir.join("memtls/components"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let certs = DemoCerts::generate().unwrap();
    let port = start_https_server(&certs, 100).unwrap();
    let url = format!("https://localhost:{port}/");
    let https_get = Example::new(examples::https_get(), "https-get");
    let files = Files::scratch("composition-cache-files");
    let strict = Policy::default();
    let lax = Policy {
        allow_insecure: true,
        ..Policy::default()
    };
    // Whether a load of https-get came from the cache, and whether its
    // `--insecure` fetch was allowed (the policy baked into that composition).
    let insecure_allowed = |policy: &Policy| -> (bool, bool) {
        let loaded = load(examples::https_get(), Provider::Guest, policy, "https-get").unwrap();
        let (code, out, err) = https_get.run_loaded(&loaded, &files, &["--insecure", &url]);
        let allowed = code == 0 && result_field(&out, "status").as_deref() == Some("200");
        assert!(
            allowed || err.contains("insecure interface is disabled"),
            "https-get --insecure: neither fetched nor refused by the policy: {out}{err}"
        );
        (loaded.cached(), allowed)
    };

    assert_eq!(
        insecure_allowed(&strict),
        (false, false),
        "first load: composed"
    );
    assert_eq!(entries().len(), 1, "one compiled composition kept");
    assert_eq!(
        insecure_allowed(&strict),
        (true, false),
        "second load: cached"
    );
    assert_eq!(
        insecure_allowed(&lax),
        (false, true),
        "another policy: composed anew, its own policy"
    );
    assert_eq!(entries().len(), 2, "one entry per policy");
    assert_eq!(insecure_allowed(&lax), (true, true));
    assert_eq!(
        insecure_allowed(&strict),
        (true, false),
        "the strict composition, cached, still refuses"
    );
    println!("compositions cached per policy; each enforces its own");

    // The native provider runs the application as it is: one entry for it,
    // whatever the policy (the host enforces that).
    let native = |policy: &Policy| {
        load(examples::https_get(), Provider::Native, policy, "https-get")
            .unwrap()
            .cached()
    };
    assert!(!native(&lax), "the application as it is: compiled once");
    assert_eq!(entries().len(), 3);
    assert!(native(&lax), "then mapped");
    assert!(native(&strict), "under any policy");
    assert_eq!(entries().len(), 3);

    for entry in entries() {
        std::fs::write(&entry, b"not a compiled component").unwrap();
    }
    assert_eq!(
        insecure_allowed(&strict),
        (false, false),
        "a damaged entry is composed and compiled anew"
    );
    assert_eq!(insecure_allowed(&strict), (true, false), "and kept again");
    println!("a damaged entry is replaced, not run");
}
