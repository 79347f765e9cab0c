//! Composition of an application with the guest provider (wac-graph, in
//! process): a generated policy component satisfies the guest's
//! `memtls:tls/policy` import, the guest's exports satisfy the application's
//! `memtls:tls` imports, and the result imports only what either of them needs
//! from WASI. The policy travels inside the composition: the application has no
//! way to reach or change it.

use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions, NodeId};
use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, ExportKind, ExportSection, Function, FunctionSection,
    Instruction, MemorySection, MemoryType, Module, TypeSection, ValType,
};

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::Policy;

/// The interface the policy component exports and the guest imports.
const POLICY: &str = "memtls:tls/policy@0.1.0";
/// The interfaces an application imports from the guest.
const PROVIDED: [&str; 2] = [TLS, "memtls:tls/insecure@0.1.0"];
/// The interface whose types the others use.
const TLS: &str = "memtls:tls/tls@0.1.0";
/// The interface through which the guest provider has the host sign for
/// the identities the policy grants; no application may import it.
const SIGNER: &str = "memtls:tls/host-signer@0.1.0";

/// Declares a component the embedder supplies (bytes it built or shipped),
/// with a process-wide default as rustls has for its crypto provider.
macro_rules! supplied_component {
    ($(#[$doc:meta])* $name:ident, $what:literal, $how:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name {
            bytes: Cow<'static, [u8]>,
        }

        impl $name {
            /// The component in `bytes` (checked when it is composed).
            pub fn new(bytes: impl Into<Cow<'static, [u8]>>) -> Self {
                Self {
                    bytes: bytes.into(),
                }
            }

            /// Its encoded bytes.
            pub fn bytes(&self) -> &[u8] {
                &self.bytes
            }

            /// Makes this the process's default; fails, handing it back, when
            /// one is installed already.
            pub fn install_default(self) -> Result<(), Self> {
                Self::slot().set(self)
            }

            /// The process's default, if one was installed.
            pub fn get_default() -> Option<&'static Self> {
                Self::slot().get()
            }

            fn slot() -> &'static OnceLock<Self> {
                static DEFAULT: OnceLock<$name> = OnceLock::new();
                &DEFAULT
            }

            /// The installed default, or an error saying how to install one.
            pub(crate) fn installed() -> wasmtime::Result<&'static Self> {
                Self::get_default().ok_or_else(|| {
                    wasmtime::format_err!(
                        "{} needs its component: install {} with memtls_host::{}::install_default",
                        $what,
                        $how,
                        stringify!($name)
                    )
                })
            }
        }
    };
}

supplied_component!(
    /// The guest provider component: a `wasm32-wasip2` build of `memtls-guest`
    /// (`cargo rustc -p memtls-guest --lib --crate-type cdylib --release --target
    /// wasm32-wasip2`; this workspace's `memtls-artifacts` builds it). It exports
    /// `memtls:tls` and imports `memtls:tls/policy`: [`compose_with_guest`] plugs
    /// it into an application with the policy baked in ([`policy_component`]).
    ///
    /// [`crate::prepare_component`] and the embedding runtime use the one
    /// installed with [`GuestComponent::install_default`], as rustls does with its
    /// process-wide crypto provider.
    GuestComponent,
    "the guest provider",
    "a wasm32-wasip2 build of memtls-guest"
);

supplied_component!(
    /// The wasi:tls adapter component: a `wasm32-wasip2` build of
    /// `memtls-wasi-tls` (built like the guest; `memtls-artifacts` builds it). It
    /// exports `wasi:tls/client@0.3.0-draft` and `wasi:tls/types@0.3.0-draft` and
    /// imports `memtls:tls`: [`crate::prepare_component`] plugs it into an
    /// application that imports wasi:tls 0.3, with the guest provider under it
    /// or the host's provider, so that such a program runs on memtls unchanged.
    WasiTlsAdapter,
    "a wasi:tls 0.3 application",
    "a wasm32-wasip2 build of memtls-wasi-tls (the wasi:tls adapter)"
);

/// Where the `settings` record sits in the policy component's memory; what
/// its lists hold follows it.
const RECORD_AT: u32 = 16;

