//! The `memtls` command's library: the example components, the demo, and
//! `memtls python build`. Loading and running components is `memtls-host`'s
//! embedding runtime ([`memtls_host::runtime`]), re-exported here with the
//! guest provider the command embeds.

#![warn(missing_docs)]

use std::sync::Once;

pub use memtls_host::runtime::{Host, Loaded, Notice, RunOptions, Settings, run};
use memtls_host::{Policy, Provider};
use wasmtime::Result;

pub mod demo;
mod leak_fix;
pub mod python;

/// The example components the command embeds (built by `memtls-artifacts`).
pub mod examples {
    pub use memtls_artifacts::{https_get, starttls, tls_echo_server};
}

/// The most bytes a text file given on the command line may hold (a
/// `--ca-file`, a Python script, a requirements file): the policy's default
/// configuration budget.
pub const MAX_TEXT_FILE: u64 = 16 << 20;

/// The most bytes a component file may hold.
pub const MAX_COMPONENT_FILE: u64 = 1 << 30;

/// Reads an operator's input file (defined with the host library, whose
/// identity loader reads files the same way).
pub use memtls_host::read_input;

/// The runtime's settings as the command takes them: from the environment
/// (`MEMTLS_PERFMAP` set: a perf map; `MEMTLS_COMPONENT_CACHE=off`: no cache
/// of compiled components), with progress and cache troubles on stderr (a
/// live counter on a terminal, a line before and after in a log). Installed
/// on first use unless the process installed settings of its own before.
pub fn settings() -> &'static Settings {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = Settings {
            perf_map: std::env::var_os("MEMTLS_PERFMAP").is_some(),
            component_cache: std::env::var_os("MEMTLS_COMPONENT_CACHE").is_none_or(|v| v != "off"),
            notices: Some(std::sync::Arc::new(tell)),
        }
        .install();
    });
    Settings::get()
}

/// [`memtls_host::runtime::engine`] under the command's [`settings`].
pub fn engine() -> &'static wasmtime::Engine {
    settings();
    memtls_host::runtime::engine()
}

/// Prints a runtime notice on stderr.
fn tell(notice: &Notice<'_>) {
    use std::io::{IsTerminal as _, Write as _};
    use std::sync::atomic::{AtomicBool, Ordering};
    // Whether the current compilation's first line was printed (a log gets
    // one line before and one after).
    static SHOWN: AtomicBool = AtomicBool::new(false);
    let live = std::io::stderr().is_terminal();
    match *notice {
        Notice::Compiling {
            label,
            bytes,
            seconds,
        } => {
            let line = format!(
                "memtls: compiling {label} ({:.1} MB) ...",
                bytes as f64 / 1e6
            );
            if live {
                eprint!("\r{line} {seconds:.0} s");
                let _ = std::io::stderr().flush();
            } else if !SHOWN.swap(true, Ordering::Relaxed) {
                eprintln!("{line}");
            }
        }
        Notice::Compiled { label, seconds } => {
            SHOWN.store(false, Ordering::Relaxed);
            if live {
                eprintln!(" done (cached for next time)");
            } else {
                eprintln!("memtls: compiled {label} in {seconds:.1} s (cached for next time)");
            }
        }
        Notice::Cache(why) => eprintln!("memtls: {why}"),
        _ => {}
    }
}

/// [`memtls_host::runtime::load`] with the command's settings and the
/// embedded guest provider and wasi:tls adapter installed.
pub fn load(app: &[u8], provider: Provider, policy: &Policy, label: &str) -> Result<Loaded> {
    settings();
    memtls_artifacts::install();
    memtls_host::runtime::load(app, provider, policy, label)
}
