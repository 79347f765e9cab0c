//! `memtls`: run and compose WebAssembly components that use `memtls:tls`.
//!
//! ```text
//! memtls run [OPTIONS] COMPONENT [ARGS...]   run a wasi:cli command component
//! memtls compose COMPONENT -o OUT [POLICY]   plug the guest provider in, policy baked in
//! memtls demo                                offline demo: https-get against a loopback server, per provider
//! memtls python build APP.py -o APP.wasm     a Python script -> a command component (ssl works)
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use memtls_cli::{RunOptions, load, run};
use memtls_host::{BaseRoots, Policy, Provider};

/// Run and compose WebAssembly components that use memtls:tls.
#[derive(Parser)]
#[command(name = "memtls", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a wasi:cli command component, serving memtls:tls from the chosen provider.
    Run(RunArgs),
    /// Compose the guest provider into a component: the output needs no memtls host.
    /// The policy options are baked into the output (secure defaults when none
    /// are given); nothing the application or its environment does changes them.
    Compose {
        /// The application component (imports memtls:tls).
        component: PathBuf,
        /// Where to write the composed component.
        #[arg(short, long)]
        output: PathBuf,
        /// The policy the composed guest provider enforces.
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Offline demo: https-get against a loopback HTTPS server, once per provider.
    Demo,
    /// Python programs: build a script into a component whose `ssl` runs on memtls.
    #[command(subcommand)]
    Python(PythonCmd),
}

