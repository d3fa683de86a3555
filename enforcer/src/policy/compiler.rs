//! Compiling a policy module under a time and memory budget.
//!
//! Cranelift's cost grows with the module, so a hostile module could spend
//! the enforcer's CPU and memory before any evaluation deadline or linear
//! memory cap applies. The caps in [`super::shape`] bound the input; this
//! module bounds the compile itself: the enforcer binary is executed again
//! (`/proc/self/exe compile-policy SPEC`, through `std::process::Command`,
//! which runs only async-signal-safe calls between the fork and the
//! `execve`: no Rust or wasmtime code of ours runs in a forked copy of a
//! multi-threaded process), and that fresh, single-purpose process
//!
//! 1. makes itself non-dumpable (no core file of a killed compile) and sets
//!    `RLIMIT_AS` to the memory budget and `RLIMIT_CPU` to the time budget,
//!    before it reads anything;
//! 2. reads the binary module on stdin, compiles it with the engine
//!    settings that affect code (the parent's `Config`, minus the pooling
//!    allocator, whose reservations are a runtime matter), and
//! 3. writes wasmtime's serialized artifact on stdout.
//!
//! The parent bounds the output to the memory budget and the wall-clock time
//! to a guard of twice the CPU budget plus 10 s (a stopped or starved
//! compiler), then deserializes the artifact with its own engine, which
//! checks that it was built by this wasmtime for this configuration. A
//! compile that runs past a budget names the budget; nothing is cached.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::resource::{Resource, setrlimit};

use super::engine::code_config;
use super::error::{Budget, PolicyErrorKind};

/// The hidden subcommand of the `enforcer` binary that compiles one module.
pub const CHILD_COMMAND: &str = "compile-policy";

/// Version of the argument the parent passes to [`CHILD_COMMAND`].
const SPEC_VERSION: &str = "v1";

/// Exit status of the compiler process: the module is not valid Wasm (the
/// reason is on stderr).
const EXIT_INVALID: i32 = 65;
/// Exit status of the compiler process: wasmtime reported that an
/// allocation failed (under `RLIMIT_AS`).
const EXIT_OUT_OF_MEMORY: i32 = 66;
/// Exit status of the compiler process: it could not set itself up.
const EXIT_SETUP: i32 = 70;

/// Bytes of the compiler's stderr kept for messages.
const STDERR_KEPT: usize = 4 << 10;

/// Where policy modules are compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compiler {
    /// In this process, bounded only by the pre-compile caps
    /// ([`super::CompileCaps`]): no time or memory budget. The default of
    /// [`super::EngineOptions`], for library embedders (tests, benches) that
    /// are not the `enforcer` binary.
    InProcess,
    /// In a child process running this executable, the `enforcer` binary
    /// (or one that handles [`CHILD_COMMAND`] the same way, by calling
    /// [`compiler_main`]), under the [`CompileBudget`]. What the `enforcer`
    /// command line uses, with `/proc/self/exe`.
    Subprocess(PathBuf),
}

impl Compiler {
    /// The running executable, which must be the `enforcer` binary.
    pub fn this_executable() -> Compiler {
        Compiler::Subprocess(PathBuf::from("/proc/self/exe"))
    }
}

/// Time and memory one compile may use (with [`Compiler::Subprocess`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileBudget {
    /// CPU seconds, summed over the compiler's threads (`RLIMIT_CPU`).
    pub cpu_seconds: u64,
    /// Address space of the compiler process in bytes (`RLIMIT_AS`); it
    /// includes the enforcer binary's own mappings and thread stacks.
    pub memory_bytes: usize,
}

impl Default for CompileBudget {
    /// 10 CPU seconds and 1 GiB: the example policies compile in about
    /// 0.5 CPU seconds within 64 MiB of address space, and 4 MiB of plain
    /// code in about 4 CPU seconds and 100 MiB; branchy code within the caps
    /// can take minutes and gigabytes, which is what the budget is for.
    fn default() -> CompileBudget {
        CompileBudget {
            cpu_seconds: 10,
            memory_bytes: 1 << 30,
        }
    }
}

