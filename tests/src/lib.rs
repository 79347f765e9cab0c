//! The memtls test harness: certificates generated for each run, and the
//! scenario component loaded under either provider.
//!
//! The integration tests in `tests/tests/` use it.

#![warn(missing_docs)]

pub mod bench;
pub mod peers;
pub mod wasi_tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use memtls_cli::{Host, Loaded};
use memtls_host::{Policy, Provider};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
    PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
};
use time::{Duration, OffsetDateTime};
use wasmtime::component::Instance;
use wasmtime::error::Context as _;
use wasmtime::{Result, Store, bail};
use wasmtime_wasi::WasiCtx;

/// The scenario component built by this crate's build script.
pub fn scenarios_component() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_SCENARIOS_WASM"))
}

/// The scenario component prepared (composed if needed, compiled, linked) for
/// one provider, with the policy its instances run under.
pub struct Scenarios {
    loaded: Loaded,
}

/// The runner's export name.
const RUNNER: &str = "memtls:test/runner@0.1.0";

impl Scenarios {
    /// Prepares the scenario component for `provider` under `policy`.
    pub fn load(provider: Provider, policy: Policy) -> Result<Self> {
        let loaded = memtls_cli::load(scenarios_component(), provider, &policy, "scenarios")?;
        Ok(Self { loaded })
    }

    /// The provider this was prepared for.
    pub fn provider(&self) -> Provider {
        self.loaded.provider()
    }

    fn instantiate(&self) -> Result<(Store<Host>, Instance)> {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stderr();
        self.loaded.instantiate(wasi)
    }

    fn func<P, R>(
        store: &mut Store<Host>,
        instance: &Instance,
        name: &str,
    ) -> Result<wasmtime::component::TypedFunc<P, R>>
    where
        P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
        R: wasmtime::component::ComponentNamedList + wasmtime::component::Lift,
    {
        let runner = instance
            .get_export_index(&mut *store, None, RUNNER)
            .with_context(|| format!("component does not export {RUNNER}"))?;
        let idx = instance
            .get_export_index(&mut *store, Some(&runner), name)
            .with_context(|| format!("{RUNNER} has no function {name}"))?;
        instance.get_typed_func::<P, R>(&mut *store, &idx)
    }

    /// The scenario names.
    pub fn list(&self) -> Result<Vec<String>> {
        let (mut store, instance) = self.instantiate()?;
        let f = Self::func::<(), (Vec<String>,)>(&mut store, &instance, "list-scenarios")?;
        Ok(f.call(&mut store, ())?.0)
    }

    /// The hostile-guest attacks (run them with [`Scenarios::run_measured`]).
    pub fn attacks(&self) -> Result<Vec<String>> {
        let (mut store, instance) = self.instantiate()?;
        let f = Self::func::<(), (Vec<String>,)>(&mut store, &instance, "list-attacks")?;
        Ok(f.call(&mut store, ())?.0)
    }

    /// Runs one scenario in a fresh instance.
    pub fn run(&self, name: &str, fixtures: &Fixtures) -> Result<Result<String, String>> {
        Ok(self.run_measured(name, fixtures)?.0)
    }

    /// Runs one scenario in a fresh instance; also returns the peak linear memory
    /// of the store (application and, with the guest provider, guest) in bytes.
    pub fn run_measured(
        &self,
        name: &str,
        fixtures: &Fixtures,
    ) -> Result<(Result<String, String>, usize)> {
        let (mut store, instance) = self.instantiate()?;
        let f = Self::func::<(String, Vec<(String, Vec<u8>)>), (Result<String, String>,)>(
            &mut store, &instance, "run",
        )?;
        let args: Vec<(String, Vec<u8>)> = fixtures.0.clone().into_iter().collect();
        let result = f.call(&mut store, (name.to_owned(), args))?.0;
        Ok((result, store.data().linear_memory().1))
    }

    /// Runs `warmup` then `count` create / handshake / drop cycles in one
    /// instance, calling `between` after the warm-up. Returns the store's linear
    /// memory after the warm-up and at the end, and the native provider's live
    /// connections at the end.
    pub fn cycles(
        &self,
        fixtures: &Fixtures,
        warmup: u32,
        count: u32,
        between: impl FnOnce(),
    ) -> Result<CycleReport> {
        let (mut store, instance) = self.instantiate()?;
        let f = Self::func::<(Vec<(String, Vec<u8>)>, u32), (Result<u32, String>,)>(
            &mut store, &instance, "cycles",
        )?;
        let args: Vec<(String, Vec<u8>)> = fixtures.0.clone().into_iter().collect();
        f.call(&mut store, (args.clone(), warmup))?
            .0
            .map_err(wasmtime::Error::msg)?;
        let after_warmup = store.data().linear_memory().0;
        between();
        let done = f
            .call(&mut store, (args, count))?
            .0
            .map_err(wasmtime::Error::msg)?;
        Ok(CycleReport {
            completed: done,
            memory_after_warmup: after_warmup,
            memory_at_end: store.data().linear_memory().0,
            live_native_connections: store.data().native_connections(),
        })
    }