#[derive(Subcommand)]
enum PythonCmd {
    /// Build a Python script into a wasi:cli command component (needs componentize-py
    /// 0.25 from PyPI). Run the result with `memtls run`.
    Build {
        /// The script; it runs as __main__.
        script: PathBuf,
        /// Where to write the component.
        #[arg(short, long)]
        output: PathBuf,
        /// Another directory for the Python path (packages the script imports).
        #[arg(short = 'p', long = "python-path", value_name = "DIR")]
        python_path: Vec<PathBuf>,
        /// A pip requirements file: its packages, as pure-Python wheels for the
        /// component's CPython, are installed and bundled whole (every submodule,
        /// so lazy imports work; the build lists any that cannot be imported).
        #[arg(short = 'r', long, value_name = "FILE")]
        requirements: Option<PathBuf>,
        /// A module the script imports at its top level that may be missing from
        /// the component: the build then succeeds without it (the script fails
        /// when it reaches the import). Without this, such a module fails the build.
        #[arg(long, value_name = "MODULE")]
        allow_unbundled: Vec<String>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Which provider serves memtls:tls: native (host rustls, platform trust),
    /// guest (rustls inside Wasm, Mozilla roots) or openssl (the system's
    /// OpenSSL and its trust store, in the host).
    #[arg(long = "tls", default_value = "native", value_parser = parse_provider)]
    provider: Provider,
    /// Grant access to a host directory: HOST[::GUEST] (as wasmtime's --dir).
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
    /// Set an environment variable: NAME=VALUE, or NAME to pass the host's.
    #[arg(long = "env", value_name = "NAME[=VAL]")]
    env: Vec<String>,
    /// WASI options as wasmtime spells them: inherit-network, allow-ip-name-lookup,
    /// tcp and udp (default y), network (inherit-network and allow-ip-name-lookup).
    #[arg(short = 'S', value_name = "OPTION[=y|n]")]
    wasi: Vec<String>,
    /// The policy either provider enforces.
    #[command(flatten)]
    policy: PolicyArgs,
    /// Most linear memory the component may use, in MiB (its instances and,
    /// with --tls guest, the provider inside it, together); growth past it is
    /// refused as the program's own out-of-memory.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MAX_MEMORY_MIB)]
    max_memory_mib: usize,
    /// The component to run, then its arguments (everything after the component
    /// goes to it, options included).
    #[arg(
        value_name = "COMPONENT [ARGS]...",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    component_and_args: Vec<String>,
}

/// The embedder's policy, as options (the same for `run` and `compose`).
#[derive(clap::Args)]
struct PolicyArgs {
    /// Offer the insecure interface (no verification / no hostname check).
    #[arg(long)]
    allow_insecure: bool,
    /// What "system" trust starts from: platform (the operating system's CA
    /// store; in the guest provider, the Mozilla roots), mozilla (the Mozilla
    /// roots built in, the same on both providers) or none (only --ca-file).
    #[arg(long, value_name = "ROOTS", default_value = "platform", value_parser = parse_base_roots)]
    base_roots: BaseRoots,
    /// Add the certificates of this PEM file to "system" trust (like SSL_CERT_FILE);
    /// a server presenting one of them as its own certificate is accepted (a pin).
    #[arg(long = "ca-file", value_name = "PEM")]
    ca_files: Vec<PathBuf>,
    /// Grant the component an identity whose key stays in this process:
    /// NAME=CHAIN.pem:KEY, KEY a PEM file or a PKCS#11 URI
    /// (pkcs11:token=...;object=...?module-path=...&pin-source=file:PIN);
    /// NAME@client or NAME@server grants one purpose only. The component
    /// names it as a signing chain's host-identity.
    #[arg(long = "identity", value_name = "NAME=CHAIN:KEY")]
    identities: Vec<String>,
    /// Most live TLS connections the component may hold.
    #[arg(long, default_value_t = Policy::default().max_connections)]
    max_connections: usize,
    /// Most live TLS contexts (client and server) the component may hold.
    #[arg(long, default_value_t = Policy::default().max_contexts)]
    max_contexts: usize,
    /// Most configuration bytes (anchors, pins, chains, keys) its live contexts
    /// may hold together.
    #[arg(long, default_value_t = Policy::default().max_config_bytes)]
    max_config_bytes: usize,
    /// Most certificates one chain may hold (a peer's, or one the component
    /// asks to verify); more are refused before verification.
    #[arg(long, default_value_t = Policy::default().max_chain_certificates)]
    max_chain_certificates: usize,
    /// Most bytes one chain may take, under the same rule.
    #[arg(long, default_value_t = Policy::default().max_chain_bytes)]
    max_chain_bytes: usize,
}

/// The default of `--max-memory-mib`.
const DEFAULT_MAX_MEMORY_MIB: usize = memtls_host::runtime::DEFAULT_MAX_MEMORY >> 20;

impl PolicyArgs {
    fn policy(&self) -> wasmtime::Result<Policy> {
        let mut policy = Policy {
            allow_insecure: self.allow_insecure,
            max_connections: self.max_connections,
            max_contexts: self.max_contexts,
            max_config_bytes: self.max_config_bytes,
            max_chain_certificates: self.max_chain_certificates,
            max_chain_bytes: self.max_chain_bytes,
            base_roots: self.base_roots,
            ..Policy::default()
        };
        for f in &self.ca_files {
            let what = format!("--ca-file {}", f.display());
            let pem = memtls_cli::read_input(f, &what, memtls_cli::MAX_TEXT_FILE)?;
            // Checked here to name the file; the host checks again for embedders.
            memtls_host::engine::parse_certificate_item(&pem, &what)
                .map_err(|e| wasmtime::format_err!("{}", e.message))?;
            policy.extra_system_anchors.push(pem);
        }
        for spec in &self.identities {
            let identity = memtls_host::load_identity(spec)
                .map_err(|e| wasmtime::format_err!("--identity: {}", e.message))?;
            policy.identities.push(identity);
        }
        Ok(policy)
    }
}

fn parse_provider(s: &str) -> Result<Provider, String> {
    s.parse()
}

fn parse_base_roots(s: &str) -> Result<BaseRoots, String> {
    s.parse()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Run(args) => run_command(args),
        Cmd::Compose {
            component,
            output,
            policy,
        } => policy
            .policy()
            .and_then(|p| compose(&component, &output, &p))
            .map(|()| 0),
        Cmd::Demo => memtls_cli::demo::demo().map(|()| 0),
        Cmd::Python(PythonCmd::Build {
            script,
            output,
            python_path,
            requirements,
            allow_unbundled,
        }) => memtls_cli::python::build(&memtls_cli::python::PythonBuild {
            script,
            output,
            python_path,
            requirements,
            allow_unbundled,
        })
        .map(|()| 0),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("memtls: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn flag(value: &str, option: &str) -> wasmtime::Result<bool> {
    match value {
        "" | "y" | "yes" | "true" => Ok(true),
        "n" | "no" | "false" => Ok(false),
        other => wasmtime::bail!("-S {option}={other}: use y or n"),
    }
}

fn run_command(a: RunArgs) -> wasmtime::Result<i32> {
    let component = PathBuf::from(&a.component_and_args[0]);
    let bytes = memtls_cli::read_input(
        &component,
        &component.display().to_string(),
        memtls_cli::MAX_COMPONENT_FILE,
    )?;
    let policy = a.policy.policy()?;
    let mut opts = RunOptions::default();
    for s in &a.wasi {
        let (name, value) = s.split_once('=').unwrap_or((s, ""));
        match name {
            "inherit-network" => opts.inherit_network = flag(value, name)?,
            "allow-ip-name-lookup" => opts.allow_ip_name_lookup = flag(value, name)?,
            "tcp" => opts.deny_tcp = !flag(value, name)?,
            "udp" => opts.deny_udp = !flag(value, name)?,
            "network" => {
                let on = flag(value, name)?;
                opts.inherit_network = on;
                opts.allow_ip_name_lookup = on;
            }
            other => wasmtime::bail!(
                "unknown -S option {other}: memtls supports inherit-network, \
                 allow-ip-name-lookup, tcp, udp, network"
            ),
        }
    }
    for d in &a.dirs {
        let (host, guest) = d.split_once("::").unwrap_or((d, d));
        // Refused before anything is loaded (`run` checks again).
        memtls_host::runtime::check_grant(std::path::Path::new(host))?;
        opts.dirs.push((PathBuf::from(host), guest.to_string()));
    }
    for e in &a.env {
        match e.split_once('=') {
            Some((k, v)) => opts.env.push((k.into(), v.into())),
            None => {
                if let Ok(v) = std::env::var(e) {
                    opts.env.push((e.clone(), v));
                }
            }
        }
    }
    let name = component
        .file_name()
        .map_or_else(|| "component".into(), |n| n.to_string_lossy().into_owned());
    opts.args = std::iter::once(name.clone())
        .chain(a.component_and_args.into_iter().skip(1))
        .collect();
    // The path names the component in what loading says (progress, refusals).
    let mut loaded = load(
        &bytes,
        a.provider,
        &policy,
        &component.display().to_string(),
    )?;
    loaded.set_max_memory(a.max_memory_mib.saturating_mul(1 << 20));
    run(&loaded, &opts)
}

fn compose(
    component: &std::path::Path,
    output: &std::path::Path,
    policy: &Policy,
) -> wasmtime::Result<()> {
    let bytes = memtls_cli::read_input(
        component,
        &component.display().to_string(),
        memtls_cli::MAX_COMPONENT_FILE,
    )?;
    // A wasi:tls 0.3 program gets the adapter too, over the same guest.
    let wasi_tls = memtls_host::imports_wasi_tls(&bytes)
        .map_err(|e| e.context(component.display().to_string()))?;
    let adapter = wasi_tls.then(memtls_artifacts::wasi_tls_adapter_component);
    let composed = memtls_host::compose(
        &bytes,
        Some((memtls_artifacts::guest_component(), policy)),
        adapter,
    )?;
    std::fs::write(output, &composed)
        .map_err(|e| wasmtime::format_err!("cannot write {}: {e}", output.display()))?;
    let names: Vec<&str> = policy.identities.iter().map(|i| i.name()).collect();
    eprintln!(
        "memtls: wrote {} ({} bytes): the guest provider is inside{}; {}",
        output.display(),
        composed.len(),
        if wasi_tls {
            ", under the wasi:tls adapter"
        } else {
            ""
        },
        if names.is_empty() {
            "it needs only WASI".to_owned()
        } else {
            format!(
                "it needs WASI and a host holding the keys of {} (memtls:tls/host-signer: \
                 `memtls run` with the same --identity options)",
                names.join(", ")
            )
        }
    );
    Ok(())
}