/// The WIT carries limits as u32: a limit beyond that is as good as unlimited.
fn clamp(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// A memory image under construction, laid out as the canonical ABI lifts
/// values (little-endian, each value at its alignment); offsets are u32.
struct Image(Vec<u8>);

impl Image {
    /// Appends `len` zero bytes at alignment `align`; returns their offset.
    fn reserve(&mut self, len: usize, align: usize) -> wasmtime::Result<u32> {
        let at = self.0.len().next_multiple_of(align);
        let end = at
            .checked_add(len)
            .filter(|end| u32::try_from(*end).is_ok())
            .ok_or_else(|| wasmtime::format_err!("policy: the policy exceeds 4 GiB"))?;
        self.0.resize(end, 0);
        Ok(at as u32)
    }

    fn put_u32(&mut self, at: u32, value: u32) {
        let at = at as usize;
        self.0[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    /// Writes a list's (pointer, length) pair at `at`, the elements being
    /// `count` of `size` bytes each at `align`, reserved here; returns where
    /// the elements go.
    fn list(&mut self, at: u32, count: usize, size: usize, align: usize) -> wasmtime::Result<u32> {
        let len = count
            .checked_mul(size)
            .ok_or_else(|| wasmtime::format_err!("policy: the policy exceeds 4 GiB"))?;
        let elements = self.reserve(len, align)?;
        self.put_u32(at, elements);
        self.put_u32(at + 4, clamp(count));
        Ok(elements)
    }

    /// Writes `bytes` as a `list<u8>` (or a `string`) whose pair is at `at`.
    fn bytes(&mut self, at: u32, bytes: &[u8]) -> wasmtime::Result<()> {
        let elements = self.list(at, bytes.len(), 1, 1)?;
        let start = elements as usize;
        self.0[start..start + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    /// Writes a `list<list<u8>>` whose pair is at `at`.
    fn byte_lists<'a>(
        &mut self,
        at: u32,
        lists: impl ExactSizeIterator<Item = &'a [u8]>,
    ) -> wasmtime::Result<()> {
        let table = self.list(at, lists.len(), 8, 4)?;
        for (i, bytes) in lists.enumerate() {
            self.bytes(table + 8 * i as u32, bytes)?;
        }
        Ok(())
    }
}

/// The memory image of the `settings` record in the canonical ABI's layout:
/// the record at [`RECORD_AT`] (bool at 0, six u32 from 4, the `base-roots`
/// enum's byte at 28, the anchors' list at 32, the identities' at 40), then
/// what the lists hold. A `granted-identity` takes 28 bytes: name at 0, the
/// purposes' bools at 8 and 9, certificates at 12, schemes (u16) at 20.
pub(crate) fn policy_image(policy: &Policy) -> wasmtime::Result<Vec<u8>> {
    let mut image = Image(Vec::new());
    image.reserve(RECORD_AT as usize, 1)?;
    let record = image.reserve(48, 4)?;
    image.0[record as usize] = u8::from(policy.allow_insecure);
    for (i, limit) in [
        policy.max_connections,
        policy.max_contexts,
        policy.max_buffered_bytes,
        policy.max_config_bytes,
        policy.max_chain_certificates,
        policy.max_chain_bytes,
    ]
    .into_iter()
    .enumerate()
    {
        image.put_u32(record + 4 + 4 * i as u32, clamp(limit));
    }
    // The enum's discriminant: the case's index in the WIT.
    image.0[record as usize + 28] = match policy.base_roots {
        memtls_engine::BaseRoots::Platform => 0,
        memtls_engine::BaseRoots::Mozilla => 1,
        memtls_engine::BaseRoots::None => 2,
    };
    image.byte_lists(
        record + 32,
        policy.extra_system_anchors.iter().map(Vec::as_slice),
    )?;
    let identities = image.list(record + 40, policy.identities.len(), 28, 4)?;
    for (i, identity) in policy.identities.iter().enumerate() {
        let at = identities + 28 * i as u32;
        image.bytes(at, identity.name().as_bytes())?;
        let purposes = identity.purposes();
        image.0[at as usize + 8] = u8::from(purposes.contains(&memtls_engine::Purpose::Client));
        image.0[at as usize + 9] = u8::from(purposes.contains(&memtls_engine::Purpose::Server));
        image.byte_lists(at + 12, identity.certificates().iter().map(|c| c.as_ref()))?;
        let schemes = identity.schemes();
        let table = image.list(at + 20, schemes.len(), 2, 2)?;
        for (j, scheme) in schemes.into_iter().enumerate() {
            let start = table as usize + 2 * j;
            image.0[start..start + 2].copy_from_slice(&u16::from(scheme).to_le_bytes());
        }
    }
    Ok(image.0)
}

/// A component exporting `memtls:tls/policy` whose `current` returns `policy`:
/// a core module with the answer in a data segment, given its component type by
/// wit-component. The guest provider's policy import is satisfied with it.
pub fn policy_component(policy: &Policy) -> wasmtime::Result<Vec<u8>> {
    // Refuse anchors the guest could not parse now, not at the first handshake.
    memtls_engine::parse_certificates(&policy.extra_system_anchors, "extra system anchors")
        .map_err(|e| wasmtime::format_err!("policy: {}", e.message))?;
    let image = policy_image(policy)?;
    let pages = (image.len() as u64).div_ceil(65536).max(1);

    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    module.section(&types);
    let mut functions = FunctionSection::new();
    functions.function(0);
    module.section(&functions);
    memory_section(&mut module, pages, Some(pages));
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export(&format!("{POLICY}#current"), ExportKind::Func, 0);
    module.section(&exports);
    let mut code = CodeSection::new();
    let mut settings = Function::new([]);
    settings.instruction(&Instruction::I32Const(RECORD_AT as i32));
    settings.instruction(&Instruction::End);
    code.function(&settings);
    module.section(&code);
    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(0), image);
    module.section(&data);
    component_of(module.finish(), "policy-source", "the policy component")
}

/// Adds the memory section of a module with one 32-bit memory of `minimum`
/// pages (at most `maximum`).
fn memory_section(module: &mut Module, minimum: u64, maximum: Option<u64>) {
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum,
        maximum,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);
}

/// Gives core module `core` the component type of the memtls WIT's world
/// `world`.
fn component_of(mut core: Vec<u8>, world: &str, what: &str) -> wasmtime::Result<Vec<u8>> {
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve
        .push_str("tls.wit", include_str!("../wit/tls.wit"))
        .map_err(|e| wasmtime::format_err!("the memtls WIT does not parse: {e:#}"))?;
    let world = resolve
        .select_world(&[package], Some(world))
        .map_err(|e| wasmtime::format_err!("{e:#}"))?;
    wit_component::embed_component_metadata(
        &mut core,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .map_err(|e| wasmtime::format_err!("{e:#}"))?;
    wit_component::ComponentEncoder::default()
        .module(&core)
        .and_then(|e| e.validate(true).encode())
        .map_err(|e| wasmtime::format_err!("building {what} failed: {e:#}"))
}

/// What the stand-in for `host-signer` answers.
const NO_SIGNER: &str = "the host grants this program no identity to sign with";

/// The component a composition without host identities plugs into the guest
/// provider's `host-signer` import, so that it imports nothing memtls-specific
/// and plain hosts (the wasmtime CLI, jco) run it. The guest never calls it
/// (it only signs for identities the policy grants, and there are none); if
/// called, it refuses with [`NO_SIGNER`]. Its allocator hands every argument
/// the same scratch space, enough of its memory grown to hold it: the
/// arguments are never read. It is the same for every composition: built
/// once.
fn signer_stand_in() -> wasmtime::Result<&'static [u8]> {
    static STAND_IN: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    STAND_IN
        .get_or_init(|| build_signer_stand_in().map_err(|e| format!("{e:#}")))
        .as_deref()
        .map_err(|e| wasmtime::format_err!("{e}"))
}

fn build_signer_stand_in() -> wasmtime::Result<Vec<u8>> {
    const SCRATCH: i32 = 1024;
    const ANSWER_AT: i32 = 16;
    const TEXT_AT: u32 = 64;
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32; 4], [ValType::I32]);
    types.ty().function([ValType::I32; 5], [ValType::I32]);
    module.section(&types);
    let mut functions = FunctionSection::new();
    functions.function(0);
    functions.function(1);
    module.section(&functions);
    memory_section(&mut module, 1, None);
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("cabi_realloc", ExportKind::Func, 0);
    exports.export(&format!("{SIGNER}#sign"), ExportKind::Func, 1);
    module.section(&exports);
    let mut code = CodeSection::new();
    // cabi_realloc(old, old_size, align, new_size): SCRATCH, with the memory
    // grown to hold new_size bytes there.
    let mut realloc = Function::new([]);
    for instruction in [
        Instruction::LocalGet(3),
        Instruction::I32Const(SCRATCH),
        Instruction::I32Add,
        Instruction::MemorySize(0),
        Instruction::I32Const(16),
        Instruction::I32Shl,
        Instruction::I32GtU,
        Instruction::If(wasm_encoder::BlockType::Empty),
        Instruction::LocalGet(3),
        Instruction::I32Const(SCRATCH + 0xffff),
        Instruction::I32Add,
        Instruction::I32Const(16),
        Instruction::I32ShrU,
        Instruction::MemorySize(0),
        Instruction::I32Sub,
        Instruction::MemoryGrow(0),
        Instruction::I32Const(-1),
        Instruction::I32Eq,
        Instruction::If(wasm_encoder::BlockType::Empty),
        Instruction::Unreachable,
        Instruction::End,
        Instruction::End,
        Instruction::I32Const(SCRATCH),
        Instruction::End,
    ] {
        realloc.instruction(&instruction);
    }
    code.function(&realloc);
    // sign(...): the `err` case of the result, its text in the data.
    let mut sign = Function::new([]);
    sign.instruction(&Instruction::I32Const(ANSWER_AT));
    sign.instruction(&Instruction::End);
    code.function(&sign);
    module.section(&code);
    let mut answer = vec![1, 0, 0, 0];
    answer.extend_from_slice(&TEXT_AT.to_le_bytes());
    answer.extend_from_slice(&(NO_SIGNER.len() as u32).to_le_bytes());
    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(ANSWER_AT), answer);
    data.active(0, &ConstExpr::i32_const(TEXT_AT as i32), NO_SIGNER.bytes());
    module.section(&data);
    component_of(
        module.finish(),
        "signer-stand-in",
        "the stand-in for host-signer",
    )
}