    /// A verifier instance for many chain checks (x509-limbo).
    pub fn verifier(&self) -> Result<Verifier> {
        let (mut store, instance) = self.instantiate()?;
        let func = Self::func(&mut store, &instance, "verify")?;
        Ok(Verifier { store, func })
    }
}

/// What [`Scenarios::cycles`] measured.
#[derive(Debug, Clone, Copy)]
pub struct CycleReport {
    /// Cycles completed after the warm-up.
    pub completed: u32,
    /// Linear memory of the store after the warm-up, in bytes.
    pub memory_after_warmup: usize,
    /// Linear memory of the store at the end, in bytes.
    pub memory_at_end: usize,
    /// Connections the native provider still held at the end.
    pub live_native_connections: usize,
}

/// Resident memory of this process (VmRSS), in bytes.
pub fn resident_memory() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<usize>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

type VerifyFunc = wasmtime::component::TypedFunc<
    (
        Vec<Vec<u8>>,
        Vec<Vec<u8>>,
        Vec<Vec<u8>>,
        String,
        Option<u64>,
    ),
    (Result<(), String>,),
>;

/// Chain verification through the interface of one provider.
pub struct Verifier {
    store: Store<Host>,
    func: VerifyFunc,
}

impl Verifier {
    /// Verifies `chain` (end-entity first) against the anchors and pins of
    /// `trust` (not `system`) for `name` at `time`. Err holds "kind message".
    pub fn verify(
        &mut self,
        trust: &memtls_engine::TrustStore,
        chain: &[Vec<u8>],
        name: &str,
        time: Option<u64>,
    ) -> Result<Result<(), String>> {
        let args = (
            trust.anchors.clone(),
            trust.pinned.clone(),
            chain.to_vec(),
            name.to_owned(),
            time,
        );
        Ok(self.func.call(&mut self.store, args)?.0)
    }
}

/// Named certificates and keys for the scenarios, generated fresh.
#[derive(Clone, Debug, Default)]
pub struct Fixtures(pub BTreeMap<String, Vec<u8>>);

struct Leaf {
    chain_pem: String,
    der: Vec<u8>,
    key: KeyPair,
}

fn leaf(
    names: &[&str],
    issuer: &CertifiedIssuer<'_, KeyPair>,
    key: KeyPair,
    validity: Option<(OffsetDateTime, OffsetDateTime)>,
) -> Result<Leaf> {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    params
        .distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
    if let Some((from, to)) = validity {
        params.not_before = from;
        params.not_after = to;
    }
    let cert = params.signed_by(&key, issuer)?;
    Ok(Leaf {
        chain_pem: cert.pem(),
        der: cert.der().to_vec(),
        key,
    })
}

