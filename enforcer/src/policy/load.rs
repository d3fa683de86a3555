//! Loading a policy: read, check the compile caps, digest, compile (or load
//! from the cache), check the ABI, pre-instantiate, and ask the module its
//! ABI version.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use wasmtime::{Module, TypedFunc};

use crate::diagnostics::Diagnostic;

use super::cache::{CacheOutcome, Lookup};
use super::compiler::{self, Compiler, Spec};
use super::error::{PolicyError, PolicyErrorKind};
use super::{Policy, PolicyEngine, abi, shape, typed_func};

impl PolicyEngine {
    /// Loads the policy module (binary `.wasm` or text `.wat`) at `path`,
    /// or the built-in policy `path` names (`builtin:default`, see
    /// [`crate::embedded`]; named so in the chain).
    pub fn load_file(&self, path: &Path) -> Result<Policy, PolicyError> {
        let name = path.display().to_string();
        let fail = |kind| PolicyError {
            policy: name.clone(),
            kind,
        };
        if let Some(builtin) = crate::embedded::lookup(path) {
            let builtin = builtin.map_err(|unknown| fail(unknown.into()))?;
            return self.load_bytes(&builtin.label(), builtin.bytes);
        }
        let cap = self.options.compile_caps.module_bytes;
        let file = std::fs::File::open(path).map_err(|error| fail(PolicyErrorKind::Read(error)))?;
        let size = file
            .metadata()
            .map_err(|error| fail(PolicyErrorKind::Read(error)))?
            .len();
        // Refused by its size before a byte is read; the read is bounded too,
        // for files whose size stat does not tell (or that grow meanwhile).
        let too_large = |size: u64| {
            fail(PolicyErrorKind::TooLarge {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                cap,
            })
        };
        if size > cap as u64 {
            return Err(too_large(size));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(cap as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| fail(PolicyErrorKind::Read(error)))?;
        if bytes.len() > cap {
            return Err(too_large(bytes.len() as u64));
        }
        self.load_bytes(&name, &bytes)
    }

    /// Loads a policy module from memory; `name` is used in messages.
    ///
    /// The module is checked against the compile caps first, whether or not
    /// its compiled code is cached, so a module is accepted or refused the
    /// same way on every load.
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<Policy, PolicyError> {
        let fail = |kind| PolicyError {
            policy: name.to_string(),
            kind,
        };
        let caps = &self.options.compile_caps;
        let wasm = shape::binary(bytes, caps).map_err(fail)?;
        let shape = shape::check(&wasm, caps).map_err(fail)?;
        let digest = crate::digest::sha256_hex(bytes);
        let (module, cache) = self.compile(name, &digest, &wasm).map_err(fail)?;
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
            shape,
            module,
            pre,
            exports,
            engine: self.clone(),
            cache,
        };
        policy.check_abi_version()?;
        Ok(policy)
    }

    /// The compiled module: from the cache when it holds a trustworthy entry
    /// for `digest`, else compiled and stored. A refused entry is reported
    /// (to the engine's diagnostics) and rewritten.
    fn compile(
        &self,
        name: &str,
        digest: &str,
        wasm: &[u8],
    ) -> Result<(Module, CacheOutcome), PolicyErrorKind> {
        let Some(cache) = &self.cache else {
            let (module, _) = self.compile_fresh(wasm)?;
            return Ok((module, CacheOutcome::Disabled));
        };
        let outcome = match cache.lookup(&self.engine, digest) {
            Lookup::Hit(module) => return Ok((module, CacheOutcome::Hit)),
            Lookup::Miss => CacheOutcome::Miss,
            Lookup::Refused(why) => {
                self.diagnostics.emit(Diagnostic::warning(format!(
                    "policy {name}: compiled-code cache entry {} refused ({why}); recompiling",
                    cache.entry_path(&self.engine, digest).display()
                )));
                CacheOutcome::Refused(why)
            }
        };
        let (module, artifact) = self.compile_fresh(wasm)?;
        let stored = match artifact {
            Some(artifact) => cache.store(&self.engine, digest, &artifact),
            None => module
                .serialize()
                .map_err(|error| anyhow::anyhow!("cannot serialize: {error}"))
                .and_then(|artifact| cache.store(&self.engine, digest, &artifact)),
        };
        if let Err(error) = stored {
            self.diagnostics.emit(Diagnostic::warning(format!(
                "policy {name}: cannot write compiled code to {}: {error:#}",
                cache.entry_path(&self.engine, digest).display()
            )));
        }
        Ok((module, outcome))
    }

