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
//! `Settings::component_cache` (`MEMTLS_COMPONENT_CACHE=off` for the
//! command) switches it off.
//!
//! Its entries are native code that `memtls` runs outside the sandbox, so
//! nothing else may choose them: the directories are created 0700 and the
//! files 0600 whatever the umask; on every load the directories and the entry
//! must belong to the user running memtls and be closed to others; and every
//! entry carries an HMAC-SHA-256 of its own bytes bound to its key, under a
//! per-user secret in the cache (`secret`, 0600). An entry that fails any of
//! these (swapped, damaged, planted) is removed and rebuilt, never mapped. The
//! runtime refuses a guest a directory grant that reaches the cache
//! ([`crate::runtime::protected_directories`]).

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
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

/// The user's cache directory of memtls (its compiled components are in
/// `components` under it), when the platform has one.
pub(crate) fn root() -> Option<PathBuf> {
    Some(
        directories_next::ProjectDirs::from("", "", "memtls")?
            .cache_dir()
            .to_path_buf(),
    )
}

/// The effective user id of this process.
fn user() -> u32 {
    // SAFETY: geteuid takes no arguments, cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// Why `meta` (of `path`) may not hold code memtls runs: not the user's own,
/// or open to others' writes (or reads, for a file), or not of the `dir`
/// kind expected. `None` when it is fine.
fn unsafe_for_code(path: &Path, meta: &fs::Metadata, dir: bool) -> Option<String> {
    let kind = if dir { meta.is_dir() } else { meta.is_file() };
    if !kind || meta.file_type().is_symlink() {
        return Some(format!(
            "{} is not a {}",
            path.display(),
            if dir { "directory" } else { "regular file" }
        ));
    }
    if meta.uid() != user() {
        return Some(format!(
            "{} belongs to user {}, not to this user ({})",
            path.display(),
            meta.uid(),
            user()
        ));
    }
    let open = if dir { 0o022 } else { 0o077 };
    if meta.mode() & open != 0 {
        return Some(format!(
            "{} has mode {:o}: others can change it",
            path.display(),
            meta.mode() & 0o7777
        ));
    }
    None
}

/// Creates `dir` and its missing parents 0700 (whatever the umask), closes
/// `dir` to others if it is the user's and open, and checks that it is the
/// user's own directory, closed to others' writes, in a parent that others
/// cannot write either (the parent is checked, not changed).
pub(crate) fn private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let meta = fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if meta.is_dir() && meta.uid() == user() && meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    } else if let Some(why) = unsafe_for_code(dir, &meta, true) {
        return Err(why);
    }
    if let Some(parent) = dir.parent() {
        let meta =
            fs::symlink_metadata(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        // A parent may be a link the user made (~/.cache elsewhere): follow it.
        let meta = match meta.file_type().is_symlink() {
            true => fs::metadata(parent).map_err(|e| format!("{}: {e}", parent.display()))?,
            false => meta,
        };
        // Others may write a sticky parent (/tmp): they cannot rename or
        // remove what is ours in it.
        let sticky = meta.mode() & 0o1000 != 0;
        if meta.uid() != user() && meta.uid() != 0 || meta.mode() & 0o022 != 0 && !sticky {
            return Err(format!(
                "{} (mode {:o}, user {}) can be changed by others",
                parent.display(),
                meta.mode() & 0o7777,
                meta.uid()
            ));
        }
    }
    Ok(())
}

/// The bytes of the file at `path` when it is the user's own, closed to
/// others, and at most `max` bytes (read from the file opened without
/// following a link, so the checks and the bytes are the same file's).
fn read_private(path: &Path, max: u64) -> Option<Vec<u8>> {
    let mut file = open_nofollow(path).ok()?;
    let meta = file.metadata().ok()?;
    if unsafe_for_code(path, &meta, false).is_some() || meta.len() > max {
        return None;
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).ok()?);
    file.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Opens `path` for reading without following a symbolic link.
