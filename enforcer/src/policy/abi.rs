//! ABI v1 checks done once at load time: the imports a module may have,
//! the exports it must have, and their types. See `docs/abi.md`.

use wasmtime::{Caller, Extern, ExternType, FuncType, Module, ModuleExport};

use super::error::PolicyErrorKind;

/// The only import module a policy may use.
pub const IMPORT_MODULE: &str = "enforcer";
/// The only import a policy may use.
pub const IMPORT_LOG: &str = "log";

const SIG_LOG: &str = "(i32, i32, i32) -> ()";
const SIG_VERSION: &str = "() -> (i32)";
const SIG_ALLOC: &str = "(i32) -> (i32)";
const SIG_FREE: &str = "(i32, i32) -> ()";
const SIG_EVALUATE: &str = "(i32, i32) -> (i64)";
const SIG_PACKED: &str = "() -> (i64)";

/// Copies `len` bytes at `ptr` out of the calling instance's `memory`, for
/// host functions such as `enforcer.log`; `None` if the range is outside it.
pub fn read_guest_bytes<T>(caller: &mut Caller<'_, T>, ptr: i32, len: i32) -> Option<Vec<u8>> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return None;
    };
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    memory
        .data(&*caller)
        .get(start..start.checked_add(len)?)
        .map(<[u8]>::to_vec)
}

/// Pre-resolved export handles, so an evaluation looks nothing up by name.
#[derive(Clone)]
pub struct Exports {
    /// `memory`.
    pub memory: ModuleExport,
    /// `policy_abi_version`.
    pub abi_version: ModuleExport,
    /// `policy_alloc`.
    pub alloc: ModuleExport,
    /// `policy_evaluate`.
    pub evaluate: ModuleExport,
    /// `policy_metadata`, optional.
    pub metadata: Option<ModuleExport>,
    /// `policy_panic_response`, optional.
    pub panic_response: Option<ModuleExport>,
    /// `policy_validate_settings`, optional.
    pub validate_settings: Option<ModuleExport>,
}

/// Refuses any import but `enforcer.log` with its ABI type.
pub fn check_imports(module: &Module) -> Result<(), PolicyErrorKind> {
    for import in module.imports() {
        if import.module() != IMPORT_MODULE || import.name() != IMPORT_LOG {
            return Err(PolicyErrorKind::ForbiddenImport {
                module: import.module().to_string(),
                name: import.name().to_string(),
            });
        }
        let found = describe(&import.ty());
        if found != SIG_LOG {
            return Err(PolicyErrorKind::WrongType {
                name: format!("import {IMPORT_MODULE}.{IMPORT_LOG}"),
                found,
                expected: SIG_LOG,
            });
        }
    }
    Ok(())
}

/// Checks the ABI exports and resolves their handles.
pub fn resolve_exports(module: &Module) -> Result<Exports, PolicyErrorKind> {
    let memory = module
        .get_export("memory")
        .ok_or(PolicyErrorKind::MissingExport("memory"))?;
    match memory {
        ExternType::Memory(ty) if !ty.is_64() && !ty.is_shared() => {}
        other => {
            return Err(PolicyErrorKind::WrongType {
                name: "export memory".into(),
                found: describe(&other),
                expected: "a 32-bit, unshared memory",
            });
        }
    }
    let required = |name: &'static str, signature: &'static str| {
        func_export(module, name, signature)?.ok_or(PolicyErrorKind::MissingExport(name))
    };
    // Never called (every evaluation gets a fresh store), but a module that
    // exports it must export the ABI's type.
    func_export(module, "policy_free", SIG_FREE)?;
    Ok(Exports {
        memory: index(module, "memory")?,
        abi_version: required("policy_abi_version", SIG_VERSION)?,
        alloc: required("policy_alloc", SIG_ALLOC)?,
        evaluate: required("policy_evaluate", SIG_EVALUATE)?,
        metadata: func_export(module, "policy_metadata", SIG_PACKED)?,
        panic_response: func_export(module, "policy_panic_response", SIG_PACKED)?,
        validate_settings: func_export(module, "policy_validate_settings", SIG_EVALUATE)?,
    })
}

fn index(module: &Module, name: &'static str) -> Result<ModuleExport, PolicyErrorKind> {
    module
        .get_export_index(name)
        .ok_or(PolicyErrorKind::MissingExport(name))
}

/// The export `name` if present, after checking it is a function of type
/// `signature`.
fn func_export(
    module: &Module,
    name: &'static str,
    signature: &'static str,
) -> Result<Option<ModuleExport>, PolicyErrorKind> {
    let Some(ty) = module.get_export(name) else {
        return Ok(None);
    };
    let found = describe(&ty);
    if found != signature {
        return Err(PolicyErrorKind::WrongType {
            name: format!("export {name}"),
            found,
            expected: signature,
        });
    }
    index(module, name).map(Some)
}

/// A human-readable type: `(i32, i32) -> (i64)` for functions.
pub fn describe(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(func) => describe_func(func),
        ExternType::Memory(memory) => format!(
            "memory (min {} pages{}{})",
            memory.minimum(),
            if memory.is_64() { ", 64-bit" } else { "" },
            if memory.is_shared() { ", shared" } else { "" }
        ),
        ExternType::Table(_) => "a table".into(),
        ExternType::Global(_) => "a global".into(),
        ExternType::Tag(_) => "a tag".into(),
    }
}

fn describe_func(func: &FuncType) -> String {
    let list = |types: Vec<String>| types.join(", ");
    let params = list(func.params().map(|ty| ty.to_string()).collect());
    let results: Vec<String> = func.results().map(|ty| ty.to_string()).collect();
    if results.is_empty() {
        format!("({params}) -> ()")
    } else {
        format!("({params}) -> ({})", list(results))
    }
}