fn register(
    graph: &mut CompositionGraph,
    name: &str,
    bytes: Vec<u8>,
    what: &str,
) -> wasmtime::Result<wac_graph::PackageId> {
    let package = Package::from_bytes(name, None, bytes, graph.types_mut())
        .map_err(|e| wasmtime::format_err!("{what} is not a usable component: {e:#}"))?;
    graph
        .register_package(package)
        .map_err(|e| wasmtime::format_err!("{e:#}"))
}

fn export_of(
    graph: &mut CompositionGraph,
    instance: NodeId,
    name: &str,
) -> wasmtime::Result<NodeId> {
    graph
        .alias_instance_export(instance, name)
        .map_err(|e| wasmtime::format_err!("{e:#}"))
}

/// Plugs `guest`, with `policy` baked in, into `app`'s `memtls:tls`
/// imports and returns the encoded composition. It exports what `app` exports;
/// when that is more than `wasi:*` interfaces (a library component whose
/// functions may use `memtls:tls` types, such as an `error`), it also exports
/// the guest's `memtls:tls/tls`, which those types belong to (without it the
/// composition is not a valid component).
///
/// An application that imports wasi:tls 0.3 needs the adapter as well: see
/// [`compose`].
pub fn compose_with_guest(
    app: &[u8],
    guest: &GuestComponent,
    policy: &Policy,
) -> wasmtime::Result<Vec<u8>> {
    compose(app, Some((guest, policy)), None)
}

