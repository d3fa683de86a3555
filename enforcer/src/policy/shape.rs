//! Caps on what a module may cost to compile, checked before anything is
//! compiled: the module's size, its function count, the size of each
//! function body and the locals each function declares. Compile time and
//! memory grow with these (superlinearly for large bodies and many locals),
//! so a module past them is refused in microseconds instead of costing
//! seconds and hundreds of MiB.
//!
//! The walk reads section headers, each body's size and each body's locals
//! declarations; it does not validate instructions (wasmtime does, when it
//! compiles).

use std::borrow::Cow;

use wasmparser::{Imports, Parser, Payload, TypeRef};

use super::error::PolicyErrorKind;

/// Caps checked before a module is compiled (see [`EngineOptions`]).
///
/// The defaults leave an order of magnitude of room over the example
/// policies (about 240 KB, 340 functions, the largest body 10 KB, at most 55
/// locals in one function).
///
/// [`EngineOptions`]: super::EngineOptions
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileCaps {
    /// Largest module in bytes, both as given (`.wasm` or `.wat` text) and
    /// in binary form.
    pub module_bytes: usize,
    /// Most functions a module may define (imports not counted).
    pub functions: u32,
    /// Largest function body in bytes.
    pub function_bytes: usize,
    /// Most locals one function may declare (parameters not counted).
    pub locals: u32,
}

impl Default for CompileCaps {
    fn default() -> CompileCaps {
        CompileCaps {
            module_bytes: 4 << 20,
            functions: 10_000,
            function_bytes: 256 << 10,
            locals: 10_000,
        }
    }
}

/// What the walk found in a module that passed the caps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModuleShape {
    /// Functions the module defines.
    pub functions: u32,
    /// Size of its largest function body, in bytes.
    pub largest_function: usize,
    /// Most locals declared by one of its functions.
    pub most_locals: u64,
}

/// The binary form of `bytes` after the size cap: the bytes themselves for
/// a binary module, the parsed text for a `.wat` module (the cap applies to
/// the text before parsing and to the binary after).
pub(super) fn binary<'a>(
    bytes: &'a [u8],
    caps: &CompileCaps,
) -> Result<Cow<'a, [u8]>, PolicyErrorKind> {
    check_size(bytes.len(), caps)?;
    if bytes.starts_with(b"\0asm") {
        return Ok(Cow::Borrowed(bytes));
    }
    let wasm =
        wat::parse_bytes(bytes).map_err(|error| PolicyErrorKind::Compile(error.to_string()))?;
    check_size(wasm.len(), caps)?;
    Ok(Cow::Owned(wasm.into_owned()))
}

fn check_size(size: usize, caps: &CompileCaps) -> Result<(), PolicyErrorKind> {
    if size > caps.module_bytes {
        return Err(PolicyErrorKind::TooLarge {
            size,
            cap: caps.module_bytes,
        });
    }
    Ok(())
}

/// Walks the binary module `wasm` and refuses it at the first cap it
/// exceeds, before any function is compiled.
pub(super) fn check(wasm: &[u8], caps: &CompileCaps) -> Result<ModuleShape, PolicyErrorKind> {
    check_size(wasm.len(), caps)?;
    let malformed =
        |error: wasmparser::BinaryReaderError| PolicyErrorKind::Compile(error.to_string());
    let mut shape = ModuleShape::default();
    let mut imported_functions: u64 = 0;
    let mut body: u32 = 0;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(malformed)? {
            Payload::ImportSection(reader) => {
                for group in reader {
                    imported_functions +=
                        imported_functions_in(group.map_err(malformed)?).map_err(malformed)?;
                }
            }
            // The declared counts are checked before any body is read.
            Payload::FunctionSection(reader) => check_function_count(reader.count(), caps)?,
            Payload::CodeSectionStart { count, .. } => check_function_count(count, caps)?,
            Payload::CodeSectionEntry(function) => {
                let index = imported_functions + u64::from(body);
                body += 1;
                let size = function.range().len();
                if size > caps.function_bytes {
                    return Err(PolicyErrorKind::FunctionTooLarge {
                        index,
                        size,
                        cap: caps.function_bytes,
                    });
                }
                let mut locals: u64 = 0;
                let mut reader = function.get_locals_reader().map_err(malformed)?;
                for _ in 0..reader.get_count() {
                    let (count, _) = reader.read().map_err(malformed)?;
                    locals += u64::from(count);
                    if locals > u64::from(caps.locals) {
                        return Err(PolicyErrorKind::TooManyLocals {
                            index,
                            count: locals,
                            cap: caps.locals,
                        });
                    }
                }
                shape.largest_function = shape.largest_function.max(size);
                shape.most_locals = shape.most_locals.max(locals);
            }
            _ => {}
        }
    }
    shape.functions = body;
    Ok(shape)
}

fn check_function_count(count: u32, caps: &CompileCaps) -> Result<(), PolicyErrorKind> {
    if count > caps.functions {
        return Err(PolicyErrorKind::TooManyFunctions {
            count,
            cap: caps.functions,
        });
    }
    Ok(())
}