fn open_nofollow(path: &Path) -> std::io::Result<fs::File> {
    fs::File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
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
    /// The user's cache directory for compiled components, when there is one,
    /// the settings keep one, and it and memtls's cache
    /// directory above it can be made private (see [`private_dir`]); a line on
    /// notice says why not otherwise.
    pub(crate) fn open() -> Option<Self> {
        Self::open_named("components", "the cache of compiled components")
    }

    /// The private directory `name` in memtls's cache directory (`what` names
    /// it in the notice when it cannot be used).
    fn open_named(name: &str, what: &str) -> Option<Self> {
        if !crate::settings::Settings::get().component_cache {
            return None;
        }
        let root = root()?;
        let dir = root.join(name);
        match private_dir(&root).and_then(|()| private_dir(&dir)) {
            Ok(()) => Some(Self { dir }),
            Err(why) => {
                crate::settings::notify(crate::settings::Notice::Cache(&format!(
                    "not using {what}: {why}"
                )));
                None
            }
        }
    }

    /// The per-user secret that binds entries to their keys (32 random bytes
    /// in `secret`, 0600, made on first use).
    fn secret(&self) -> Option<ring::hmac::Key> {
        let path = self.dir.join("secret");
        let mut bytes = [0u8; 32];
        match open_nofollow(&path) {
            Ok(mut file) => {
                let meta = file.metadata().ok()?;
                if unsafe_for_code(&path, &meta, false).is_some() || meta.len() != 32 {
                    // Not ours alone: start over (every entry then fails its check).
                    let _ = fs::remove_file(&path);
                    return None;
                }
                file.read_exact(&mut bytes).ok()?;
            }
            Err(_) => {
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
                    .ok()?;
                fs::File::options()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .and_then(|mut f| f.write_all(&bytes))
                    .ok()?;
            }
        }
        Some(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes))
    }

    /// The tag of an entry: HMAC-SHA-256 under the secret over its key and
    /// its bytes.
    fn tag(secret: &ring::hmac::Key, key: &str, bytes: &[u8]) -> ring::hmac::Tag {
        let mut ctx = ring::hmac::Context::with_key(secret);
        ctx.update(&(key.len() as u64).to_le_bytes());
        ctx.update(key.as_bytes());
        ctx.update(bytes);
        ctx.sign()
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

    fn tag_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.tag"))
    }

    /// The compiled component under `key`, if this cache holds one that is
    /// the user's own, carries the right tag, and `engine` can run; an entry
    /// that fails any of these is removed.
    pub(crate) fn get(&self, key: &str, engine: &Engine) -> Option<Component> {
        let path = self.path(key);
        if fs::symlink_metadata(&path).is_err() {
            return None;
        }
        let component = self.verified(key, &path).and_then(|bytes| {
            // SAFETY: `deserialize` trusts its input to be wasmtime's own
            // serialization. These bytes were read once from an entry that is
            // the user's own, closed to others (checked on the open file), and
            // carries the HMAC that `put` computed over its key and exactly
            // these bytes with the user's secret: so they are what
            // `Component::serialize` produced for this key. They are mapped
            // from this copy, not from the file, so nothing can change them
            // between the check and the use. wasmtime still checks the header
            // and refuses an artifact of another version or configuration.
            unsafe { Component::deserialize(engine, &bytes) }.ok()
        });
        match component {
            Some(component) => {
                // Recently used: evicted last.
                if let Ok(file) = fs::File::options().append(true).open(&path) {
                    let _ = file.set_modified(SystemTime::now());
                }
                Some(component)
            }
            None => {
                let _ = fs::remove_file(&path);
                let _ = fs::remove_file(self.tag_path(key));
                None
            }
        }
    }

    /// The bytes of the entry at `path` when it is the user's own, closed to
    /// others, and its tag is right.
    fn verified(&self, key: &str, path: &Path) -> Option<Vec<u8>> {
        let secret = self.secret()?;
        let bytes = read_private(path, MAX_BYTES)?;
        let mut tag = Vec::new();
        let mut tag_file = open_nofollow(&self.tag_path(key)).ok()?;
        let tag_meta = tag_file.metadata().ok()?;
        if unsafe_for_code(&self.tag_path(key), &tag_meta, false).is_some() || tag_meta.len() > 64 {
            return None;
        }
        tag_file.read_to_end(&mut tag).ok()?;
        same_tag(&Self::tag(&secret, key, &bytes), &tag).then_some(bytes)
    }

    /// Keeps `component` under `key`, then trims the cache to its limits.
    /// Failures are told once (a notice) and otherwise ignored.
    pub(crate) fn put(&self, key: &str, component: &Component) {
        if let Err(e) = self.write(key, component) {
            crate::settings::notify(crate::settings::Notice::Cache(&format!(
                "cannot keep the compiled component in {}: {e}",
                self.dir.display()
            )));
        }
        self.trim();
    }

    fn write(&self, key: &str, component: &Component) -> Result<(), String> {
        let bytes = component.serialize().map_err(|e| format!("{e:#}"))?;
        let secret = self
            .secret()
            .ok_or("the cache's secret cannot be read or made")?;
        let tag = Self::tag(&secret, key, &bytes);
        // The tag first: an entry without its tag is never mapped.
        self.write_file(&self.tag_path(key), tag.as_ref())?;
        self.write_file(&self.path(key), &bytes)
    }

    /// Writes `bytes` to `path` whole: 0600 under a name no other writer uses
    /// (threads of this process included), then renamed into place.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
        let partial = self.dir.join(format!(
            ".{name}.{}.{}.partial",
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        let written = fs::File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&partial)
            .and_then(|mut f| f.write_all(bytes))
            .and_then(|()| fs::rename(&partial, path));
        if let Err(e) = written {
            let _ = fs::remove_file(&partial);
            return Err(e.to_string());
        }
        Ok(())
    }

    /// Removes the least recently used entries beyond [`MAX_ENTRIES`] or
    /// [`MAX_BYTES`], and partial files of processes that died writing.
    fn trim(&self) {
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        for (modified, len, path) in self.files() {
            if path.extension().is_some_and(|e| e == "cwasm") {
                entries.push((modified, len, path));
            } else if path.extension().is_some_and(|e| e == "tag")
                && !path.with_extension("cwasm").exists()
                && modified.elapsed().is_ok_and(|age| age.as_secs() > 3600)
            {
                // A tag whose entry never came or was removed.
                let _ = fs::remove_file(&path);
            }
        }
        // Newest first; keep while within both limits.
        entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        let mut total = 0u64;
        for (i, (_, len, path)) in entries.iter().enumerate() {
            total = total.saturating_add(*len);
            if i >= MAX_ENTRIES || (i > 0 && total > MAX_BYTES) {
                let _ = fs::remove_file(path);
                let _ = fs::remove_file(path.with_extension("tag"));
            }
        }
    }
}