/// The wasi:tls 0.3 draft's interfaces: what the adapter exports.
pub const WASI_TLS: [&str; 2] = ["wasi:tls/client@0.3.0-draft", "wasi:tls/types@0.3.0-draft"];

/// The names a component imports (its top-level import sections), read without
/// validating or decoding the rest: the nested modules and components (nearly
/// all of a large application's bytes) are skipped, not parsed.
pub fn component_imports(bytes: &[u8]) -> wasmtime::Result<Vec<String>> {
    use wasmparser::{Chunk, Parser, Payload};
    let broken = |e: &dyn std::fmt::Display| wasmtime::format_err!("not a component: {e}");
    if let Some(why) = not_a_component(bytes) {
        return Err(broken(&why));
    }
    let mut names = Vec::new();
    let mut parser = Parser::new(0);
    let mut at = 0usize;
    loop {
        let rest = bytes
            .get(at..)
            .ok_or_else(|| broken(&"a section runs past the end"))?;
        let Chunk::Parsed { consumed, payload } =
            parser.parse(rest, true).map_err(|e| broken(&e))?
        else {
            return Err(broken(&"it ends early"));
        };
        at += consumed;
        match payload {
            // The parser has stepped over the nested bytes; so do we.
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => at = usize::try_from(unchecked_range.end).map_err(|e| broken(&e))?,
            Payload::ComponentImportSection(imports) => {
                for import in imports {
                    names.push(import.map_err(|e| broken(&e))?.name.name.to_string());
                }
            }
            Payload::End(_) => return Ok(names),
            _ => {}
        }
    }
}

