//! The fix for componentize-py 0.25.1's leak of `bytes` arguments, applied to the
//! component it builds.
//!
//! componentize-py's runtime copies a Python `bytes` argument of an imported
//! function into a fresh allocation (`maybe_pop_list`) and hands the pointer to
//! the wit-dylib glue, which passes it to the callee; nothing frees it. Every byte
//! a program passes to `feed` or `write` stays allocated, so a long-running
//! program's memory grows without bound.
//!
//! The glue is one core module that imports `env.wit_dylib_pop_list(cx, type,
//! retptr) -> len` (which stores the pointer at `retptr`) and
//! `env.wit_dylib_dealloc_bytes(cx, ptr, len, align, defer)`. This module adds a
//! function that calls `pop_list` and then, for a non-null pointer,
//! `dealloc_bytes(cx, ptr, len, 1, 1)` — a *deferred* free, which the runtime
//! performs when the call's context is dropped, after the import returns — and
//! points every call of `pop_list` in the glue at it. The component is validated
//! afterwards.

use wasm_encoder::reencode::{Reencode, utils};
use wasm_encoder::{Function, Instruction, MemArg, ValType};
use wasmparser::{Operator, Parser, TypeRef, Validator, WasmFeatures};
use wasmtime::{Result, bail, format_err};

/// The module that provides the imports the glue calls.
const ENV: &str = "env";
const POP_LIST: &str = "wit_dylib_pop_list";
const DEALLOC_BYTES: &str = "wit_dylib_dealloc_bytes";

/// The imports of one core module, by what the fix needs.
struct Glue {
    /// Function index and type index of `pop_list`.
    pop_list: (u32, u32),
    /// Function index of `dealloc_bytes`.
    dealloc_bytes: u32,
    /// Index the added function gets: after every imported and defined one.
    added: u32,
}

/// Finds the glue's imports in `module`, if it is the glue.
fn glue_of(module: &[u8]) -> Result<Option<Glue>> {
    let (mut functions, mut pop_list, mut dealloc_bytes, mut defined) = (0u32, None, None, 0u32);
    let mut types = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        match payload? {
            wasmparser::Payload::TypeSection(section) => {
                for group in section {
                    for ty in group?.into_types() {
                        types.push(ty.unwrap_func().clone());
                    }
                }
            }
            wasmparser::Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    let import = import?;
                    if let TypeRef::Func(ty) = import.ty {
                        if import.module == ENV && import.name == POP_LIST {
                            pop_list = Some((functions, ty));
                        } else if import.module == ENV && import.name == DEALLOC_BYTES {
                            dealloc_bytes = Some((functions, ty));
                        }
                        functions += 1;
                    }
                }
            }
            wasmparser::Payload::FunctionSection(section) => defined = section.count(),
            _ => {}
        }
    }
    let (Some(pop_list), Some(dealloc_bytes)) = (pop_list, dealloc_bytes) else {
        return Ok(None);
    };
    let i32s = |n: usize| vec![wasmparser::ValType::I32; n];
    let signature = |ty: u32| {
        types
            .get(ty as usize)
            .map(|f| (f.params().to_vec(), f.results().to_vec()))
    };
    if signature(pop_list.1) != Some((i32s(3), i32s(1)))
        || signature(dealloc_bytes.1) != Some((i32s(5), vec![]))
    {
        bail!(
            "the wit-dylib glue's {POP_LIST} or {DEALLOC_BYTES} has an unexpected type: \
             this componentize-py is not the one the leak fix is written for"
        );
    }
    Ok(Some(Glue {
        pop_list,
        dealloc_bytes: dealloc_bytes.0,
        added: functions + defined,
    }))
}

/// Re-encodes the glue: one added function, every `call pop_list` redirected.
struct Fixer<'g>(&'g Glue);

