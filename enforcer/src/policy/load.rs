//! Loading a policy: read, digest, compile (or load from the cache), check
//! the ABI, pre-instantiate, and ask the module its ABI version.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::{Module, TypedFunc};

use super::cache::CacheOutcome;
use super::error::{PolicyError, PolicyErrorKind};
use super::{Policy, PolicyEngine, abi, typed_func};

impl PolicyEngine {
    /// Loads the policy module (binary `.wasm` or text `.wat`) at `path`.
    pub fn load_file(&self, path: &Path) -> Result<Policy, PolicyError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|error| PolicyError {
            policy: name.clone(),
            kind: PolicyErrorKind::Read(error),
        })?;
        self.load_bytes(&name, &bytes)
    }

    /// Loads a policy module from memory; `name` is used in messages.
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<Policy, PolicyError> {
        let fail = |kind| PolicyError {
            policy: name.to_string(),
            kind,
        };
        let digest = hex(&Sha256::digest(bytes));
        let (module, cache) = self.compile(&digest, bytes).map_err(fail)?;
        abi::check_imports(&module).map_err(fail)?;
        let exports = abi::resolve_exports(&module).map_err(fail)?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|error| fail(PolicyErrorKind::Instantiate(error.to_string())))?;
        let policy = Policy {
            name: Arc::from(name),
            digest,
            size: bytes.len(),
            module,
            pre,
            exports,
            engine: self.clone(),
            cache,
        };
        policy.check_abi_version()?;
        Ok(policy)
    }

    fn compile(
        &self,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(Module, CacheOutcome), PolicyErrorKind> {
        let compiled = match &self.cache {
            Some(cache) => cache.load(&self.engine, digest, bytes),
            None => Module::new(&self.engine, bytes).map(|module| (module, CacheOutcome::Disabled)),
        };
        compiled.map_err(|error| PolicyErrorKind::Compile(format!("{error:#}")))
    }
}

impl Policy {
    fn check_abi_version(&self) -> Result<(), PolicyError> {
        let mut store = self.new_store();
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|error| self.instantiate_error(error, &store))?;
        let version = typed_func::<(), i32>(&mut store, &instance, &self.exports.abi_version)
            .and_then(|func: TypedFunc<(), i32>| {
                func.call(&mut store, ())
                    .map_err(|trap| self.classify(trap, &store))
            })
            .map_err(|kind| self.error(kind))?;
        if version != policy_sdk::ABI_VERSION {
            return Err(self.error(PolicyErrorKind::AbiVersion(version)));
        }
        Ok(())
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