/// Why `bytes` cannot be a component, judged by its 8-byte preamble (the
/// magic number, then version and layer), in a sentence; `None` when it is a
/// component's preamble.
fn not_a_component(bytes: &[u8]) -> Option<&'static str> {
    const COMPONENT: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
    const CORE_MODULE: [u8; 4] = [0x01, 0x00, 0x00, 0x00];
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned();
    match (bytes.get(..4), bytes.get(4..8)) {
        (Some(b"\0asm"), Some(v)) if v == COMPONENT => None,
        (Some(b"\0asm"), Some(v)) if v == CORE_MODULE => Some(
            "it is a core WebAssembly module; make a component of it (build for \
             wasm32-wasip2, or `wasm-tools component new`)",
        ),
        (Some(b"\0asm"), Some(_)) => {
            Some("it is WebAssembly of a version or layer this wasmtime does not know")
        }
        (Some(b"\0asm"), None) => Some("it ends inside the WebAssembly preamble"),
        _ if bytes.is_empty() => Some("it is empty"),
        _ if text.trim_start().starts_with('(') => Some(
            "it looks like WebAssembly text; memtls takes the binary form (`wasm-tools parse`)",
        ),
        _ => Some("it is not WebAssembly (a WebAssembly file starts with the bytes \\0asm)"),
    }
}

/// Whether `app` imports the wasi:tls 0.3 draft (and so needs the adapter).
pub fn imports_wasi_tls(app: &[u8]) -> wasmtime::Result<bool> {
    Ok(component_imports(app)?
        .iter()
        .any(|name| WASI_TLS.contains(&name.as_str())))
}

