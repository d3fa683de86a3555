//! The wasmtime engine shared by every policy of one process: its
//! configuration, the epoch ticker that enforces deadlines, and the linker
//! that provides `enforcer.log`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use policy_sdk::LogLevel;
use wasmtime::{
    Caller, Config, Engine, EngineWeak, InstanceAllocationStrategy, Linker, PoolingAllocationConfig,
};

use crate::diagnostics::Diagnostics;

use super::abi::{IMPORT_LOG, IMPORT_MODULE, read_guest_bytes};
use super::cache::ArtifactCache;
use super::compiler::{CompileBudget, Compiler};
use super::limits::{StoreCaps, StoreState};
use super::shape::CompileCaps;

/// How instances get their memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// mmap per instance: cheapest to set up, right for a one-shot CLI run.
    OnDemand,
    /// Pre-reserved slots reused across instances: right when one process
    /// evaluates many requests. `slots` bounds concurrent instances.
    Pooling {
        /// Instances that may exist at once.
        slots: u32,
        /// Bytes at the start of each linear memory kept resident (zeroed
        /// with memset instead of returned to the kernel) between uses.
        keep_resident: usize,
    },
}

impl Allocation {
    /// Pooling sized for a service: 64 concurrent instances, and the first
    /// 256 KiB of each memory kept resident, which covers the whole initial
    /// memory of an SDK-built policy (64 KiB stack, data, 64 KiB arena), so
    /// a fresh instance costs a memset, not page faults and `madvise`.
    pub fn pooling() -> Allocation {
        Allocation::Pooling {
            slots: 64,
            keep_resident: 256 << 10,
        }
    }
}

/// Settings of a [`PolicyEngine`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Wall-clock budget of one evaluation.
    pub deadline: Duration,
    /// Linear-memory cap per instance, in bytes.
    pub memory_cap: usize,
    /// Table-size cap per instance, in elements.
    pub table_cap: usize,
    /// Largest response accepted, in bytes.
    pub output_cap: usize,
    /// Largest wasm stack, in bytes.
    pub max_wasm_stack: usize,
    /// Instance allocation strategy.
    pub allocation: Allocation,
    /// Compiled-code cache; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Size, function count, body size and locals caps, checked before a
    /// module is compiled (and on every load, cached or not).
    pub compile_caps: CompileCaps,
    /// Where modules are compiled. [`Compiler::InProcess`] (the default, for
    /// library embedders) has no time or memory budget: only the caps bound
    /// it. The `enforcer` command line uses [`Compiler::this_executable`].
    pub compiler: Compiler,
    /// Time and memory budget of one compile, with [`Compiler::Subprocess`].
    pub compile_budget: CompileBudget,
    /// Log messages kept per evaluation.
    pub log_messages: u32,
    /// Bytes kept of one log message.
    pub log_message_bytes: usize,
    /// Lowest policy log level printed.
    pub log_level: LogLevel,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            deadline: Duration::from_millis(100),
            memory_cap: 64 << 20,
            table_cap: 10_000,
            output_cap: 1 << 20,
            max_wasm_stack: 512 << 10,
            allocation: Allocation::OnDemand,
            cache_dir: ArtifactCache::default_dir(),
            compile_caps: CompileCaps::default(),
            compiler: Compiler::InProcess,
            compile_budget: CompileBudget::default(),
            log_messages: 32,
            log_message_bytes: 1024,
            log_level: LogLevel::Info,
        }
    }
}

/// One wasmtime engine plus everything evaluations share.
#[derive(Clone)]
pub struct PolicyEngine {
    pub(super) engine: Engine,
    pub(super) linker: Arc<Linker<StoreState>>,
    pub(super) options: Arc<EngineOptions>,
    pub(super) caps: Arc<StoreCaps>,
    pub(super) cache: Option<ArtifactCache>,
    /// Epoch ticks until an evaluation is interrupted.
    pub(super) deadline_ticks: u64,
    /// Where policy logs and cache warnings go.
    pub(super) diagnostics: Diagnostics,
}

