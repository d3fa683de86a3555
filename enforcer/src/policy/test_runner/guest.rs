//! One test binary, compiled once and pre-instantiated, run as many times
//! as needed, each in a fresh store: WASI with stdout, stderr and
//! arguments only (no filesystem, no environment, no network), the
//! `enforcer.log` import, a linear-memory cap and, when asked, a deadline
//! (epoch interruption).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use policy_sdk::LogLevel;
use wasmtime::{
    Caller, Config, Engine, InstancePre, Linker, Module, Store, StoreLimits, StoreLimitsBuilder,
    Trap,
};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::OutputStream;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::diagnostics::{Diagnostic, Diagnostics, Level};
use crate::policy::abi::{IMPORT_LOG, IMPORT_MODULE, read_guest_bytes};
use crate::policy::cache::ArtifactCache;

/// Linear-memory cap of a test binary.
const TEST_MEMORY_CAP: usize = 1 << 30;
/// Most output one captured run keeps (stdout, stderr and log lines
/// together); writing more traps.
const OUTPUT_CAP: usize = 16 << 20;
/// Epoch ticks standing for "no deadline".
const NO_DEADLINE: u64 = u64::MAX / 2;

/// Where a run's stdout, stderr and log lines go.
pub enum Output {
    /// The process's stdout and stderr; log lines to the diagnostics.
    Inherit,
    /// One in-memory buffer, in the order they were written.
    Capture,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The guest returned from `_start` (0) or called `proc_exit`.
    Exited(i32),
    /// The guest trapped: the trap in one line, and whether it is the
    /// `unreachable` a Rust panic aborts with.
    Trapped {
        /// The trap, without wasm backtrace frames.
        message: String,
        /// `unreachable`: what `panic = "abort"` ends in.
        unreachable: bool,
    },
    /// The deadline passed.
    TimedOut,
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// How it ended.
    pub end: End,
    /// The captured output (empty when inherited).
    pub output: String,
}

/// Where the guest's `enforcer.log` lines go.
enum LogTo {
    Diagnostics(Diagnostics),
    Capture(MemoryOutputPipe),
}

struct RunnerState {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
    log: LogTo,
}

/// A compiled, pre-instantiated test binary.
pub struct Guest {
    engine: Engine,
    pre: InstancePre<RunnerState>,
    /// `argv[0]`.
    program: String,
    /// How often the epoch advances.
    tick: Duration,
    diagnostics: Diagnostics,
}

impl Guest {
    /// Compiles `wasm` (through the compiled-code cache when there is one)
    /// and links it. `tick` is the deadline's resolution.
    pub fn load(wasm: &Path, tick: Duration, diagnostics: &Diagnostics) -> anyhow::Result<Guest> {
        let mut config = Config::new();
        config.parallel_compilation(true).epoch_interruption(true);
        let engine = Engine::new(&config)
            .map_err(|error| anyhow::anyhow!("cannot create the wasm engine: {error}"))?;
        crate::policy::engine::start_epoch_ticker(engine.weak(), tick)?;
        let module = load_module(&engine, wasm, diagnostics)?;

        let mut linker: Linker<RunnerState> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut RunnerState| {
            &mut state.wasi
        })
        .map_err(|error| anyhow::anyhow!("cannot add WASI to the linker: {error}"))?;
        linker
            .func_wrap(IMPORT_MODULE, IMPORT_LOG, host_log)
            .map_err(|error| anyhow::anyhow!("cannot define enforcer.log: {error}"))?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|error| anyhow::anyhow!("cannot link {}: {error:#}", wasm.display()))?;
        let program = wasm
            .file_name()
            .map_or_else(|| "test".into(), |name| name.to_string_lossy().into_owned());
        Ok(Guest {
            engine,
            pre,
            program,
            tick,
            diagnostics: diagnostics.clone(),
        })
    }

    /// Runs the binary once with `args` (without the program name), its
    /// output going to `output`, stopped after `deadline` if one is given.
    pub fn run(
        &self,
        args: &[String],
        output: Output,
        deadline: Option<Duration>,
    ) -> anyhow::Result<Outcome> {
        let mut argv = vec![self.program.clone()];
        argv.extend(args.iter().cloned());
        let mut builder = WasiCtxBuilder::new();
        builder.args(&argv);
        let (log, pipe) = match output {
            Output::Inherit => {
                builder.inherit_stdout().inherit_stderr();
                (LogTo::Diagnostics(self.diagnostics.clone()), None)
            }
            Output::Capture => {
                let pipe = MemoryOutputPipe::new(OUTPUT_CAP);
                builder.stdout(pipe.clone()).stderr(pipe.clone());
                (LogTo::Capture(pipe.clone()), Some(pipe))
            }
        };
        let limits = StoreLimitsBuilder::new()
            .memory_size(TEST_MEMORY_CAP)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(
            &self.engine,
            RunnerState {
                wasi: builder.build_p1(),
                limits,
                log,
            },
        );
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(match deadline {
            Some(deadline) => deadline.as_nanos().div_ceil(self.tick.as_nanos()) as u64 + 1,
            None => NO_DEADLINE,
        });
        store.epoch_deadline_trap();

        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|error| anyhow::anyhow!("cannot instantiate {}: {error:#}", self.program))?;
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .map_err(|error| {
                anyhow::anyhow!(
                    "{} is not a WASI command (no _start): {error}",
                    self.program
                )
            })?;
        let end = match start.call(&mut store, ()) {
            Ok(()) => End::Exited(0),
            Err(error) => ending(&error),
        };
        drop(store);
        let output = pipe
            .map(|pipe| String::from_utf8_lossy(&pipe.contents()).into_owned())
            .unwrap_or_default();
        Ok(Outcome { end, output })
    }

    /// The binary's name (`argv[0]`).
    pub fn program(&self) -> &str {
        &self.program
    }
}

/// How a call that returned `error` ended: an exit, the deadline, or a
/// trap described in one line (the wasm backtrace is left out).
fn ending(error: &wasmtime::Error) -> End {
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return End::Exited(exit.0);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => End::TimedOut,
        Some(trap) => End::Trapped {
            message: trap.to_string(),
            unreachable: *trap == Trap::UnreachableCodeReached,
        },
        None => End::Trapped {
            message: error
                .root_cause()
                .to_string()
                .lines()
                .next()
                .unwrap_or("unknown error")
                .to_string(),
            unreachable: false,
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

/// `enforcer.log`: a `[policy] LEVEL: message` line, to the diagnostics or
/// into the run's captured output.
fn host_log(mut caller: Caller<'_, RunnerState>, level: i32, ptr: i32, len: i32) {
    let Some(bytes) = read_guest_bytes(&mut caller, ptr, len) else {
        return;
    };
    let text = crate::printable::escape(&String::from_utf8_lossy(&bytes)).into_owned();
    let line = Diagnostic::policy(None, Level::from_log(LogLevel::from_abi(level)), text);
    match &mut caller.data_mut().log {
        LogTo::Diagnostics(diagnostics) => diagnostics.emit(line),
        // Past the output cap the line is dropped; the guest's own next
        // write traps and says so.
        LogTo::Capture(pipe) => drop(pipe.write(format!("{line}\n").into_bytes().into())),
    }
}