impl Cache {
    /// The directory's files as (modified, length, path), but for partial
    /// files: those of processes that died writing (an hour old) are removed
    /// on the way; another process may be writing a newer one now.
    fn files(&self) -> Vec<(SystemTime, u64, PathBuf)> {
        let Ok(read) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in read.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if !is_partial(&path) {
                out.push((modified, meta.len(), path));
            } else if modified.elapsed().is_ok_and(|age| age.as_secs() > 3600) {
                let _ = fs::remove_file(&path);
            }
        }
        out
    }
}

/// Whether `got` is the tag `want`, compared without an early exit (the tag
/// is a MAC).
fn same_tag(want: &ring::hmac::Tag, got: &[u8]) -> bool {
    want.as_ref().len() == got.len()
        && want
            .as_ref()
            .iter()
            .zip(got)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// At most this many bytes of compiled functions are kept.
pub(crate) const MAX_FUNCTION_BYTES: u64 = 1 << 30;
/// The largest compiled function read back.
const MAX_FUNCTION_ENTRY: u64 = 64 << 20;

/// Functions cranelift compiled, kept between runs: wasmtime's incremental
/// compilation cache, in `functions` beside the compiled components.
///
/// A composition differs from the last only in the policy baked in, so a new
/// policy variant is a new component for the cache of compiled components
/// and for wasmtime's own cache, and used to be compiled whole (20 to 60 s
/// for a Python application). The application's and the guest's functions
/// are the same as in every other variant, and cranelift finds them here by
/// their compiled form's key: only what changed is compiled.
///
/// The entries are native code like the components: the same private
/// directory rules, and each file carries the HMAC-SHA-256 of its key and
/// bytes under this directory's own per-user secret (read once per
/// process); an entry that fails is removed and compiled anew. At most
/// [`MAX_FUNCTION_BYTES`] are kept (the oldest go first).
#[derive(Debug)]
pub(crate) struct Functions {
    cache: Cache,
    secret: ring::hmac::Key,
    reused: AtomicU64,
    compiled: AtomicU64,
    refused: AtomicU64,
    /// Bytes kept since the directory was last measured (`None`: not yet).
    kept: std::sync::Mutex<Option<u64>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("dir", &self.dir).finish()
    }
}