impl PolicyEngine {
    /// Builds the engine and starts its epoch ticker.
    pub fn new(options: EngineOptions) -> anyhow::Result<PolicyEngine> {
        anyhow::ensure!(!options.deadline.is_zero(), "the deadline must be positive");
        anyhow::ensure!(
            options.memory_cap >= 64 << 10,
            "the memory cap must be at least 64 KiB"
        );
        anyhow::ensure!(
            options.compile_budget.cpu_seconds >= 1,
            "the compile time budget must be at least 1 CPU second"
        );
        anyhow::ensure!(
            options.compile_budget.memory_bytes >= 64 << 20,
            "the compile memory budget must be at least 64 MiB"
        );
        let mut config = code_config(options.max_wasm_stack);
        if let Allocation::Pooling {
            slots,
            keep_resident,
        } = options.allocation
        {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_core_instances(slots)
                .total_memories(slots)
                .total_tables(slots)
                .max_memories_per_module(1)
                .max_tables_per_module(1)
                .max_memory_size(options.memory_cap)
                .table_elements(options.table_cap)
                .linear_memory_keep_resident(keep_resident)
                .table_keep_resident(keep_resident.min(64 << 10));
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config)
            .map_err(|error| anyhow::anyhow!("cannot create the wasm engine: {error}"))?;
        let tick = (options.deadline / 10).max(Duration::from_millis(1));
        let deadline_ticks = options.deadline.as_nanos().div_ceil(tick.as_nanos()) as u64 + 1;
        start_epoch_ticker(engine.weak(), tick)?;
        let linker = Arc::new(build_linker(&engine)?);
        let caps = Arc::new(StoreCaps {
            memory_bytes: options.memory_cap,
            table_elements: options.table_cap,
            log_messages: options.log_messages,
            log_message_bytes: options.log_message_bytes,
            log_level: options.log_level,
        });
        let cache = options.cache_dir.clone().map(ArtifactCache::new);
        Ok(PolicyEngine {
            engine,
            linker,
            options: Arc::new(options),
            caps,
            cache,
            deadline_ticks,
            diagnostics: Diagnostics::default(),
        })
    }

    /// The engine, sending policy logs and cache warnings to `diagnostics`
    /// (by default they are printed on stderr).
    pub fn with_diagnostics(mut self, diagnostics: Diagnostics) -> PolicyEngine {
        self.diagnostics = diagnostics;
        self
    }

    /// Where policy logs and cache warnings go.
    pub fn diagnostics(&self) -> &Diagnostics {
        &self.diagnostics
    }

    /// The settings.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// The wasmtime engine.
    pub fn wasmtime(&self) -> &Engine {
        &self.engine
    }

    /// The compiled-code cache, if enabled.
    pub fn cache(&self) -> Option<&ArtifactCache> {
        self.cache.as_ref()
    }
}

/// The engine settings that decide what compiled code looks like, shared by
/// the engine and the compiler process ([`super::compiler`]) so that the
/// artifacts it writes load here. The pooling allocator is added on top: it
/// changes how instances are allocated, not the code.
pub(super) fn code_config(max_wasm_stack: usize) -> Config {
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .max_wasm_stack(max_wasm_stack)
        .parallel_compilation(true);
    config
}

/// Advances the engine's epoch every `tick` until the engine is dropped.
/// Without it no deadline could fire, so failing to start it is an error.
pub(super) fn start_epoch_ticker(engine: EngineWeak, tick: Duration) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("enforcer-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .map(drop)
        .map_err(|error| anyhow::anyhow!("cannot start the deadline timer thread: {error}"))
}

fn build_linker(engine: &Engine) -> anyhow::Result<Linker<StoreState>> {
    let mut linker = Linker::new(engine);
    linker
        .func_wrap(IMPORT_MODULE, IMPORT_LOG, host_log)
        .map_err(|error| anyhow::anyhow!("cannot define enforcer.log: {error}"))?;
    Ok(linker)
}

/// `enforcer.log(level, ptr, len)`: an out-of-range buffer is ignored.
fn host_log(mut caller: Caller<'_, StoreState>, level: i32, ptr: i32, len: i32) {
    if let Some(message) = read_guest_bytes(&mut caller, ptr, len) {
        caller.data_mut().log(LogLevel::from_abi(level), &message);
    }
}
