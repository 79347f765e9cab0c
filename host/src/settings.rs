//! How the process's embedding runtime works ([`Settings`]) and what it
//! tells the embedder while it works ([`Notice`]): the runtime and its cache
//! of compiled components read these; neither prints nor reads the
//! environment.

use std::sync::{Arc, OnceLock};

/// What the runtime tells its embedder while it works (through
/// [`Settings::notices`]); the library itself never prints.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Notice<'a> {
    /// A component has been compiling for `seconds` (told every 100 ms from
    /// the first second on: quick compilations say nothing).
    Compiling {
        /// The component's label (as given to [`load`]).
        label: &'a str,
        /// Its size in bytes.
        bytes: usize,
        /// How long so far.
        seconds: f64,
    },
    /// A compilation that was told about ([`Notice::Compiling`]) finished; the
    /// result is cached for next time.
    Compiled {
        /// The component's label.
        label: &'a str,
        /// How long it took.
        seconds: f64,
    },
    /// A cache (wasmtime's compilation cache, memtls's cache of compiled
    /// components) is not used, or an entry could not be kept: the sentence
    /// says which and why. Running goes on without it.
    Cache(&'a str),
}

/// The callback that receives [`Notice`]s.
pub type Notices = Arc<dyn Fn(&Notice<'_>) + Send + Sync>;

/// How the process's runtime works, fixed before its first use
/// ([`Settings::install`]); the default caches, names no functions for
/// `perf`, and tells nothing.
#[derive(Clone)]
pub struct Settings {
    /// Name compiled Wasm functions for `perf` (a perf map in /tmp).
    pub perf_map: bool,
    /// Keep compiled components, and the functions compiled for them, in
    /// the user's cache directory (see the crate's SECURITY notes); `false`
    /// compiles every load afresh.
    pub component_cache: bool,
    /// Where progress and cache troubles go.
    pub notices: Option<Notices>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            perf_map: false,
            component_cache: true,
            notices: None,
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("perf_map", &self.perf_map)
            .field("component_cache", &self.component_cache)
            .field("notices", &self.notices.is_some())
            .finish()
    }
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

impl Settings {
    /// Makes these the process's settings. Fails, handing them back, once
    /// settings are fixed: by an earlier `install` or by the runtime's first
    /// use (which fixes the default).
    pub fn install(self) -> Result<(), Self> {
        SETTINGS.set(self)
    }

    /// The process's settings (the default, fixed now, if none were installed).
    pub fn get() -> &'static Settings {
        SETTINGS.get_or_init(Settings::default)
    }
}

/// Tells the embedder `notice`, if it listens.
pub(crate) fn notify(notice: Notice<'_>) {
    if let Some(notices) = &Settings::get().notices {
        notices(&notice);
    }
}