impl CompileBudget {
    /// How long the parent waits in wall-clock time before it kills the
    /// compiler and reports the time budget.
    fn wall_guard(&self) -> Duration {
        Duration::from_secs(self.cpu_seconds.saturating_mul(2).saturating_add(10))
    }
}

/// What the compiler process needs to know, passed as its one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Spec {
    /// `Config::max_wasm_stack` of the parent's engine.
    pub max_wasm_stack: usize,
    /// The budget to put on itself.
    pub budget: CompileBudget,
}

impl std::fmt::Display for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{SPEC_VERSION},stack={},cpu={},memory={}",
            self.max_wasm_stack, self.budget.cpu_seconds, self.budget.memory_bytes
        )
    }
}

impl std::str::FromStr for Spec {
    type Err = String;

    fn from_str(text: &str) -> Result<Spec, String> {
        let mut fields = text.split(',');
        if fields.next() != Some(SPEC_VERSION) {
            return Err(format!("{text:?} is not a {SPEC_VERSION} compile spec"));
        }
        let (mut stack, mut cpu, mut memory) = (None, None, None);
        for field in fields {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| format!("{field:?} is not KEY=VALUE"))?;
            let value: u64 = value
                .parse()
                .map_err(|_| format!("{field:?}: not a number"))?;
            match key {
                "stack" => stack = Some(value),
                "cpu" => cpu = Some(value),
                "memory" => memory = Some(value),
                _ => return Err(format!("{field:?}: unknown key")),
            }
        }
        let need =
            |value: Option<u64>, key: &str| value.ok_or_else(|| format!("{key}= is missing"));
        let size = |value: u64, key: &str| {
            usize::try_from(value).map_err(|_| format!("{key}={value} is too large"))
        };
        Ok(Spec {
            max_wasm_stack: size(need(stack, "stack")?, "stack")?,
            budget: CompileBudget {
                cpu_seconds: need(cpu, "cpu")?,
                memory_bytes: size(need(memory, "memory")?, "memory")?,
            },
        })
    }
}

/// Compiles `wasm` (binary, already past the caps) in the compiler process
/// `executable` and returns the serialized artifact.
pub(super) fn compile_in_child(
    executable: &Path,
    wasm: &[u8],
    spec: Spec,
) -> Result<Vec<u8>, PolicyErrorKind> {
    let started = Instant::now();
    let mut child = Command::new(executable)
        .arg(CHILD_COMMAND)
        .arg(spec.to_string())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| {
            PolicyErrorKind::Compiler(format!("cannot start {}: {error}", executable.display()))
        })?;
    let deadline = started + spec.budget.wall_guard();
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let (output, errors, status) = std::thread::scope(|scope| {
        // A writer of its own: the pipe holds 64 KiB and the module is
        // larger. It ends when the child has read everything or is gone.
        scope.spawn(move || {
            if let Some(mut pipe) = stdin {
                let _ = pipe.write_all(wasm);
            }
        });
        let errors = scope.spawn(move || read_kept(stderr, STDERR_KEPT));
        let output = match stdout {
            Some(pipe) => read_until(pipe, spec.budget.memory_bytes, deadline),
            None => Err(Stop::Io("no stdout pipe".into())),
        };
        let status = if output.is_err() {
            // Our own child, not yet reaped: its pid cannot have been reused.
            let _ = child.kill();
            child
                .wait()
                .map_err(|error| Stop::Io(format!("cannot wait for the compiler: {error}")))
        } else {
            wait_until(&mut child, deadline)
        };
        let errors = errors.join().unwrap_or_default();
        (output, errors, status)
    });
    let budget = spec.budget;
    let status = match status {
        Ok(status) => status,
        Err(Stop::Deadline) => {
            return Err(PolicyErrorKind::CompileBudget(Budget::Time {
                cpu_seconds: budget.cpu_seconds,
            }));
        }
        Err(other) => return Err(PolicyErrorKind::Compiler(other.to_string())),
    };
    match output {
        Ok(artifact) if status.success() => Ok(artifact),
        Err(Stop::Deadline) => Err(PolicyErrorKind::CompileBudget(Budget::Time {
            cpu_seconds: budget.cpu_seconds,
        })),
        Err(Stop::TooLarge) => Err(PolicyErrorKind::CompileBudget(Budget::Memory {
            bytes: budget.memory_bytes,
        })),
        Err(Stop::Io(message)) if status.success() => Err(PolicyErrorKind::Compiler(message)),
        _ => Err(classify_failure(status, &errors, budget)),
    }
}

