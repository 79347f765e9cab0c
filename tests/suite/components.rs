//! What the built components export and import, read back with wasmtime.

use memtls_host::Policy;
use memtls_host::runtime::engine;
use wasmtime::component::Component;

fn names(it: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = it.collect();
    v.sort();
    v
}

#[test]
fn guest_component_exports_memtls_tls() {
    let component = Component::new(engine(), memtls_artifacts::guest()).expect("compile guest");
    let ty = component.component_type();
    let exports = names(ty.exports(engine()).map(|(n, _)| n.to_string()));
    println!("guest exports: {exports:?}");
    assert_eq!(
        exports,
        ["memtls:tls/insecure@0.1.0", "memtls:tls/tls@0.1.0"]
    );
    let imports = names(ty.imports(engine()).map(|(n, _)| n.to_string()));
    println!("guest imports: {imports:?}");
    // WASI, and the policy the host composes in (never the application).
    assert!(
        imports
            .iter()
            .all(|i| i.starts_with("wasi:") || i == "memtls:tls/policy@0.1.0"),
        "{imports:?}"
    );
    assert!(imports.iter().any(|i| i == "memtls:tls/policy@0.1.0"));
}

#[test]
fn composition_leaves_only_wasi_imports() {
    let composed = memtls_host::compose_with_guest(
        memtls_test_harness::scenarios_component(),
        memtls_artifacts::guest_component(),
        &Policy::default(),
    )
    .expect("compose");
    let component = Component::new(engine(), &composed).expect("compile composition");
    let ty = component.component_type();
    let imports = names(ty.imports(engine()).map(|(n, _)| n.to_string()));
    assert!(
        imports.iter().all(|i| i.starts_with("wasi:")),
        "{imports:?}"
    );
    let exports = names(ty.exports(engine()).map(|(n, _)| n.to_string()));
    // The runner's verify returns memtls:tls's error: the interface that type
    // belongs to is exported with it, nothing else.
    assert_eq!(
        exports,
        ["memtls:test/runner@0.1.0", "memtls:tls/tls@0.1.0"]
    );
}

#[test]
fn composing_a_non_component_is_a_clear_error() {
    let err = memtls_host::compose_with_guest(
        b"\0asm\x01\0\0\0",
        memtls_artifacts::guest_component(),
        &Policy::default(),
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("not a usable component"), "{msg}");
}
