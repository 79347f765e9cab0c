//! What the built components export and import, read back with wasmtime; and
//! that a host identity's key stays out of every linear memory of a store.

use memtls_host::runtime::engine;
use memtls_host::{Policy, Provider};
use wasmtime::component::Component;

const MIB: usize = 1 << 20;

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
    // WASI, the policy the host composes in and the host's signer (never the
    // application's).
    let own = ["memtls:tls/host-signer@0.1.0", "memtls:tls/policy@0.1.0"];
    assert!(
        imports
            .iter()
            .all(|i| i.starts_with("wasi:") || own.contains(&i.as_str())),
        "{imports:?}"
    );
    for import in own {
        assert!(imports.iter().any(|i| i == import), "{imports:?}");
    }
}

/// An identity made from the scenario fixtures' server chain and key.
fn identity(name: &str) -> std::sync::Arc<memtls_engine::HostIdentity> {
    let (_, chain, key) = memtls_scenario_suite::fixtures::server().expect("fixtures");
    let chain = memtls_engine::parse_certificates(&[chain], "chain").unwrap();
    let key = memtls_engine::rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(memtls_engine::parse_private_key(&key).unwrap())
        .unwrap();
    std::sync::Arc::new(memtls_engine::HostIdentity::new(name, chain, key, &[], "fixture").unwrap())
}

/// With identities granted, the composition imports `host-signer` for the
/// host holding their keys to serve; without, a stand-in fills it and only
/// WASI is left (`composition_leaves_only_wasi_imports`).
#[test]
fn a_composition_granting_identities_imports_the_hosts_signer() {
    let policy = Policy {
        identities: vec![identity("web")],
        ..Policy::default()
    };
    let (_, imports) = composed_scenarios(&policy);
    assert!(
        imports
            .iter()
            .all(|i| i.starts_with("wasi:") || i == "memtls:tls/host-signer@0.1.0"),
        "{imports:?}"
    );
    assert!(
        imports.iter().any(|i| i == "memtls:tls/host-signer@0.1.0"),
        "{imports:?}"
    );
}

/// A program that imports `host-signer` itself (here the guest provider,
/// which does, standing in as the application) is not composed: only the
/// guest provider may reach the host's signer.
#[test]
fn an_application_importing_the_hosts_signer_is_refused() {
    for policy in [
        Policy::default(),
        Policy {
            identities: vec![identity("web")],
            ..Policy::default()
        },
    ] {
        let err = memtls_host::compose_with_guest(
            memtls_artifacts::guest(),
            memtls_artifacts::guest_component(),
            &policy,
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("the application imports memtls:tls/host-signer@0.1.0")
                && msg.contains("only the guest provider may use it"),
            "{msg}"
        );
    }
}

/// The scenario component composed with the guest provider under `policy`,
/// compiled, and its imports.
fn composed_scenarios(policy: &Policy) -> (Component, Vec<String>) {
    let composed = memtls_host::compose_with_guest(
        memtls_test_harness::scenarios_component(),
        memtls_artifacts::guest_component(),
        policy,
    )
    .expect("compose");
    let component = Component::new(engine(), &composed).expect("compile composition");
    let imports = names(
        component
            .component_type()
            .imports(engine())
            .map(|(n, _)| n.to_string()),
    );
    (component, imports)
}

