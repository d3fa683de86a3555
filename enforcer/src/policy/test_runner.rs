//! `enforcer test-runner`: runs a `wasm32-wasip1` test binary (a policy's
//! `cargo test` harness) in wasmtime, so policies are unit-tested inside the
//! engine that runs them. The guest gets WASI with stdout, stderr and
//! arguments only: no filesystem, no environment, no network. It may also
//! import `enforcer.log`, which prints to stderr as in production.

use std::path::Path;

use anyhow::Context;
use policy_sdk::LogLevel;
use wasmtime::{Caller, Config, Engine, Linker, Module, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::diagnostics::{Diagnostic, Diagnostics, Level};

use super::abi::{IMPORT_LOG, IMPORT_MODULE, read_guest_bytes};
use super::cache::ArtifactCache;

/// Linear-memory cap of a test binary.
const TEST_MEMORY_CAP: usize = 1 << 30;
/// Exit status reported when the guest traps (as a failed Rust test does).
pub const TRAP_EXIT_CODE: i32 = 101;

struct RunnerState {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
    diagnostics: Diagnostics,
}

/// Runs the WASI command module at `wasm` with `args` (not including the
/// program name) and returns its exit status. The guest's `enforcer.log`
/// lines, a trap and cache warnings go to `diagnostics` (its own stdout
/// and stderr are the process's).
pub fn run(wasm: &Path, args: &[String], diagnostics: &Diagnostics) -> anyhow::Result<i32> {
    let mut config = Config::new();
    config.parallel_compilation(true);
    let engine = Engine::new(&config)
        .map_err(|error| anyhow::anyhow!("cannot create the wasm engine: {error}"))?;
    let module = load_module(&engine, wasm, diagnostics)?;

    let mut linker: Linker<RunnerState> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut RunnerState| &mut state.wasi)
        .map_err(|error| anyhow::anyhow!("cannot add WASI to the linker: {error}"))?;
    linker
        .func_wrap(IMPORT_MODULE, IMPORT_LOG, log_to_stderr)
        .map_err(|error| anyhow::anyhow!("cannot define enforcer.log: {error}"))?;

    let program = wasm
        .file_name()
        .map_or_else(|| "test".into(), |name| name.to_string_lossy().into_owned());
    let mut argv = vec![program];
    argv.extend(args.iter().cloned());
    let wasi = WasiCtxBuilder::new()
        .inherit_stdout()
        .inherit_stderr()
        .args(&argv)
        .build_p1();
    let limits = StoreLimitsBuilder::new()
        .memory_size(TEST_MEMORY_CAP)
        .trap_on_grow_failure(true)
        .build();
    let mut store = Store::new(
        &engine,
        RunnerState {
            wasi,
            limits,
            diagnostics: diagnostics.clone(),
        },
    );
    store.limiter(|state| &mut state.limits);

    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|error| anyhow::anyhow!("cannot instantiate {}: {error:#}", wasm.display()))?;
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|error| {
            anyhow::anyhow!(
                "{} is not a WASI command (no _start): {error}",
                wasm.display()
            )
        })?;
    match start.call(&mut store, ()) {
        Ok(()) => Ok(0),
        Err(error) => match error.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => Ok(exit.0),
            None => {
                diagnostics.emit(Diagnostic::test_runner(
                    Level::Error,
                    format!("{} trapped: {error:#}", wasm.display()),
                ));
                Ok(TRAP_EXIT_CODE)
            }
        },
    }
}

/// Compiles the test binary, through the compiled-code cache when one is
/// configured (test binaries are large; recompiling each run is slow).
fn load_module(engine: &Engine, wasm: &Path, diagnostics: &Diagnostics) -> anyhow::Result<Module> {
    let bytes = std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let compiled = match ArtifactCache::default_dir() {
        Some(dir) => {
            let digest = crate::digest::sha256_hex(&bytes);
            ArtifactCache::new(dir)
                .load(engine, &digest, &bytes, diagnostics)
                .map(|(module, _)| module)
        }
        None => Module::new(engine, &bytes),
    };
    compiled.map_err(|error| anyhow::anyhow!("cannot compile {}: {error:#}", wasm.display()))
}

fn log_to_stderr(mut caller: Caller<'_, RunnerState>, level: i32, ptr: i32, len: i32) {
    if let Some(bytes) = read_guest_bytes(&mut caller, ptr, len) {
        let text = crate::printable::escape(&String::from_utf8_lossy(&bytes)).into_owned();
        caller.data().diagnostics.emit(Diagnostic::policy(
            None,
            Level::from_log(LogLevel::from_abi(level)),
            text,
        ));
    }
}
