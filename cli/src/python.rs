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
        "memtls/_pem.py",
        include_str!("../../python/memtls/_pem.py"),
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
    /// A pip requirements file: its packages (pure-Python wheels for the
    /// component's CPython) are installed for the build and bundled whole.
    pub requirements: Option<PathBuf>,
    /// Modules the script imports at its top level that may be missing from
    /// the component (the build fails for any other that cannot be imported).
    pub allow_unbundled: Vec<String>,
}

/// The CPython componentize-py embeds, which wheels must suit.
const COMPONENT_PYTHON: &str = "3.14";

/// Installs the packages `requirements` names (and what they need) into `site`
/// as pure-Python wheels for the component's CPython; returns the top-level
/// modules and packages installed.
fn install_requirements(requirements: &Path, site: &Path) -> Result<Vec<String>> {
    let python = std::env::var_os("MEMTLS_PIP_PYTHON").unwrap_or_else(|| "python3".into());
    let output = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args([
            "--only-binary=:all:",
            "--implementation",
            "py",
            "--platform",
            "any",
        ])
        .args(["--python-version", COMPONENT_PYTHON, "--target"])
        .arg(site)
        .arg("--requirement")
        .arg(requirements)
        .output()
        .map_err(|e| format_err!("cannot run {} -m pip: {e}", Path::new(&python).display()))?;
    if !output.status.success() {
        bail!(
            "pip could not install {} as pure-Python wheels for CPython {COMPONENT_PYTHON} \
             (a package with compiled code cannot run in the component):\n{}",
            requirements.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(site).map_err(|e| format_err!("{}: {e}", site.display()))? {
        let path = entry
            .map_err(|e| format_err!("{}: {e}", site.display()))?
            .path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let module = if path.join("__init__.py").is_file() {
            name
        } else if let Some(stem) = name.strip_suffix(".py") {
            stem
        } else {
            continue;
        };
        if !RESERVED.contains(&module) {
            names.push(module.to_owned());
        }
    }
    names.sort();
    Ok(names)
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
    // What the build does to componentize-py's output.
    include_str!("leak_fix.rs").hash(&mut hasher);
    if let Some(requirements) = &build.requirements {
        crate::read_input(
            requirements,
            &requirements.display().to_string(),
            crate::MAX_TEXT_FILE,
        )?
        .hash(&mut hasher);
    }
    WIT.hash(&mut hasher);
    PYTHON.hash(&mut hasher);
    crate::read_input(
        &build.script,
        &build.script.display().to_string(),
        crate::MAX_TEXT_FILE,
    )?
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
    let site = stage.0.join("site");
    let whole = match &build.requirements {
        Some(requirements) => install_requirements(requirements, &site)?,
        None => Vec::new(),
    };
    let entry_source = format!(
        "\"\"\"Entry module generated by memtls python build.\"\"\"\n\
         from memtls._runner import command\n\
         Run = command({module:?}, whole={whole:?})\n"
    );
    write_all(&entry, &[("memtls_entry.py", &entry_source)])?;

    let tool = componentize_py();
    check_release(&tool)?;
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
    if build.requirements.is_some() {
        cmd.arg("-p").arg(&site);
    }
    cmd.arg("-o").arg(&build.output);
    // A script that does not build is reported by Python's own traceback; a
    // Rust backtrace of componentize-py's after it would bury that.
    cmd.env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0");
    // check_release has run it already: how to install it was said there.
    let status = cmd
        .status()
        .map_err(|e| format_err!("cannot run {}: {e}", tool.display()))?;
    if !status.success() {
        bail!(
            "componentize-py failed ({status}) building {}",
            script.display()
        );
    }
    // componentize-py 0.25.1 leaks every `bytes` argument of an imported function
    // (python/README.md): the component it wrote gets the fix.
    let built =
        std::fs::read(&build.output).map_err(|e| format_err!("{}: {e}", build.output.display()))?;
    let fixed = crate::leak_fix::fix(&built).map_err(|e| {
        format_err!(
            "fixing componentize-py's list leak in {}: {e:#}",
            build.output.display()
        )
    })?;
    std::fs::write(&build.output, fixed)
        .map_err(|e| format_err!("{}: {e}", build.output.display()))?;
    let mut required = Vec::new();
    for line in unbundled(&build.output)? {
        let (kind, what) = line.split_once(' ').unwrap_or(("optional", &line));
        eprintln!("memtls python build: not in the component (cannot be imported): {what}");
        let (name, why) = what.split_once(": ").unwrap_or((what, ""));
        if kind == "required" && !build.allow_unbundled.iter().any(|a| a == name) {
            required.push((name.to_owned(), why.to_owned()));
        }
    }
    if let Some((name, why)) = required.first() {
        let _ = std::fs::remove_file(&build.output);
        let native = why
            .split("No module named '")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            // The module itself (or its package) missing is no dependency.
            .filter(|missing| {
                *missing != name.as_str() && !name.starts_with(&format!("{missing}."))
            });
        let remedy = match native {
            Some(missing) if missing.starts_with('_') => format!(
                "`{missing}` is a native extension module, and componentize-py's CPython has \
                 only pure-Python modules and the standard library's built-in ones: use a \
                 pure-Python alternative"
            ),
            Some(missing) => format!(
                "it needs `{missing}`, which is not installed: add it to the requirements \
                 (-r) or its directory to the path (-p)"
            ),
            None => "install it for the build: list it in a requirements file (-r), or give \
                     its directory with -p"
                .to_owned(),
        };
        bail!(
            "{} imports `{name}` at its top level, and it cannot be imported in the component \
             ({why}); {remedy}, import it inside `try: ... except ImportError`, or build \
             anyway with --allow-unbundled {name}{}",
            script.display(),
            if required.len() > 1 {
                format!(
                    " (also missing: {})",
                    required[1..]
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// Refuses any componentize-py but the release memtls is written against: the
/// leak fix rewrites what exactly that release produces, and one that freed the
/// buffers itself would free them twice.
fn check_release(tool: &Path) -> Result<()> {
    let output = Command::new(tool).arg("--version").output().map_err(|e| {
        format_err!(
            "cannot run {}: {e}; install it with `pip install componentize-py=={}` \
             (or set MEMTLS_COMPONENTIZE_PY)",
            tool.display(),
            COMPONENTIZE_PY_VERSION
        )
    })?;
    let found = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if found != format!("componentize-py {COMPONENTIZE_PY_VERSION}") {
        bail!(
            "memtls python build is written for componentize-py {COMPONENTIZE_PY_VERSION} \
             (it fixes that release's leak of bytes arguments in what it builds), not \
             {found:?}: pip install componentize-py=={COMPONENTIZE_PY_VERSION}"
        );
    }
    Ok(())
}

/// The modules the script imports, or of the packages bundled whole, that could
/// not be imported while building, as `name: why` lines: the built component
/// reports them when run with `MEMTLS_PYTHON_BUILD_REPORT=1` (componentize-py
/// shows nothing of the build's own output). Running it also fills the
/// compilation cache for the first run.
fn unbundled(component: &Path) -> Result<Vec<String>> {
    let bytes =
        std::fs::read(component).map_err(|e| format_err!("{}: {e}", component.display()))?;
    let label = component
        .file_name()
        .map_or_else(|| "component".into(), |n| n.to_string_lossy().into_owned());
    let policy = memtls_host::Policy::default();
    let loaded = crate::load(&bytes, memtls_host::Provider::Native, &policy, &label)?;
    let out = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(1 << 20);
    let code = crate::run(
        &loaded,
        &crate::RunOptions {
            args: vec![label.clone()],
            env: vec![("MEMTLS_PYTHON_BUILD_REPORT".into(), "1".into())],
            capture_stdout: Some(out.clone()),
            ..crate::RunOptions::default()
        },
    )?;
    if code != 0 {
        bail!("{label}: the built component failed its build report (exit {code})");
    }
    Ok(String::from_utf8_lossy(&out.contents())
        .lines()
        .map(str::to_owned)
        .collect())
}
