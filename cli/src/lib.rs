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

/// Reads an operator's input file, `what` naming it in errors: a regular file
/// of at most `max` bytes, opened without blocking (a FIFO, a device such as
/// /dev/zero or a directory is refused with a sentence, not read forever).
pub fn read_input(path: &std::path::Path, what: &str, max: u64) -> Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
    // Non-blocking, so that opening a FIFO with no writer returns at once.
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| wasmtime::format_err!("{what}: cannot open it: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| wasmtime::format_err!("{what}: {e}"))?;
    let kind = meta.file_type();
    let not = if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("a device")
    } else if !kind.is_file() {
        Some("not a regular file")
    } else {
        None
    };
    if let Some(not) = not {
        wasmtime::bail!("{what}: it is {not}; give a regular file");
    }
    if meta.len() > max {
        wasmtime::bail!(
            "{what}: it is {} bytes; at most {max} are accepted",
            meta.len()
        );
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // `take`: a file that grows while it is read still stops at the cap.
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| wasmtime::format_err!("{what}: cannot read it: {e}"))?;
    if bytes.len() as u64 > max {
        wasmtime::bail!("{what}: it grew past {max} bytes while it was read");
    }
    Ok(bytes)
}

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