/// Names the cause of a compiler process that did not succeed.
fn classify_failure(status: ExitStatus, stderr: &str, budget: CompileBudget) -> PolicyErrorKind {
    use std::os::unix::process::ExitStatusExt;
    let time = PolicyErrorKind::CompileBudget(Budget::Time {
        cpu_seconds: budget.cpu_seconds,
    });
    let memory = PolicyErrorKind::CompileBudget(Budget::Memory {
        bytes: budget.memory_bytes,
    });
    let message = stderr.trim();
    // Rust aborts when an allocation fails; a thread stack that cannot be
    // mapped fails the spawn; wasmtime reports its own allocation failures.
    let out_of_memory = [
        "memory allocation of",
        "out of memory",
        "Cannot allocate memory",
        "failed to spawn thread",
    ]
    .iter()
    .any(|needle| message.contains(needle));
    match (status.code(), status.signal()) {
        (Some(EXIT_INVALID), _) => PolicyErrorKind::Compile(message.to_string()),
        (Some(EXIT_OUT_OF_MEMORY), _) => memory,
        (_, Some(signal)) if signal == nix::libc::SIGXCPU => time,
        _ if out_of_memory => memory,
        (_, Some(signal)) if signal == nix::libc::SIGSEGV && message.is_empty() => memory,
        _ => PolicyErrorKind::Compiler(if message.is_empty() {
            status.to_string()
        } else {
            format!("{status}: {message}")
        }),
    }
}

/// Why reading the compiler's output stopped early.
#[derive(Debug)]
enum Stop {
    /// The wall-clock guard passed.
    Deadline,
    /// The output grew past the memory budget.
    TooLarge,
    /// A pipe or wait failed.
    Io(String),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Deadline => f.write_str("ran past its wall-clock guard"),
            Stop::TooLarge => f.write_str("wrote more than its memory budget"),
            Stop::Io(message) => f.write_str(message),
        }
    }
}

/// Reads `pipe` to its end, at most `limit` bytes, until `deadline`.
fn read_until(
    mut pipe: std::process::ChildStdout,
    limit: usize,
    deadline: Instant,
) -> Result<Vec<u8>, Stop> {
    let mut output = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Stop::Deadline);
        }
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(errno) => return Err(Stop::Io(format!("cannot poll the compiler: {errno}"))),
        }
        let read = match pipe.read(&mut chunk) {
            Ok(0) => return Ok(output),
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(Stop::Io(format!("cannot read the compiler: {error}"))),
        };
        if output.len() + read > limit {
            return Err(Stop::TooLarge);
        }
        output.extend_from_slice(&chunk[..read]);
    }
}

/// The first `kept` bytes of `pipe` as text; the rest is drained.
fn read_kept(pipe: Option<std::process::ChildStderr>, kept: usize) -> String {
    let Some(pipe) = pipe else {
        return String::new();
    };
    let mut text = Vec::new();
    let mut pipe = pipe;
    let _ = (&mut pipe).take(kept as u64).read_to_end(&mut text);
    let _ = std::io::copy(&mut pipe, &mut std::io::sink());
    String::from_utf8_lossy(&text).into_owned()
}

/// Reaps `child`, killing it if it is still running at `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> Result<ExitStatus, Stop> {
    let mut pause = Duration::from_micros(100);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Stop::Deadline);
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            Err(error) => return Err(Stop::Io(format!("cannot wait for the compiler: {error}"))),
        }
    }
}

