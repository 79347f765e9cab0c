//! `memtls python build`: a Python script becomes a command component whose
//! `ssl` module (and PEP 748 API) run on `memtls:tls`.
//!
//! componentize-py (PyPI, 0.25) does the building; this module stages what it
//! needs — the WIT world and memtls's Python files, both embedded in the binary so
//! the command works from anywhere — and calls it.

use std::path::{Path, PathBuf};
use std::process::Command;

use wasmtime::{Result, bail, format_err};

/// The componentize-py release memtls's Python support is written against.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The world a Python program targets (see `python/wit/world.wit`).
pub const PYTHON_WORLD: &str = "memtls:python/command@0.1.0";

const WIT: &[(&str, &str)] = &[
    ("world.wit", include_str!("../../python/wit/world.wit")),
    (
        "deps/wasi-cli/run.wit",
        include_str!("../../python/wit/deps/wasi-cli/run.wit"),
    ),
    ("deps/memtls-tls/tls.wit", include_str!("../../wit/tls.wit")),
];

const PYTHON: &[(&str, &str)] = &[
    ("_ssl.py", include_str!("../../python/_ssl.py")),
    (
        "memtls/__init__.py",
        include_str!("../../python/memtls/__init__.py"),
    ),
    (
        "memtls/_core.py",
        include_str!("../../python/memtls/_core.py"),
    ),
    (
        "memtls/_x509.py",
        include_str!("../../python/memtls/_x509.py"),
    ),
    (
        "memtls/_runner.py",
        include_str!("../../python/memtls/_runner.py"),
    ),
    (
        "memtls/pep748.py",
        include_str!("../../python/memtls/pep748.py"),
    ),
    (
        "memtls/_system_trust.py",
        include_str!("../../python/memtls/_system_trust.py"),
    ),
    (
        "certifi/__init__.py",
        include_str!("../../python/certifi/__init__.py"),
    ),
];

/// Module names a script cannot have: they would shadow what the build relies on.
const RESERVED: &[&str] = &[
    "ssl",
    "_ssl",
    "memtls",
    "certifi",
    "wit_world",
    "memtls_entry",
];

/// What to build.
#[derive(Debug, Clone)]
pub struct PythonBuild {
    /// The script (`app.py`); it runs as `__main__`.
    pub script: PathBuf,
    /// Where to write the component.
    pub output: PathBuf,
    /// More directories to put on the Python path (packages the script imports).
    pub python_path: Vec<PathBuf>,
}

/// The componentize-py to run: `$MEMTLS_COMPONENTIZE_PY`, else `componentize-py`
/// from `PATH`.
fn componentize_py() -> PathBuf {
    std::env::var_os("MEMTLS_COMPONENTIZE_PY")
        .map_or_else(|| PathBuf::from("componentize-py"), PathBuf::from)
}

fn write_all(root: &Path, files: &[(&str, &str)]) -> Result<()> {
    for (name, text) in files {
        let path = root.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format_err!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| format_err!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Removes the staging directory however the build ends.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fingerprint of everything a build reads: the script, the embedded WIT and
/// Python files, the `.py` files under the extra path directories and the
/// componentize-py release. componentize-py's output differs from run to run (its
/// snapshot is not reproducible), so callers that rebuild often (the tests) key a
/// cache of built components on this to let wasmtime's compilation cache hit.
pub fn fingerprint(build: &PythonBuild) -> Result<u64> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    fn walk(dir: &Path, hasher: &mut DefaultHasher) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, hasher)?;
            } else if path.extension().is_some_and(|e| e == "py") {
                path.hash(hasher);
                std::fs::read(&path)?.hash(hasher);
            }
        }
        Ok(())
    }
    let mut hasher = DefaultHasher::new();
    COMPONENTIZE_PY_VERSION.hash(&mut hasher);
    WIT.hash(&mut hasher);
    PYTHON.hash(&mut hasher);
    std::fs::read(&build.script)
        .map_err(|e| format_err!("{}: {e}", build.script.display()))?
        .hash(&mut hasher);
    // The script's directory is on the path too (its modules are bundled).
    if let Some(dir) = build.script.parent().filter(|d| !d.as_os_str().is_empty()) {
        walk(dir, &mut hasher).map_err(|e| format_err!("{}: {e}", dir.display()))?;
    }
    for dir in &build.python_path {
        walk(dir, &mut hasher).map_err(|e| format_err!("{}: {e}", dir.display()))?;
    }
    Ok(hasher.finish())
}

/// Builds `build.script` into a component at `build.output`.
pub fn build(build: &PythonBuild) -> Result<()> {
    let script = &build.script;
    if script.extension().and_then(|e| e.to_str()) != Some("py") {
        bail!("{}: the script must be a .py file", script.display());
    }
    let module = script
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| {
            s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .ok_or_else(|| {
            format_err!(
                "{}: the file name must be a Python module name (letters, digits, _)",
                script.display()
            )
        })?;
    if RESERVED.contains(&module) {
        bail!(
            "{}: rename the script; `{module}` is a module memtls provides",
            script.display()
        );
    }
    if !script.is_file() {
        bail!("{}: no such file", script.display());
    }
    let script_dir = match script.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };

    let stage = Staging(std::env::temp_dir().join(format!(
        "memtls-python-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )));
    let wit = stage.0.join("wit");
    let lib = stage.0.join("lib");
    let entry = stage.0.join("entry");
    write_all(&wit, WIT)?;
    write_all(&lib, PYTHON)?;
    let entry_source = format!(
        "\"\"\"Entry module generated by memtls python build.\"\"\"\n\
         from memtls._runner import command\n\
         Run = command({module:?})\n"
    );
    write_all(&entry, &[("memtls_entry.py", &entry_source)])?;

    let tool = componentize_py();
    let mut cmd = Command::new(&tool);
    cmd.arg("-q")
        .arg("-d")
        .arg(&wit)
        .arg("-w")
        .arg(PYTHON_WORLD)
        .arg("componentize")
        .arg("memtls_entry")
        .arg("-p")
        .arg(&entry)
        // memtls's files first: its `certifi` takes the place of the PyPI package
        // that `pip install --target` puts next to requests.
        .arg("-p")
        .arg(&lib)
        .arg("-p")
        .arg(&script_dir);
    for p in &build.python_path {
        cmd.arg("-p").arg(p);
    }
    cmd.arg("-o").arg(&build.output);
    let status = cmd.status().map_err(|e| {
        format_err!(
            "cannot run {}: {e}; install it with `pip install componentize-py=={}` \
             (or set MEMTLS_COMPONENTIZE_PY)",
            tool.display(),
            COMPONENTIZE_PY_VERSION
        )
    })?;
    if !status.success() {
        bail!(
            "componentize-py failed ({status}) building {}",
            script.display()
        );
    }
    Ok(())
}