/// Composes `app` with what serves its TLS imports: `guest` (with its policy
/// baked in) for `memtls:tls`, and `adapter` for wasi:tls 0.3 (the adapter's
/// own `memtls:tls` import plugged into the same guest, or left for the host
/// to serve when there is no guest). Returns the encoded composition, which
/// exports what `app` exports (see [`compose_with_guest`] for the library
/// case).
pub fn compose(
    app: &[u8],
    guest: Option<(&GuestComponent, &Policy)>,
    adapter: Option<&WasiTlsAdapter>,
) -> wasmtime::Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let app_id = register(
        &mut graph,
        "memtls:application",
        app.to_vec(),
        "the application",
    )?;
    let app_imports: Vec<String> = graph.types()[graph[app_id].ty()]
        .imports
        .keys()
        .cloned()
        .collect();
    if app_imports.iter().any(|i| i == SIGNER) {
        wasmtime::bail!(
            "the application imports {SIGNER}, through which the host signs for the identities \
             it holds: only the guest provider may use it, and memtls does not compose a program \
             that asks for it"
        );
    }
    let guest = match guest {
        Some((guest, policy)) => {
            let guest_id = register(
                &mut graph,
                "memtls:guest",
                guest.bytes().to_vec(),
                "the guest provider",
            )?;
            let policy_id = register(
                &mut graph,
                "memtls:policy",
                policy_component(policy)?,
                "the policy component",
            )?;
            let policy_instance = graph.instantiate(policy_id);
            let guest = graph.instantiate(guest_id);
            let settings = export_of(&mut graph, policy_instance, POLICY)?;
            graph
                .set_instantiation_argument(guest, POLICY, settings)
                .map_err(|e| wasmtime::format_err!("the guest provider takes no policy: {e:#}"))?;
            // With identities granted, `host-signer` stays an import of the
            // composition, for the host that holds their keys to serve.
            if policy.identities.is_empty() {
                let stand_in = register(
                    &mut graph,
                    "memtls:signer-stand-in",
                    signer_stand_in()?.to_vec(),
                    "the stand-in for host-signer",
                )?;
                let stand_in = graph.instantiate(stand_in);
                let signer = export_of(&mut graph, stand_in, SIGNER)?;
                graph
                    .set_instantiation_argument(guest, SIGNER, signer)
                    .map_err(|e| {
                        wasmtime::format_err!("the guest provider takes no host-signer: {e:#}")
                    })?;
            }
            Some(guest)
        }
        None => None,
    };
    let adapter = match adapter {
        Some(adapter) => {
            let adapter_id = register(
                &mut graph,
                "memtls:wasi-tls-adapter",
                adapter.bytes().to_vec(),
                "the wasi:tls adapter",
            )?;
            let instance = graph.instantiate(adapter_id);
            if let Some(guest) = guest {
                let export = export_of(&mut graph, guest, TLS)?;
                graph
                    .set_instantiation_argument(instance, TLS, export)
                    .map_err(|e| {
                        wasmtime::format_err!(
                            "could not plug the guest provider into the wasi:tls adapter: {e:#}"
                        )
                    })?;
            }
            Some(instance)
        }
        None => None,
    };

    let application = graph.instantiate(app_id);
    let mut plugged = 0;
    for name in &app_imports {
        let source = if PROVIDED.contains(&name.as_str()) {
            guest.map(|g| (g, "the guest provider"))
        } else if WASI_TLS.contains(&name.as_str()) {
            adapter.map(|a| (a, "the wasi:tls adapter"))
        } else {
            None
        };
        let Some((source, what)) = source else {
            continue;
        };
        let export = export_of(&mut graph, source, name)?;
        graph
            .set_instantiation_argument(application, name, export)
            .map_err(|e| {
                wasmtime::format_err!("could not plug {what}'s {name} into the application: {e:#}")
            })?;
        plugged += 1;
    }
    if plugged == 0 {
        wasmtime::bail!(
            "nothing to compose: the application imports {}",
            match (guest.is_some(), adapter.is_some()) {
                (true, false) => "neither memtls:tls/tls@0.1.0 nor memtls:tls/insecure@0.1.0",
                (false, true) => "no wasi:tls@0.3.0-draft interface",
                _ => "neither memtls:tls@0.1.0 nor wasi:tls@0.3.0-draft",
            }
        );
    }
    let app_exports: Vec<String> = graph.types()[graph[app_id].ty()]
        .exports
        .keys()
        .cloned()
        .collect();
    // An application whose own exports may use memtls:tls types (beyond a
    // command's wasi:cli/run) needs the interface those types belong to
    // exported too: the composition re-exports the guest's `tls` (`insecure`
    // defines no types).
    if let Some(guest) = guest
        && app_exports.iter().any(|e| !e.starts_with("wasi:"))
        && app_imports.iter().any(|i| i == TLS)
    {
        let export = export_of(&mut graph, guest, TLS)?;
        graph
            .export(export, TLS)
            .map_err(|e| wasmtime::format_err!("{e:#}"))?;
    }
    for name in app_exports {
        let export = export_of(&mut graph, application, &name)?;
        graph
            .export(export, &name)
            .map_err(|e| wasmtime::format_err!("{e:#}"))?;
    }
    graph
        .encode(EncodeOptions::default())
        .map_err(|e| wasmtime::format_err!("encoding the composition failed: {e:#}"))
}