/// The compiler process: `enforcer compile-policy SPEC`, with the module on
/// stdin and the artifact on stdout. Returns its exit status.
pub fn compiler_main(spec: &str) -> i32 {
    let spec: Spec = match spec.parse() {
        Ok(spec) => spec,
        Err(error) => {
            eprintln!("enforcer compile-policy: {error}");
            return EXIT_SETUP;
        }
    };
    if let Err(error) = limit_self(&spec.budget) {
        eprintln!("enforcer compile-policy: {error}");
        return EXIT_SETUP;
    }
    let mut wasm = Vec::new();
    if let Err(error) = std::io::stdin().lock().read_to_end(&mut wasm) {
        eprintln!("enforcer compile-policy: cannot read the module: {error}");
        return EXIT_SETUP;
    }
    let engine = match wasmtime::Engine::new(&code_config(spec.max_wasm_stack)) {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("enforcer compile-policy: cannot create the wasm engine: {error:#}");
            return EXIT_SETUP;
        }
    };
    let artifact = match engine.precompile_module(&wasm) {
        Ok(artifact) => artifact,
        Err(error) if error.is::<wasmtime::OutOfMemory>() => {
            eprintln!("{error:#}");
            return EXIT_OUT_OF_MEMORY;
        }
        Err(error) => {
            eprintln!("{error:#}");
            return EXIT_INVALID;
        }
    };
    drop(wasm);
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&artifact).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("enforcer compile-policy: cannot write the artifact: {error}");
            EXIT_SETUP
        }
    }
}

/// Puts the budget on this process: no core dumps, `RLIMIT_AS`, and
/// `RLIMIT_CPU` (SIGXCPU at the budget, SIGKILL a second later).
fn limit_self(budget: &CompileBudget) -> Result<(), String> {
    nix::sys::prctl::set_dumpable(false)
        .map_err(|errno| format!("cannot make the compiler non-dumpable: {errno}"))?;
    setrlimit(Resource::RLIMIT_CORE, 0, 0)
        .map_err(|errno| format!("cannot set RLIMIT_CORE: {errno}"))?;
    let memory = budget.memory_bytes as u64;
    setrlimit(Resource::RLIMIT_AS, memory, memory)
        .map_err(|errno| format!("cannot set RLIMIT_AS to {memory}: {errno}"))?;
    let cpu = budget.cpu_seconds.max(1);
    setrlimit(Resource::RLIMIT_CPU, cpu, cpu.saturating_add(1))
        .map_err(|errno| format!("cannot set RLIMIT_CPU to {cpu}: {errno}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_and_refuse_garbage() {
        let spec = Spec {
            max_wasm_stack: 512 << 10,
            budget: CompileBudget {
                cpu_seconds: 3,
                memory_bytes: 1 << 30,
            },
        };
        assert_eq!(spec.to_string().parse::<Spec>(), Ok(spec));
        for bad in [
            "",
            "v2,stack=1,cpu=1,memory=1",
            "v1,stack=1,cpu=1",
            "v1,stack=1,cpu=x,memory=1",
            "v1,stack=1,cpu=1,memory=1,extra=2",
        ] {
            assert!(bad.parse::<Spec>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn failures_are_named_by_budget() {
        use std::os::unix::process::ExitStatusExt;
        let budget = CompileBudget::default();
        let signal = |number: i32| ExitStatus::from_raw(number);
        let exit = |code: i32| ExitStatus::from_raw(code << 8);
        assert!(matches!(
            classify_failure(signal(nix::libc::SIGXCPU), "", budget),
            PolicyErrorKind::CompileBudget(Budget::Time { cpu_seconds: 10 })
        ));
        assert!(matches!(
            classify_failure(
                signal(nix::libc::SIGABRT),
                "memory allocation of 4096 bytes failed",
                budget
            ),
            PolicyErrorKind::CompileBudget(Budget::Memory { .. })
        ));
        assert!(matches!(
            classify_failure(exit(EXIT_INVALID), "bad magic", budget),
            PolicyErrorKind::Compile(message) if message == "bad magic"
        ));
        assert!(matches!(
            classify_failure(exit(EXIT_SETUP), "cannot set RLIMIT_AS", budget),
            PolicyErrorKind::Compiler(message) if message.contains("RLIMIT_AS")
        ));
    }
}