impl Functions {
    /// The user's cache of compiled functions, when the settings keep caches
    /// and its directory can be made private.
    pub(crate) fn open() -> Option<Self> {
        let cache = Cache::open_named("functions", "the cache of compiled functions")?;
        let secret = cache.secret()?;
        Some(Self {
            cache,
            secret,
            reused: AtomicU64::new(0),
            compiled: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            kept: std::sync::Mutex::new(None),
        })
    }

    /// Functions found here, functions compiled, and entries refused
    /// (present but failing their checks), since the process started.
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        (
            self.reused.load(Ordering::Relaxed),
            self.compiled.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    /// An entry's name: the hex SHA-256 of cranelift's key.
    fn name(key: &[u8]) -> String {
        Sha256::digest(key)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The bytes kept under `name` (its tag first), when the entry is the
    /// user's own, closed to others, and its tag is right.
    fn verified(&self, name: &str, path: &Path) -> Option<Vec<u8>> {
        let mut bytes = read_private(path, MAX_FUNCTION_ENTRY)?;
        let tag_len = ring::hmac::HMAC_SHA256.digest_algorithm().output_len();
        let body = bytes.split_off(tag_len.min(bytes.len()));
        same_tag(&Cache::tag(&self.secret, name, &body), &bytes).then_some(body)
    }

    /// Counts `len` more bytes kept; past [`MAX_FUNCTION_BYTES`], removes
    /// the oldest entries down to three quarters of it.
    fn keep(&self, len: u64) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let total = match *kept {
            Some(total) => total + len,
            None => self.entries().iter().map(|e| e.1).sum::<u64>(),
        };
        if total <= MAX_FUNCTION_BYTES {
            *kept = Some(total);
            return;
        }
        let mut entries = self.entries();
        entries.sort_by_key(|e| e.0);
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        for (_, len, path) in entries {
            if total <= MAX_FUNCTION_BYTES / 4 * 3 {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
        *kept = Some(total);
    }

    /// The entries (every file but the secret): (modified, length, path).
    fn entries(&self) -> Vec<(SystemTime, u64, PathBuf)> {
        let mut files = self.cache.files();
        files.retain(|(_, _, path)| path.file_name().is_some_and(|n| n != "secret"));
        files
    }
}

impl wasmtime::CacheStore for Functions {
    fn get(&self, key: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
        let name = Self::name(key);
        let path = self.cache.dir.join(&name);
        let found = self.verified(&name, &path);
        match found {
            Some(bytes) => {
                self.reused.fetch_add(1, Ordering::Relaxed);
                Some(std::borrow::Cow::Owned(bytes))
            }
            None => {
                // Absent, or not ours alone, or damaged: compiled anew.
                if fs::remove_file(&path).is_ok() {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                }
                self.compiled.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let name = Self::name(key);
        let tag = Cache::tag(&self.secret, &name, &value);
        let mut bytes = Vec::with_capacity(tag.as_ref().len() + value.len());
        bytes.extend_from_slice(tag.as_ref());
        bytes.extend_from_slice(&value);
        let written = self
            .cache
            .write_file(&self.cache.dir.join(&name), &bytes)
            .is_ok();
        if written {
            self.keep(bytes.len() as u64);
        }
        written
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