impl Reencode for Fixer<'_> {
    type Error = std::convert::Infallible;

    fn instruction<'a>(
        &mut self,
        op: Operator<'a>,
    ) -> std::result::Result<Instruction<'a>, wasm_encoder::reencode::Error<Self::Error>> {
        match op {
            Operator::Call { function_index } if function_index == self.0.pop_list.0 => {
                Ok(Instruction::Call(self.0.added))
            }
            other => utils::instruction(self, other),
        }
    }

    fn parse_function_section(
        &mut self,
        functions: &mut wasm_encoder::FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> std::result::Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        utils::parse_function_section(self, functions, section)?;
        functions.function(self.0.pop_list.1);
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> std::result::Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        utils::parse_code_section(self, code, section)?;
        code.function(&self.pop_list_and_defer_free());
        Ok(())
    }
}

impl Fixer<'_> {
    /// `(cx, ty, retptr) -> len`: `pop_list`, then a deferred free of the copy.
    fn pop_list_and_defer_free(&self) -> Function {
        let (cx, ty, retptr, len, ptr) = (0, 1, 2, 3, 4);
        let mut f = Function::new([(2, ValType::I32)]);
        f.instructions()
            .local_get(cx)
            .local_get(ty)
            .local_get(retptr)
            .call(self.0.pop_list.0)
            .local_set(len)
            .local_get(retptr)
            .i32_load(MemArg {
                offset: 0,
                align: 2,
                memory_index: 0,
            })
            .local_tee(ptr)
            .if_(wasm_encoder::BlockType::Empty)
            .local_get(cx)
            .local_get(ptr)
            .local_get(len)
            .i32_const(1) // align
            .i32_const(1) // deferred
            .call(self.0.dealloc_bytes)
            .end()
            .local_get(len)
            .end();
        f
    }
}

fn leb(mut value: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb(bytes: &[u8], at: &mut usize) -> Result<usize> {
    let mut value = 0usize;
    for shift in (0..35).step_by(7) {
        let byte = *bytes
            .get(*at)
            .ok_or_else(|| format_err!("the component ends inside a section header"))?;
        *at += 1;
        value |= usize::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(value);
        }
    }
    bail!("a section size of the component is malformed")
}

/// `component` with the leak fixed in its glue module (see the module docs).
/// Fails when the component does not have exactly one glue module, or when the
/// result does not validate.
pub fn fix(component: &[u8]) -> Result<Vec<u8>> {
    const CORE_MODULE: u8 = 1;
    if component.len() < 8 || component[..4] != *b"\0asm" {
        bail!("not a WebAssembly component");
    }
    let mut sections = Vec::new();
    let mut at = 8;
    while at < component.len() {
        let id = component[at];
        at += 1;
        let size = read_leb(component, &mut at)?;
        let body = component
            .get(at..at + size)
            .ok_or_else(|| format_err!("a section of the component runs past its end"))?;
        sections.push((id, body));
        at += size;
    }
    let mut glue = None;
    for (index, (id, body)) in sections.iter().enumerate() {
        if *id == CORE_MODULE
            && let Some(found) = glue_of(body)?
        {
            if glue.is_some() {
                bail!(
                    "two core modules import {ENV}.{POP_LIST}: not the layout the leak fix is written for"
                );
            }
            glue = Some((index, found));
        }
    }
    let Some((index, found)) = glue else {
        bail!(
            "no core module imports {ENV}.{POP_LIST}: not the layout the leak fix is written for"
        );
    };
    let mut module = wasm_encoder::Module::new();
    Fixer(&found)
        .parse_core_module(&mut module, Parser::new(0), sections[index].1)
        .map_err(|e| format_err!("re-encoding the wit-dylib glue: {e}"))?;
    let fixed_module = module.finish();
    let mut out = component[..8].to_vec();
    for (i, (id, body)) in sections.iter().enumerate() {
        let body: &[u8] = if i == index { &fixed_module } else { body };
        out.push(*id);
        leb(body.len(), &mut out);
        out.extend_from_slice(body);
    }
    Validator::new_with_features(WasmFeatures::all())
        .validate_all(&out)
        .map_err(|e| format_err!("the component with the leak fixed does not validate: {e}"))?;
    Ok(out)
}
