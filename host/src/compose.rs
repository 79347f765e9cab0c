//! Composition of an application with the guest provider (wac-graph, in
//! process): the guest's exports satisfy the application's `memtls:tls`
//! imports, and the result imports only what either of them needs from WASI.

use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};

/// The guest provider component, built by this crate's build script.
pub fn guest_component() -> &'static [u8] {
    include_bytes!(env!("MEMTLS_GUEST_WASM"))
}

/// Plugs the guest provider into `app`'s `memtls:tls` imports and returns the
/// encoded composition.
pub fn compose_with_guest(app: &[u8]) -> wasmtime::Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let app_pkg = Package::from_bytes("memtls:application", None, app.to_vec(), graph.types_mut())
        .map_err(|e| wasmtime::format_err!("the application is not a usable component: {e:#}"))?;
    let guest_pkg = Package::from_bytes(
        "memtls:guest",
        None,
        guest_component().to_vec(),
        graph.types_mut(),
    )
    .map_err(|e| wasmtime::format_err!("the guest provider component is unusable: {e:#}"))?;
    let app_id = graph
        .register_package(app_pkg)
        .map_err(|e| wasmtime::format_err!("{e:#}"))?;
    let guest_id = graph
        .register_package(guest_pkg)
        .map_err(|e| wasmtime::format_err!("{e:#}"))?;
    wac_graph::plug(&mut graph, vec![guest_id], app_id).map_err(|e| {
        wasmtime::format_err!(
            "could not plug the guest provider into the application \
             (does it import memtls:tls@0.1.0?): {e:#}"
        )
    })?;
    graph
        .encode(EncodeOptions::default())
        .map_err(|e| wasmtime::format_err!("encoding the composition failed: {e:#}"))
}
