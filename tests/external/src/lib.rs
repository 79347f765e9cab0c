//! Helpers of the suites that need programs, data or hosts from outside
//! the workspace: Python programs built with `memtls python build` (the
//! command's own build, which these suites test).

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use memtls_test_harness::workspace;

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
    python_script_component(
        &workspace().join("python/tests").join(script),
        python_path,
        requirements.map(|r| workspace().join("python/tests").join(r)),
    )
}

/// Builds the Python program `script` (any path) with `memtls python build`
/// into `target/python-tests/`, once per version of its inputs.
pub fn python_script_component(
    script: &Path,
    python_path: Vec<PathBuf>,
    requirements: Option<PathBuf>,
) -> Vec<u8> {
    let out_dir = workspace().join("target/python-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut request = memtls_cli::python::PythonBuild {
        script: script.to_path_buf(),
        output: PathBuf::new(),
        python_path,
        requirements,
        allow_unbundled: Vec::new(),
    };
    let key = memtls_cli::python::fingerprint(&request).expect("fingerprint the build inputs");
    let stem = script.file_stem().unwrap_or_default().to_string_lossy();
    request.output = out_dir.join(format!("{stem}-{key:016x}.wasm"));
    if !request.output.is_file() {
        let done = request.output.clone();
        request.output.set_extension("partial");
        memtls_cli::python::build(&request)
            .unwrap_or_else(|e| panic!("memtls python build {}: {e:#}", script.display()));
        std::fs::rename(&request.output, &done).unwrap();
        request.output = done;
    }
    std::fs::read(&request.output).unwrap()
}

/// The lines of a list of known differences (`#` comments): a key of
/// `key_words` words, then a reason (required); by key.
pub fn listed(text: &str, key_words: usize) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let words: Vec<&str> = l.splitn(key_words + 1, char::is_whitespace).collect();
            let key = words[..key_words.min(words.len())].join(" ");
            let why = words.get(key_words).map_or("", |w| w.trim());
            assert!(!why.is_empty(), "listed case {key} has no reason");
            (key, why.to_string())
        })
        .collect()
}

/// `shared/testdata/x509-limbo/limbo.json` next to the checkout, or where
/// `MEMTLS_LIMBO` says.
pub fn limbo_path() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("MEMTLS_LIMBO").map(PathBuf::from),
        Some(manifest.join("../../../shared/testdata/x509-limbo/limbo.json")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .expect("limbo.json not found: set MEMTLS_LIMBO or keep ../shared next to the checkout")
}
