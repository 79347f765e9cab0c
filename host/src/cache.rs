//! Compiled components, kept between runs.
//!
//! Loading an application for the guest provider (or for the wasi:tls adapter)
//! composes it first, and the composition is a new component every time: for a
//! 20 MB Python application, composing and then hashing the result for
//! wasmtime's compilation cache cost more than the whole native start. This
//! cache skips both: it keys the *compiled* component by everything that goes
//! into it — the application's bytes, the guest's and the adapter's when they
//! are composed in, the policy baked in, the wasmtime engine's settings and the
//! program that composes — and maps it from disk on the next load. An
//! application loaded as it is (the host's providers) is kept the same way, so
//! every provider starts alike: mapped, with no decompression.
//!
//! It lives in the user's cache directory (`$XDG_CACHE_HOME/memtls` on Linux),
//! holds at most [`MAX_ENTRIES`] components and [`MAX_BYTES`] in all (the
//! least recently used go first), and is only an optimisation: any failure
//! to read or write it falls back to composing and compiling, and
//! `MEMTLS_COMPONENT_CACHE=off` switches it off.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::Ingredients;

/// At most this many compiled components are kept.
pub(crate) const MAX_ENTRIES: usize = 16;
/// At most this many bytes of compiled components are kept.
pub(crate) const MAX_BYTES: u64 = 2 << 30;

/// The directory of compiled components.
pub(crate) struct Cache {
    dir: PathBuf,
}

/// Feeds what `Hash` writes into SHA-256 (for wasmtime's engine settings,
/// which it offers only as `impl Hash`).
struct Sha256Hasher<'a>(&'a mut Sha256);

impl Hasher for Sha256Hasher<'_> {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Only `write` is used: the digest is read from the `Sha256` itself.
        0
    }
}

/// Hashes `bytes` with its length first, so that adjacent inputs cannot run
/// into each other.
fn put(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

impl Cache {
    /// The user's cache directory for compiled components, when there is one and
    /// `MEMTLS_COMPONENT_CACHE` is not `off`.
    pub(crate) fn open() -> Option<Self> {
        if std::env::var_os("MEMTLS_COMPONENT_CACHE").is_some_and(|v| v == "off") {
            return None;
        }
        let dirs = directories_next::ProjectDirs::from("", "", "memtls")?;
        Some(Self {
            dir: dirs.cache_dir().join("components"),
        })
    }

    /// The key of `app` composed with `parts` (or as it is) on `engine`: a
    /// hex SHA-256 over every input. `None` when the running program cannot be
    /// identified (then nothing is cached: a composition depends on the code
    /// that made it, and a rebuilt memtls must not map what an older one
    /// composed).
    pub(crate) fn key(app: &[u8], parts: Option<&Ingredients>, engine: &Engine) -> Option<String> {
        let mut hasher = Sha256::new();
        put(&mut hasher, b"memtls compiled component 1");
        let exe = std::env::current_exe().ok()?;
        let meta = fs::metadata(&exe).ok()?;
        let built = meta
            .modified()
            .ok()?
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?;
        put(&mut hasher, exe.as_os_str().as_encoded_bytes());
        put(&mut hasher, &meta.len().to_le_bytes());
        put(&mut hasher, &built.as_nanos().to_le_bytes());
        engine
            .precompile_compatibility_hash()
            .hash(&mut Sha256Hasher(&mut hasher));
        put(&mut hasher, app);
        match parts {
            Some(parts) => put_ingredients(&mut hasher, parts)?,
            None => put(&mut hasher, b"as it is"),
        }
        let digest = hasher.finalize();
        Some(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    /// The compiled component under `key`, if this cache holds one that
    /// `engine` can run (one it cannot, or cannot read, is removed).
    pub(crate) fn get(&self, key: &str, engine: &Engine) -> Option<Component> {
        let path = self.path(key);
        if !path.is_file() {
            return None;
        }
        // SAFETY: `deserialize_file` trusts its input to be wasmtime's own
        // serialization. Entries are written only by `put` below, from
        // `Component::serialize`, under a name derived from every input and
        // from the engine's settings, renamed into place whole (a reader never
        // sees a partial file, and the mapped file is never written again); the
        // directory is the user's own, trusted as wasmtime's compilation cache
        // (which loads its entries the same way) is. wasmtime still checks the
        // header and refuses an artifact of another version or configuration.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                // Recently used: evicted last.
                if let Ok(file) = fs::File::options().append(true).open(&path) {
                    let _ = file.set_modified(SystemTime::now());
                }
                Some(component)
            }
            Err(_) => {
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    /// Keeps `component` under `key`, then trims the cache to its limits.
    /// Failures are reported once on stderr and otherwise ignored.
    pub(crate) fn put(&self, key: &str, component: &Component) {
        if let Err(e) = self.write(key, component) {
            eprintln!(
                "memtls: cannot keep the compiled component in {}: {e}",
                self.dir.display()
            );
        }
        self.trim();
    }

    fn write(&self, key: &str, component: &Component) -> Result<(), String> {
        let bytes = component.serialize().map_err(|e| format!("{e:#}"))?;
        fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        // A name no other writer uses (threads of this process included), so
        // that no two writes ever share a file.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let partial = self.dir.join(format!(
            ".{key}.{}.{}.partial",
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        let written = fs::File::create(&partial)
            .and_then(|mut f| f.write_all(&bytes))
            .and_then(|()| fs::rename(&partial, self.path(key)));
        if let Err(e) = written {
            let _ = fs::remove_file(&partial);
            return Err(e.to_string());
        }
        Ok(())
    }

    /// Removes the least recently used entries beyond [`MAX_ENTRIES`] or
    /// [`MAX_BYTES`], and partial files of processes that died writing.
    fn trim(&self) {
        let Ok(read) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        for entry in read.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if is_partial(&path) {
                // Another process may be writing it now: only old ones go.
                if modified.elapsed().is_ok_and(|age| age.as_secs() > 3600) {
                    let _ = fs::remove_file(&path);
                }
                continue;
            }
            if path.extension().is_some_and(|e| e == "cwasm") {
                entries.push((modified, meta.len(), path));
            }
        }
        // Newest first; keep while within both limits.
        entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        let mut total = 0u64;
        for (i, (_, len, path)) in entries.iter().enumerate() {
            total = total.saturating_add(*len);
            if i >= MAX_ENTRIES || (i > 0 && total > MAX_BYTES) {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// Hashes what is composed with the application.
#[cfg(feature = "guest-provider")]
fn put_ingredients(hasher: &mut Sha256, parts: &Ingredients<'_>) -> Option<()> {
    match parts.guest {
        Some((guest, policy)) => {
            put(hasher, b"guest");
            put(hasher, guest.bytes());
            put(hasher, &crate::compose::policy_image(policy).ok()?);
        }
        None => put(hasher, b"no guest"),
    }
    match parts.adapter {
        Some(adapter) => {
            put(hasher, b"adapter");
            put(hasher, adapter.bytes());
        }
        None => put(hasher, b"no adapter"),
    }
    Some(())
}

/// Without the guest-provider feature nothing is composed.
#[cfg(not(feature = "guest-provider"))]
fn put_ingredients(_hasher: &mut Sha256, parts: &Ingredients) -> Option<()> {
    match *parts {}
}

fn is_partial(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n.ends_with(".partial"))
}
