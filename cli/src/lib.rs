//! The `memtls` command's library: the example components, the demo, and
//! `memtls python build`. Loading and running components is `memtls-host`'s
//! embedding runtime ([`memtls_host::runtime`]), re-exported here with the
//! guest provider the command embeds.

#![warn(missing_docs)]

use std::sync::Once;

pub use memtls_host::runtime::{Host, Loaded, RunOptions, engine, run};
use memtls_host::{GuestComponent, Policy, Provider, WasiTlsAdapter};
use wasmtime::Result;

pub mod demo;
mod leak_fix;
pub mod python;

/// The example components the command embeds (built by `memtls-artifacts`).
pub mod examples {
    pub use memtls_artifacts::{https_get, starttls, tls_echo_server};
}

/// The guest provider: the one the command embeds, installed as
/// `memtls-host`'s default on first use (unless the process installed its own
/// before, which then stays).
pub fn guest() -> &'static GuestComponent {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = GuestComponent::new(memtls_artifacts::guest()).install_default();
    });
    GuestComponent::get_default().expect("a guest provider was installed just above")
}

/// The wasi:tls adapter: the one the command embeds, installed as
/// `memtls-host`'s default on first use (unless the process installed its own
/// before, which then stays).
pub fn wasi_tls_adapter() -> &'static WasiTlsAdapter {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = WasiTlsAdapter::new(memtls_artifacts::wasi_tls_adapter()).install_default();
    });
    WasiTlsAdapter::get_default().expect("a wasi:tls adapter was installed just above")
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

/// [`memtls_host::runtime::load`] with the embedded guest provider and wasi:tls
/// adapter installed.
pub fn load(app: &[u8], provider: Provider, policy: &Policy, label: &str) -> Result<Loaded> {
    guest();
    wasi_tls_adapter();
    memtls_host::runtime::load(app, provider, policy, label)
}