    /// Compiles `wasm` where the options say, returning the module and, when
    /// a compiler process made it, the artifact it wrote.
    fn compile_fresh(&self, wasm: &[u8]) -> Result<(Module, Option<Vec<u8>>), PolicyErrorKind> {
        match &self.options.compiler {
            Compiler::InProcess => Module::new(&self.engine, wasm)
                .map(|module| (module, None))
                .map_err(|error| PolicyErrorKind::Compile(format!("{error:#}"))),
            Compiler::Subprocess(executable) => {
                let spec = Spec {
                    max_wasm_stack: self.options.max_wasm_stack,
                    budget: self.options.compile_budget,
                };
                let artifact = compiler::compile_in_child(executable, wasm, spec)?;
                // SAFETY: the artifact was written by the compiler process,
                // the enforcer binary (or the compiler the embedder named),
                // from these bytes; wasmtime checks that its header matches
                // this wasmtime version and engine configuration.
                let module =
                    unsafe { Module::deserialize(&self.engine, &artifact) }.map_err(|error| {
                        PolicyErrorKind::Compiler(format!("its output was refused: {error:#}"))
                    })?;
                Ok((module, Some(artifact)))
            }
        }
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
        if version != policy_sdk::abi::ABI_VERSION {
            return Err(self.error(PolicyErrorKind::AbiVersion(version)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Allocation, CompileCaps, EngineOptions};

    /// The smallest module that passes every ABI check.
    const POLICY: &str = r#"(module
      (memory (export "memory") 1)
      (func (export "policy_abi_version") (result i32) (i32.const 1))
      (func (export "policy_alloc") (param i32) (result i32) (i32.const 1024))
      (func (export "policy_evaluate") (param i32 i32) (result i64) (i64.const 0)))"#;

    fn engine(caps: CompileCaps, cache_dir: Option<&Path>) -> PolicyEngine {
        PolicyEngine::new(EngineOptions {
            compile_caps: caps,
            cache_dir: cache_dir.map(Path::to_path_buf),
            ..EngineOptions::default()
        })
        .expect("engine")
    }

    #[test]
    fn the_caps_apply_to_cached_modules_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let roomy = engine(CompileCaps::default(), Some(dir.path()));
        roomy.load_bytes("p.wat", POLICY.as_bytes()).expect("loads");
        let policy = roomy.load_bytes("p.wat", POLICY.as_bytes()).expect("loads");
        assert_eq!(policy.cache_outcome(), &CacheOutcome::Hit);
        assert_eq!(policy.shape().functions, 3);
        let tight = engine(
            CompileCaps {
                functions: 2,
                ..CompileCaps::default()
            },
            Some(dir.path()),
        );
        let error = tight
            .load_bytes("p.wat", POLICY.as_bytes())
            .err()
            .expect("refused although cached");
        assert_eq!(
            error.to_string(),
            "policy p.wat: too many functions to compile: 3, the cap is 2 (--max-functions)"
        );
    }

    #[test]
    fn an_oversize_file_is_refused_unread() {
        // A sparse 64 GiB file: reading it would take minutes and all memory.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("huge.wasm");
        std::fs::File::create(&path)
            .and_then(|file| file.set_len(64 << 30))
            .expect("creates a sparse file");
        let started = std::time::Instant::now();
        let error = engine(CompileCaps::default(), None)
            .load_file(&path)
            .err()
            .expect("refused");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(
            error.to_string(),
            format!(
                "policy {}: too large to compile: 68719476736 bytes, the cap is 4 MiB (--max-module-size)",
                path.display()
            )
        );
    }

    #[test]
    fn artifacts_of_the_compiler_config_load_into_a_pooling_engine() {
        // The compiler process builds its engine from `code_config` without
        // the pooling allocator; its artifacts must load into either kind.
        let wasm = wat::parse_str(POLICY).expect("wat");
        let compiler =
            wasmtime::Engine::new(&super::super::engine::code_config(512 << 10)).expect("engine");
        let artifact = compiler.precompile_module(&wasm).expect("compiles");
        for allocation in [Allocation::OnDemand, Allocation::pooling()] {
            let engine = PolicyEngine::new(EngineOptions {
                allocation,
                cache_dir: None,
                ..EngineOptions::default()
            })
            .expect("engine");
            // SAFETY: produced just above by wasmtime.
            unsafe { Module::deserialize(engine.wasmtime(), &artifact) }
                .unwrap_or_else(|error| panic!("{allocation:?}: {error:#}"));
        }
    }
}
