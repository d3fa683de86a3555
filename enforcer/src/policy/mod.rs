//! The policy host: loads Wasm policy modules and evaluates requests in
//! them, each evaluation in a fresh store under a deadline and memory,
//! table and output caps. Loading is bounded too: size, function and locals
//! caps before compiling, and a time and memory budget on the compile
//! itself. Nothing here touches the kernel.

mod abi;
pub mod cache;
pub mod compiler;
mod engine;
mod error;
mod limits;
mod load;
mod response;
mod shape;
pub mod test_runner;

use std::sync::Arc;

use policy_sdk::abi::Metadata;
use policy_sdk::{Decision, Request};
use wasmtime::{Extern, InstancePre, Module, Store, TypedFunc};

pub use abi::describe;
pub use cache::CacheOutcome;
pub use compiler::{CompileBudget, Compiler};
pub use engine::{Allocation, EngineOptions, PolicyEngine};
pub use error::{Budget, PolicyError, PolicyErrorKind};
use limits::StoreState;
pub use response::{SettingsCheck, json_kind};
pub use shape::{CompileCaps, ModuleShape};

/// A loaded, checked policy, ready to evaluate requests from any thread.
#[derive(Clone)]
pub struct Policy {
    name: Arc<str>,
    digest: String,
    size: usize,
    shape: ModuleShape,
    module: Module,
    pre: InstancePre<StoreState>,
    exports: abi::Exports,
    engine: PolicyEngine,
    cache: CacheOutcome,
}

impl Policy {
    /// The name used in messages: the file path, or `embedded default`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hex sha256 of the module bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Size of the module in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Function count, largest body and most locals, as checked against the
    /// compile caps.
    pub fn shape(&self) -> ModuleShape {
        self.shape
    }

    /// What the compiled-code cache did when this policy was loaded.
    pub fn cache_outcome(&self) -> &CacheOutcome {
        &self.cache
    }

    /// The compiled module (for imports and exports listings).
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Evaluates `request` and returns the policy's decision, not yet
    /// validated (see [`crate::decision`]).
    pub fn evaluate(&self, request: &Request) -> Result<Decision, PolicyError> {
        let json = serde_json::to_vec(request)
            .map_err(|error| self.error(PolicyErrorKind::Request(error.to_string())))?;
        self.evaluate_json(&json)
    }

    /// Evaluates a request already serialized as JSON.
    pub fn evaluate_json(&self, request: &[u8]) -> Result<Decision, PolicyError> {
        let bytes = self.call_with_input(&self.exports.evaluate, request)?;
        response::parse_decision(&bytes).map_err(|kind| self.error(kind))
    }

    /// Whether the module exports `policy_validate_settings`.
    pub fn has_settings_check(&self) -> bool {
        self.exports.validate_settings.is_some()
    }

    /// Asks the policy whether it accepts `settings` (a JSON object), by
    /// calling its `policy_validate_settings` export under the same sandbox
    /// as an evaluation: a fresh store, the deadline, the memory, table and
    /// output caps. A module without the export accepts anything it is
    /// given ([`SettingsCheck::NotExported`]). A trap, a timeout, a bad
    /// response or the policy's `{"error": ...}` is an error naming the
    /// policy; settings that are not an object are refused before any call.
    pub fn validate_settings(
        &self,
        settings: &serde_json::Value,
    ) -> Result<SettingsCheck, PolicyError> {
        let Some(export) = &self.exports.validate_settings else {
            return Ok(SettingsCheck::NotExported);
        };
        if !settings.is_object() {
            return Err(
                self.error(PolicyErrorKind::SettingsNotObject(response::json_kind(
                    settings,
                ))),
            );
        }
        let json = serde_json::to_vec(settings)
            .map_err(|error| self.error(PolicyErrorKind::Request(error.to_string())))?;
        let bytes = self.call_with_input(export, &json)?;
        response::parse_settings_check(&bytes).map_err(|kind| self.error(kind))
    }

