//! The cache of compiled components (`memtls_host::runtime::load`): the
//! second load of a composition comes from it; another policy is another
//! entry, and every cached composition still enforces the policy it was made
//! with; the application as it is (the native provider) is one more entry; a
//! damaged entry is replaced, never run. Under `umask 000` the cache is still
//! private (0700 directories, 0600 files); entries swapped between keys,
//! with flipped bytes, open to others or planted as another user's are
//! rebuilt, never mapped; and no directory grant may reach the cache. The
//! cache of compiled functions (wasmtime's incremental compilation) makes a
//! new policy cheap: its composition reuses the functions compiled for the
//! last one; it is private too, and a damaged function is compiled anew.
//!
//! One test in its own binary: it points `XDG_CACHE_HOME` at a scratch
//! directory before anything else runs.

use std::path::PathBuf;

use memtls_host::{Policy, Provider};
use memtls_loopback::{Certs, start_https_server};
use memtls_test_harness::peers::{Example, Files, result_field};
use memtls_test_harness::{examples, load};

#[test]
fn components_are_cached_per_policy_and_damaged_entries_replaced() {
    let home = Files::scratch("composition-cache");
    // SAFETY: this binary's only test sets the variable before it starts any
    // thread or reads the environment anywhere else.
    unsafe { std::env::set_var("XDG_CACHE_HOME", &home.dir) };
    // SAFETY: umask only sets the process's file mode mask; no other thread
    // creates files yet. Everything the cache makes from here on must be
    // private all the same.
    unsafe { libc::umask(0) };
    // The runtime tells its progress to the embedder, not to stderr: this
    // embedder collects what it is told (before the command's settings
    // would be installed).
    static TOLD: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    memtls_host::runtime::Settings {
        notices: Some(std::sync::Arc::new(
            |notice: &memtls_host::runtime::Notice<'_>| {
                TOLD.lock().unwrap().push(format!("{notice:?}"));
            },
        )),
        ..Default::default()
    }
    .install()
    .expect("the first settings of this process");
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
    let certs = Certs::generate().unwrap();
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
        TOLD.lock().unwrap().clear();
        let started = std::time::Instant::now();
        let loaded = load(examples::https_get(), Provider::Guest, policy, "https-get").unwrap();
        let told = TOLD.lock().unwrap().join("\n");
        if started.elapsed() > std::time::Duration::from_millis(1500) && !loaded.cached() {
            // A compilation of more than a second is told, start and end.
            assert!(
                told.contains("Compiling { label: \"https-get\"")
                    && told.contains("Compiled { label: \"https-get\""),
                "a {:.1} s compilation told nothing: {told:?}",
                started.elapsed().as_secs_f64()
            );
        }
        if loaded.cached() {
            assert!(
                !told.contains("Compiling"),
                "a cached load told a compilation: {told}"
            );
        }
        let (code, out, err) = https_get.run_loaded(&loaded, &files, &["--insecure", &url]);
        let allowed = code == 0 && result_field(&out, "status").as_deref() == Some("200");
        assert!(
            allowed || err.contains("insecure interface is disabled"),
            "https-get --insecure: neither fetched nor refused by the policy: {out}{err}"
        );
        (loaded.cached(), allowed)
    };

    let reuse = memtls_host::runtime::function_reuse;
    assert_eq!(
        insecure_allowed(&strict),
        (false, false),
        "first load: composed"
    );
    assert_eq!(entries().len(), 1, "one compiled composition kept");
    // A fresh cache: the functions are compiled (the same function in two
    // of the composition's modules, a libc routine in both, is compiled once).
    let first = reuse();
    assert!(
        first.compiled > 100 && first.compiled > first.reused,
        "a first compilation in a fresh cache compiles its functions: {first:?}"
    );
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
    // The lax composition differs from the strict one only in the policy:
    // its functions were compiled for the strict one already.
    let second = reuse();
    let (reused, compiled) = (
        second.reused - first.reused,
        second.compiled - first.compiled,
    );
    assert!(
        reused * 10 >= (reused + compiled) * 9 && reused > 100,
        "another policy should reuse at least 90% of the functions: {reused} reused, \
         {compiled} compiled"
    );
    println!("another policy: {reused} functions reused, {compiled} compiled");
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
    // Which entry is whose: the one a rebuild replaced since (it no longer
    // holds the damage; modification times are too coarse to order them,
    // and a new file may reuse the old one's inode).
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let still_damaged = || -> Vec<PathBuf> {
        entries()
            .into_iter()
            .filter(|p| std::fs::read(p).unwrap() == b"not a compiled component")
            .collect()
    };
    let replaced = |before: &[PathBuf]| -> PathBuf {
        let now = still_damaged();
        let mut new: Vec<PathBuf> = before
            .iter()
            .filter(|p| !now.contains(p))
            .cloned()
            .collect();
        assert_eq!(new.len(), 1, "one entry replaced: {new:?}");
        new.pop().unwrap()
    };
    let damaged = still_damaged();
    assert_eq!(
        insecure_allowed(&strict),
        (false, false),
        "a damaged entry is composed and compiled anew"
    );
    assert_eq!(insecure_allowed(&strict), (true, false), "and kept again");
    println!("a damaged entry is replaced, not run");
    let strict_entry = replaced(&damaged);

    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().mode() & 0o777;
    let cache = home.dir.join("memtls/components");
    assert_eq!(mode(&cache), 0o700, "the cache directory under umask 000");
    assert_eq!(mode(&home.dir.join("memtls")), 0o700);
    assert_eq!(
        mode(&home.dir.join("wasmtime")),
        0o700,
        "wasmtime's cache too"
    );
    let functions = home.dir.join("memtls/functions");
    assert_eq!(mode(&functions), 0o700, "the cache of compiled functions");
    for entry in std::fs::read_dir(&cache)
        .unwrap()
        .chain(std::fs::read_dir(&functions).unwrap())
        .flatten()
    {
        assert_eq!(mode(&entry.path()), 0o600, "{}", entry.path().display());
    }
    println!("under umask 000: directories 0700, files 0600");

    // Compiled functions with a flipped byte are compiled anew, never used: a
    // new policy (one more anchor) looks them up, each fails its HMAC and is
    // replaced by a fresh compilation, and the composition runs and enforces
    // its policy.
    let mut flipped = Vec::new();
    for entry in std::fs::read_dir(&functions).unwrap().flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "secret") {
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        flipped.push((path, bytes));
    }
    let anchored = Policy {
        extra_system_anchors: vec![certs.ca_pem.clone().into_bytes()],
        ..Policy::default()
    };
    let counted = reuse();
    assert_eq!(insecure_allowed(&anchored), (false, false));
    let after = reuse();
    // What this composition shares with the earlier ones (all but the other
    // variants' own functions) was looked up: each damaged entry refused (the
    // store counts it), removed and replaced by a fresh compilation.
    let renewed = flipped
        .iter()
        .filter(|(path, bytes)| std::fs::read(path).map_or(true, |now| now != *bytes))
        .count();
    let refused = after.refused - counted.refused;
    assert!(
        renewed > 1000 && refused as usize == renewed,
        "each damaged function looked up must be refused and compiled anew: {renewed} of {} \
         replaced, {refused} refused",
        flipped.len()
    );
    let compiled = after.compiled - counted.compiled;
    assert!(
        compiled as usize >= renewed,
        "{renewed} damaged functions replaced but only {compiled} compiled"
    );
    println!(
        "{} compiled functions with a flipped byte: {renewed} looked up, refused and \
         compiled anew ({compiled} compiled, {} reused within the compilation)",
        flipped.len(),
        after.reused - counted.reused
    );

    let before = still_damaged();
    assert!(!native(&lax), "the native entry damaged above is rebuilt");
    let native_entry = replaced(&before);
    assert_ne!(strict_entry, native_entry);
    assert!(native(&lax), "and mapped");

    let rebuilt = std::time::Instant::now();
    // Swapped: the native entry and its tag copied over the strict one's.
    let tag = |p: &std::path::Path| p.with_extension("tag");
    std::fs::copy(&native_entry, &strict_entry).unwrap();
    std::fs::copy(tag(&native_entry), tag(&strict_entry)).unwrap();
    assert_eq!(
        insecure_allowed(&strict),
        (false, false),
        "an entry swapped in from another key is rebuilt, and the policy holds"
    );
    // Flipped: 64 bytes in the middle of the code, the tag left alone.
    let mut bytes = std::fs::read(&strict_entry).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 64] {
        *b ^= 0xff;
    }
    std::fs::write(&strict_entry, &bytes).unwrap();
    assert_eq!(
        insecure_allowed(&strict),
        (false, false),
        "an entry with flipped bytes is rebuilt, not mapped"
    );
    // Open to others: a right entry whose mode lets others write it.
    std::fs::set_permissions(&strict_entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(
        insecure_allowed(&strict),
        (false, false),
        "an entry others may write is rebuilt"
    );
    // Planted by another user: a right entry owned by nobody.
    std::os::unix::fs::chown(&strict_entry, Some(65534), None).unwrap();
    assert_eq!(
        insecure_allowed(&strict),
        (false, false),
        "an entry of another user is rebuilt"
    );
    assert_eq!(std::fs::metadata(&strict_entry).unwrap().uid(), unsafe {
        // SAFETY: geteuid cannot fail and touches no memory.
        libc::geteuid()
    });
    assert_eq!(insecure_allowed(&strict), (true, false), "and kept again");
    println!(
        "cache tampering: swapped, 64 flipped bytes, mode 0666 and another user's entries \
         rebuilt, never mapped (then mapped again): five loads and runs in {:.1} s",
        rebuilt.elapsed().as_secs_f64()
    );

    // No grant reaches the cache: not its parent, not the cache, not inside.
    for grant in [
        home.dir.clone(),
        home.dir.join("memtls"),
        cache.clone(),
        home.dir.join("wasmtime"),
        std::path::PathBuf::from("/"),
    ] {
        let e = memtls_host::runtime::check_grant(&grant).unwrap_err();
        assert!(
            format!("{e}").contains("holds native code"),
            "{}: {e}",
            grant.display()
        );
    }
    memtls_host::runtime::check_grant(&files.dir).expect("an unrelated directory is granted");
    println!("directory grants that reach the caches are refused");
}