fn new_ca(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

/// Runs `openssl` with `args`, feeding `input`, returning its output.
fn openssl(args: &[&str], input: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running `openssl` (needed to make RSA, SEC1 and PKCS#1 test keys)")?;
    child.stdin.take().expect("stdin").write_all(input)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

impl Fixtures {
    /// Generates every certificate and key the scenarios use.
    pub fn generate() -> Result<Self> {
        let mut f = BTreeMap::new();
        let now = OffsetDateTime::now_utc();
        let ca = new_ca("memtls test CA")?;
        let other_ca = new_ca("memtls unknown CA")?;
        let client_ca = new_ca("memtls client CA")?;
        f.insert("ca".into(), ca.pem().into_bytes());
        f.insert("client-ca".into(), client_ca.pem().into_bytes());

        let mut put = |prefix: &str, leaf: Leaf| {
            f.insert(format!("{prefix}.chain"), leaf.chain_pem.into_bytes());
            f.insert(format!("{prefix}.der"), leaf.der);
            f.insert(
                format!("{prefix}.key"),
                leaf.key.serialize_pem().into_bytes(),
            );
            f.insert(format!("{prefix}.key.pkcs8.der"), leaf.key.serialize_der());
        };
        put(
            "server",
            leaf(&["localhost", "a.test"], &ca, KeyPair::generate()?, None)?,
        );
        put("b", leaf(&["b.test"], &ca, KeyPair::generate()?, None)?);
        put(
            "client",
            leaf(&["client.test"], &client_ca, KeyPair::generate()?, None)?,
        );
        put(
            "expired",
            leaf(
                &["localhost"],
                &ca,
                KeyPair::generate()?,
                Some((now - Duration::days(30), now - Duration::days(1))),
            )?,
        );
        put(
            "notyet",
            leaf(
                &["localhost"],
                &ca,
                KeyPair::generate()?,
                Some((now + Duration::days(1), now + Duration::days(30))),
            )?,
        );
        put(
            "unknown",
            leaf(&["localhost"], &other_ca, KeyPair::generate()?, None)?,
        );
        let p384 = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?;
        put("p384", leaf(&["localhost"], &ca, p384, None)?);
        // Made by openssl: ring writes Ed25519 keys as PKCS#8 v2, which OpenSSL 3.0
        // (a peer in the interop tests) does not read.
        let ed_pem = openssl(&["genpkey", "-algorithm", "ed25519"], b"")?;
        let ed25519 = KeyPair::from_pem_and_sign_algo(&String::from_utf8(ed_pem)?, &PKCS_ED25519)?;
        put("ed25519", leaf(&["localhost"], &ca, ed25519, None)?);
        // An all-Ed25519 chain (CA and leaf), for the Ed25519 handshake benchmark.
        let ed_ca = {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(DnType::CommonName, "memtls Ed25519 CA");
            CertifiedIssuer::self_signed(params, KeyPair::generate_for(&PKCS_ED25519)?)?
        };
        let ed_ca_pem = ed_ca.pem();
        put(
            "ed25519-all",
            leaf(
                &["localhost"],
                &ed_ca,
                KeyPair::generate_for(&PKCS_ED25519)?,
                None,
            )?,
        );
        // Self-signed leaf for pinning.
        let self_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["pinned.test".to_string()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "pinned.test");
        let self_cert = params.self_signed(&self_key)?;
        put(
            "self",
            Leaf {
                chain_pem: self_cert.pem(),
                der: self_cert.der().to_vec(),
                key: self_key,
            },
        );
        // Self-signed and CA:TRUE, as `openssl req -x509` makes them.
        let self_ca_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let self_ca = params.self_signed(&self_ca_key)?;
        put(
            "self-ca",
            Leaf {
                chain_pem: self_ca.pem(),
                der: self_ca.der().to_vec(),
                key: self_ca_key,
            },
        );
        // RSA: ring cannot generate RSA keys, openssl can.
        let rsa_pem = openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ],
            b"",
        )?;
        let rsa_key =
            KeyPair::from_pem_and_sign_algo(&String::from_utf8(rsa_pem)?, &PKCS_RSA_SHA256)?;
        put("rsa", leaf(&["localhost"], &ca, rsa_key, None)?);

        // Other encodings of the same keys.
        f.insert("ed-ca".into(), ed_ca_pem.into_bytes());
        let server_key = f["server.key"].clone();
        f.insert(
            "server.key.sec1.pem".into(),
            openssl(&["ec", "-outform", "PEM"], &server_key)?,
        );
        f.insert(
            "server.key.sec1.der".into(),
            openssl(&["ec", "-outform", "DER"], &server_key)?,
        );
        let rsa_key = f["rsa.key"].clone();
        f.insert(
            "rsa.key.pkcs1.pem".into(),
            openssl(&["rsa", "-traditional", "-outform", "PEM"], &rsa_key)?,
        );
        f.insert(
            "rsa.key.pkcs1.der".into(),
            openssl(&["rsa", "-traditional", "-outform", "DER"], &rsa_key)?,
        );
        for (name, marker) in [
            ("server.key.sec1.pem", "BEGIN EC PRIVATE KEY"),
            ("rsa.key.pkcs1.pem", "BEGIN RSA PRIVATE KEY"),
        ] {
            if !String::from_utf8_lossy(&f[name]).contains(marker) {
                bail!("openssl did not produce a {marker} key for {name}");
            }
        }
        Ok(Self(f))
    }
}

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds `python/tests/<script>` into `target/python-tests/`, once per version of
/// its inputs (so wasmtime's compilation cache hits on later runs).
pub fn python_component(script: &str, python_path: Vec<PathBuf>) -> Vec<u8> {
    python_component_with(script, python_path, None)
}

/// [`python_component`] with the pip requirements file `python/tests/<requirements>`
/// (`memtls python build --requirements`).
pub fn python_component_with(
    script: &str,
    python_path: Vec<PathBuf>,
    requirements: Option<&str>,
) -> Vec<u8> {
    let out_dir = workspace().join("target/python-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut request = memtls_cli::python::PythonBuild {
        script: workspace().join("python/tests").join(script),
        output: PathBuf::new(),
        python_path,
        requirements: requirements.map(|r| workspace().join("python/tests").join(r)),
    };
    let key = memtls_cli::python::fingerprint(&request).expect("fingerprint the build inputs");
    request.output = out_dir.join(format!(
        "{}-{key:016x}.wasm",
        script.trim_end_matches(".py")
    ));
    if !request.output.is_file() {
        let done = request.output.clone();
        request.output.set_extension("partial");
        memtls_cli::python::build(&request)
            .unwrap_or_else(|e| panic!("memtls python build {script}: {e:#}"));
        std::fs::rename(&request.output, &done).unwrap();
        request.output = done;
    }
    std::fs::read(&request.output).unwrap()
}