    /// Calls an export of type `(ptr, len) -> packed` with `input` copied
    /// into a buffer from `policy_alloc`, in a fresh store; after a trap,
    /// the SDK's recorded panic message is preferred to the bare trap.
    fn call_with_input(
        &self,
        export: &wasmtime::ModuleExport,
        input: &[u8],
    ) -> Result<Vec<u8>, PolicyError> {
        self.call_packed(|store, instance| {
            let memory = memory_of(store, instance, &self.exports)?;
            let ptr = self.write_request(store, instance, memory, input)?;
            let func: TypedFunc<(i32, i32), i64> = typed_func(store, instance, export)?;
            match func.call(&mut *store, (ptr as i32, input.len() as i32)) {
                Ok(packed) => Ok((memory, packed)),
                Err(trap) => match self.classify(trap, store) {
                    PolicyErrorKind::Trap(message) => Err(self
                        .panic_response(store, instance, memory)
                        .unwrap_or(PolicyErrorKind::Trap(message))),
                    other => Err(other),
                },
            }
        })
    }

    /// Calls `policy_metadata`, if the module exports it.
    pub fn metadata(&self) -> Result<Option<Metadata>, PolicyError> {
        let Some(export) = self.exports.metadata else {
            return Ok(None);
        };
        let bytes = self.call_packed(|store, instance| {
            let memory = memory_of(store, instance, &self.exports)?;
            let metadata: TypedFunc<(), i64> = typed_func(store, instance, &export)?;
            let packed = metadata
                .call(&mut *store, ())
                .map_err(|trap| self.classify(trap, store))?;
            Ok((memory, packed))
        })?;
        serde_json::from_slice(&bytes).map(Some).map_err(|error| {
            self.error(PolicyErrorKind::InvalidResponse(format!(
                "metadata: {error}"
            )))
        })
    }