#[test]
fn composition_leaves_only_wasi_imports() {
    let (component, imports) = composed_scenarios(&Policy::default());
    let ty = component.component_type();
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

/// Store data for [`identities_stay_in_the_host`]: WASI, the native
/// provider's state (none for the guest provider) and the host's signer.
struct Scanned {
    wasi: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
    memtls: Option<memtls_host::MemtlsCtx>,
    signer: memtls_host::HostSigner,
}

impl wasmtime_wasi::WasiView for Scanned {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl memtls_host::MemtlsView for Scanned {
    fn memtls(&mut self) -> memtls_host::MemtlsCtxView<'_> {
        memtls_host::MemtlsCtxView {
            ctx: self
                .memtls
                .as_mut()
                .expect("linked for the native provider only"),
            table: &mut self.table,
        }
    }
}

/// Every linear memory of every core instance in `store` (the application's
/// and, composed in, the guest provider's and the policy's), read with
/// wasmtime's guest-debug API.
fn all_memories(store: &mut wasmtime::Store<Scanned>) -> Vec<Vec<u8>> {
    let mut seen = std::collections::HashSet::new();
    let mut memories = Vec::new();
    for instance in store.debug_all_instances() {
        for index in 0u32.. {
            let Some(memory) = instance.debug_memory(&mut *store, index) else {
                break;
            };
            if seen.insert(memory.debug_index_in_store()) {
                memories.push(memory.data(&*store).to_vec());
            }
        }
    }
    memories
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A component granted an identity the host holds serves a TLS 1.3
/// handshake with it on every provider (attack `host-identity-misuse`: the
/// host signs; wrong purpose, other spellings and a key of its own
/// refused), and afterwards no linear memory in its store, the application's or the guest provider's,
/// holds the key: not its PKCS#8 encoding, its PEM text or its 32-byte
/// private scalar. The public certificate, which the attack keeps in its
/// memory, is found there: the scan sees what is in the memories.
#[test]
fn identities_stay_in_the_host() {
    use memtls_engine::rustls::pki_types::CertificateDer;
    use memtls_engine::{HostIdentity, Purpose};
    memtls_artifacts::install();
    let key = rcgen::KeyPair::generate().expect("a key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .expect("parameters")
        .self_signed(&key)
        .expect("a certificate");
    let pkcs8 = key.serialize_der();
    let pem = key.serialize_pem();
    // SEC1's ECPrivateKey inside PKCS#8: version 1, then the scalar as a
    // 32-byte OCTET STRING.
    let at = pkcs8
        .windows(5)
        .position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20])
        .expect("a P-256 scalar in the PKCS#8 encoding")
        + 5;
    let scalar = &pkcs8[at..at + 32];
    let pem_line = pem.lines().nth(1).expect("a PEM body").as_bytes();
    let signing_key = memtls_engine::rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(memtls_engine::parse_private_key(&pkcs8).unwrap())
        .unwrap();
    // The key's DER as well, for the openssl provider (which loads it in the
    // host as OpenSSL's own).
    let raw = memtls_engine::RawKey::Der(std::sync::Arc::new(
        memtls_engine::parse_private_key(&pkcs8).unwrap(),
    ));
    let identity = HostIdentity::new(
        "held",
        vec![CertificateDer::from(cert.der().to_vec())],
        signing_key,
        &[Purpose::Server],
        "generated",
    )
    .expect("the identity")
    .with_raw_key(raw);
    let policy = Policy {
        identities: vec![std::sync::Arc::new(identity)],
        ..Policy::default()
    };
    // The scenario fixtures (other keys than the identity's) for the client.
    let fixtures: Vec<(String, Vec<u8>)> = memtls_test_harness::Fixtures::generate()
        .expect("fixtures")
        .0
        .into_iter()
        .collect();
    let mut config = wasmtime::Config::new();
    config.guest_debug(true);
    let engine = wasmtime::Engine::new(&config).expect("a debugging engine");
    for provider in memtls_test_harness::PROVIDERS {
        let bytes = memtls_host::prepare_component(
            memtls_test_harness::scenarios_component(),
            provider,
            &policy,
        )
        .expect("prepare");
        let component = wasmtime::component::Component::new(&engine, &bytes).expect("compile");
        let mut linker = wasmtime::component::Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
        memtls_host::add_provider_to_linker(&mut linker, provider).unwrap();
        memtls_host::add_signer_to_linker(&mut linker, |s: &mut Scanned| &mut s.signer).unwrap();
        let memtls = match provider {
            Provider::Native => Some(memtls_host::MemtlsCtx::native(policy.clone()).unwrap()),
            Provider::OpenSsl => Some(memtls_host::MemtlsCtx::openssl(policy.clone())),
            Provider::Guest => None,
        };
        let mut store = wasmtime::Store::new(
            &engine,
            Scanned {
                wasi: wasmtime_wasi::WasiCtx::builder().inherit_stderr().build(),
                table: wasmtime::component::ResourceTable::new(),
                memtls,
                signer: memtls_host::HostSigner::new(policy.clone()),
            },
        );
        let instance = linker
            .instantiate(&mut store, &component)
            .expect("instantiate");
        let runner = instance
            .get_export_index(&mut store, None, "memtls:test/runner@0.1.0")
            .expect("the runner");
        let run = instance
            .get_export_index(&mut store, Some(&runner), "run")
            .expect("run");
        let run = instance
            .get_typed_func::<(String, Vec<(String, Vec<u8>)>), (Result<String, String>,)>(
                &mut store, &run,
            )
            .unwrap();
        let (summary,) = run
            .call(
                &mut store,
                ("host-identity-misuse".into(), fixtures.clone()),
            )
            .expect("the attack runs");
        let summary = summary.unwrap_or_else(|why| panic!("{provider}: {why}"));
        assert!(summary.starts_with("granted:"), "{provider}: {summary}");
        let memories = all_memories(&mut store);
        let bytes: usize = memories.iter().map(Vec::len).sum();
        assert!(
            memories.iter().any(|m| contains(m, cert.der())),
            "{provider}: the certificate should be in some memory of the store"
        );
        for (what, secret) in [
            ("the PKCS#8 key", &pkcs8[..]),
            ("the PEM text", pem_line),
            ("the private scalar", scalar),
        ] {
            assert!(
                !memories.iter().any(|m| contains(m, secret)),
                "{provider}: {what} is in the guest's memory"
            );
        }
        println!(
            "identity held on {provider}: {summary}; {} memories, {} MiB scanned, no key bytes",
            memories.len(),
            bytes / MIB
        );
    }
}