/// Functions imported by one group of the import section, so that a
/// function's index in messages is its index in the module's function space
/// (as `wasm-tools print` and `wasm-objdump` number them).
fn imported_functions_in(group: Imports<'_>) -> wasmparser::Result<u64> {
    let is_function = |ty: &TypeRef| matches!(ty, TypeRef::Func(_) | TypeRef::FuncExact(_));
    Ok(match group {
        Imports::Single(_, import) => u64::from(is_function(&import.ty)),
        Imports::Compact1 { items, .. } => {
            let mut functions = 0;
            for item in items {
                functions += u64::from(is_function(&item?.ty));
            }
            functions
        }
        Imports::Compact2 { ty, names, .. } => {
            if is_function(&ty) {
                u64::from(names.count())
            } else {
                0
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wasm(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).expect("valid wat")
    }

    fn caps() -> CompileCaps {
        CompileCaps::default()
    }

    #[test]
    fn counts_functions_bodies_and_locals() {
        let module = wasm(
            r#"(module
              (import "enforcer" "log" (func (param i32 i32 i32)))
              (func (local i32 i64 i64))
              (func (param i32) (local f32) nop nop nop))"#,
        );
        let shape = check(&module, &caps()).expect("within the caps");
        assert_eq!(shape.functions, 2);
        assert_eq!(shape.most_locals, 3);
        assert!(shape.largest_function >= 5, "{shape:?}");
    }

    #[test]
    fn the_size_cap_applies_to_text_and_binary() {
        let small = CompileCaps {
            module_bytes: 64,
            ..caps()
        };
        let text = format!("(module) ;; {}", "x".repeat(100));
        match binary(text.as_bytes(), &small) {
            Err(PolicyErrorKind::TooLarge { size, cap: 64 }) => assert_eq!(size, text.len()),
            other => panic!("{other:?}"),
        }
        let data = wasm(&format!(
            r#"(module (memory 1) (data (i32.const 0) "{}"))"#,
            "y".repeat(100)
        ));
        assert!(matches!(
            check(&data, &small),
            Err(PolicyErrorKind::TooLarge { cap: 64, .. })
        ));
        assert!(matches!(binary(b"(module)", &small), Ok(Cow::Owned(_))));
    }

    #[test]
    fn too_many_functions_is_refused_from_the_declared_count() {
        let module = wasm(&format!("(module {})", "(func)".repeat(11)));
        let few = CompileCaps {
            functions: 10,
            ..caps()
        };
        assert!(matches!(
            check(&module, &few),
            Err(PolicyErrorKind::TooManyFunctions { count: 11, cap: 10 })
        ));
        // A function section that claims more functions than the bytes could
        // hold is refused by its count, without reading further.
        let mut forged = b"\0asm\x01\0\0\0".to_vec();
        forged.extend_from_slice(&[3, 5, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(
            check(&forged, &caps()),
            Err(PolicyErrorKind::TooManyFunctions {
                count: u32::MAX,
                ..
            })
        ));
    }

    #[test]
    fn a_large_body_is_named_by_its_function_index() {
        let module = wasm(&format!(
            r#"(module (import "enforcer" "log" (func (param i32 i32 i32))) (func) (func {}))"#,
            "nop ".repeat(200)
        ));
        let tight = CompileCaps {
            function_bytes: 100,
            ..caps()
        };
        match check(&module, &tight) {
            Err(PolicyErrorKind::FunctionTooLarge { index, size, cap }) => {
                assert_eq!((index, cap), (2, 100));
                assert!(size > 200, "{size}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn locals_are_summed_over_declarations() {
        // Two declarations of 6 locals each: 12, past a cap of 10, although
        // each declaration alone is under it.
        let module =
            wasm("(module (func (local i32 i32 i32 i32 i32 i32) (local i64 i64 i64 i64 i64 i64)))");
        let tight = CompileCaps {
            locals: 10,
            ..caps()
        };
        assert!(matches!(
            check(&module, &tight),
            Err(PolicyErrorKind::TooManyLocals {
                index: 0,
                cap: 10,
                ..
            })
        ));
        // A declaration of 4 billion locals in a 10-byte body.
        let mut forged = b"\0asm\x01\0\0\0".to_vec();
        forged.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]); // type () -> ()
        forged.extend_from_slice(&[3, 2, 1, 0]); // one function of type 0
        forged.extend_from_slice(&[10, 9, 1, 7, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f]);
        assert!(matches!(
            check(&forged, &caps()),
            Err(PolicyErrorKind::TooManyLocals {
                count: 4_294_967_295,
                ..
            })
        ));
    }

    #[test]
    fn malformed_modules_are_refused_as_invalid() {
        assert!(matches!(
            check(b"\0asm\x01\0\0\0\x01\xff", &caps()),
            Err(PolicyErrorKind::Compile(_))
        ));
    }
}
