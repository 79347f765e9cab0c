//! The scenarios on the engine directly, natively: the provider contract as
//! the native and guest providers serve it, without Wasm in between.

use std::rc::Rc;
use std::sync::Arc;

use memtls_engine as engine;

use crate::tls::Backend;

/// The engine with ring and the Mozilla roots, serving one instance under
/// `policy`: what the native provider builds for one store.
pub fn engine_backend(policy: engine::Policy) -> Rc<Backend> {
    let engine = engine::Engine::new(engine::EngineOptions {
        extra_system_anchors: policy.extra_system_anchors.clone(),
        ..engine::EngineOptions::ring("memtls-engine (rustls, ring; natively, for the scenarios)")
    });
    Rc::new(engine::RustlsProvider::new(
        Arc::new(engine),
        engine::Admission::new(policy),
    ))
}