    /// Instantiates into a fresh store, runs `body` (which returns the
    /// memory and a packed `(ptr << 32) | len`), and copies that range out
    /// after checking it against the output cap and memory bounds.
    fn call_packed(
        &self,
        body: impl FnOnce(
            &mut Store<StoreState>,
            &wasmtime::Instance,
        ) -> Result<(wasmtime::Memory, i64), PolicyErrorKind>,
    ) -> Result<Vec<u8>, PolicyError> {
        let mut store = self.new_store();
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|error| self.instantiate_error(error, &store))?;
        let (memory, packed) = body(&mut store, &instance).map_err(|kind| self.error(kind))?;
        self.read_packed(&store, memory, packed)
            .map(<[u8]>::to_vec)
            .map_err(|kind| self.error(kind))
    }

    fn new_store(&self) -> Store<StoreState> {
        let engine = &self.engine;
        let mut store = Store::new(
            &engine.engine,
            StoreState::new(
                self.name.clone(),
                engine.caps.clone(),
                engine.diagnostics.clone(),
            ),
        );
        store.limiter(|state| state);
        store.set_epoch_deadline(engine.deadline_ticks);
        store.epoch_deadline_trap();
        store
    }

    /// Allocates a guest buffer with `policy_alloc` and copies the request in.
    fn write_request(
        &self,
        store: &mut Store<StoreState>,
        instance: &wasmtime::Instance,
        memory: wasmtime::Memory,
        request: &[u8],
    ) -> Result<u32, PolicyErrorKind> {
        let len = i32::try_from(request.len()).map_err(|_| {
            PolicyErrorKind::Request(format!("{} bytes is too large", request.len()))
        })?;
        let alloc: TypedFunc<i32, i32> = typed_func(store, instance, &self.exports.alloc)?;
        let ptr = alloc
            .call(&mut *store, len)
            .map_err(|trap| self.classify(trap, store))? as u32;
        let bad_alloc = PolicyErrorKind::BadAlloc {
            len: request.len(),
            ptr,
        };
        if ptr == 0 && !request.is_empty() {
            return Err(bad_alloc);
        }
        let start = ptr as usize;
        let target = memory
            .data_mut(&mut *store)
            .get_mut(start..start + request.len())
            .ok_or(bad_alloc)?;
        target.copy_from_slice(request);
        Ok(ptr)
    }

    fn read_packed<'a>(
        &self,
        store: &'a Store<StoreState>,
        memory: wasmtime::Memory,
        packed: i64,
    ) -> Result<&'a [u8], PolicyErrorKind> {
        let (ptr, len) = policy_sdk::abi::unpack_ptr_len(packed);
        let cap = self.engine.options.output_cap;
        if len as usize > cap {
            return Err(PolicyErrorKind::OutputTooLarge { len, cap });
        }
        let data = memory.data(store);
        let start = ptr as usize;
        data.get(start..start + len as usize)
            .ok_or(PolicyErrorKind::OutOfBounds {
                ptr,
                len,
                memory_size: data.len(),
            })
    }

    /// After a trap: the `{"error": ...}` the SDK's panic hook recorded, if
    /// the module exports `policy_panic_response` and it returns one.
    fn panic_response(
        &self,
        store: &mut Store<StoreState>,
        instance: &wasmtime::Instance,
        memory: wasmtime::Memory,
    ) -> Option<PolicyErrorKind> {
        let export = self.exports.panic_response.as_ref()?;
        let func: TypedFunc<(), i64> = typed_func(store, instance, export).ok()?;
        store.set_epoch_deadline(self.engine.deadline_ticks);
        let packed = func.call(&mut *store, ()).ok()?;
        if packed == 0 {
            return None;
        }
        let bytes = self.read_packed(store, memory, packed).ok()?;
        match response::parse_decision(bytes) {
            Err(kind @ PolicyErrorKind::Reported(_)) => Some(kind),
            _ => None,
        }
    }

    /// Names the cause of a failed call: deadline, cap, or trap.
    fn classify(&self, error: wasmtime::Error, store: &Store<StoreState>) -> PolicyErrorKind {
        if let Some(limit) = &store.data().limit_hit {
            return PolicyErrorKind::LimitExceeded(limit.clone());
        }
        match error.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => {
                PolicyErrorKind::Timeout(self.engine.options.deadline)
            }
            Some(trap) => PolicyErrorKind::Trap(trap.to_string()),
            None => PolicyErrorKind::Trap(format!("{error:#}")),
        }
    }

    fn instantiate_error(&self, error: wasmtime::Error, store: &Store<StoreState>) -> PolicyError {
        let kind = match self.classify(error, store) {
            PolicyErrorKind::Trap(message) => PolicyErrorKind::Instantiate(message),
            other => other,
        };
        self.error(kind)
    }

    fn error(&self, kind: PolicyErrorKind) -> PolicyError {
        PolicyError {
            policy: self.name.to_string(),
            kind,
        }
    }
}

fn memory_of(
    store: &mut Store<StoreState>,
    instance: &wasmtime::Instance,
    exports: &abi::Exports,
) -> Result<wasmtime::Memory, PolicyErrorKind> {
    match instance.get_module_export(&mut *store, &exports.memory) {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(PolicyErrorKind::MissingExport("memory")),
    }
}

fn typed_func<Params, Results>(
    store: &mut Store<StoreState>,
    instance: &wasmtime::Instance,
    export: &wasmtime::ModuleExport,
) -> Result<TypedFunc<Params, Results>, PolicyErrorKind>
where
    Params: wasmtime::WasmParams,
    Results: wasmtime::WasmResults,
{
    match instance.get_module_export(&mut *store, export) {
        Some(Extern::Func(func)) => func.typed(&*store).map_err(|error| {
            PolicyErrorKind::Internal(format!("a validated ABI export changed type: {error}"))
        }),
        _ => Err(PolicyErrorKind::Internal("an ABI export vanished".into())),
    }
}
