//! Errors from loading or evaluating a policy module. Every error names the
//! policy and the cause; none of them applies anything.

use std::time::Duration;

/// A policy failed to load or to evaluate.
#[derive(Debug, thiserror::Error)]
#[error("policy {policy}: {kind}")]
pub struct PolicyError {
    /// The policy's name (its file path, or `embedded default`).
    pub policy: String,
    /// What went wrong.
    pub kind: PolicyErrorKind,
}

/// The budget a compile ran past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// CPU seconds (`RLIMIT_CPU`), or the wall-clock guard around them.
    Time {
        /// The budget, in CPU seconds.
        cpu_seconds: u64,
    },
    /// Address space (`RLIMIT_AS`) of the compiler process.
    Memory {
        /// The budget, in bytes.
        bytes: usize,
    },
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Budget::Time { cpu_seconds } => write!(
                f,
                "time budget of {cpu_seconds} CPU second{} (--compile-time)",
                if *cpu_seconds == 1 { "" } else { "s" }
            ),
            Budget::Memory { bytes: budget } => {
                write!(f, "memory budget of {} (--compile-memory)", bytes(*budget))
            }
        }
    }
}

/// `4 MiB`, `512 KiB` or `1000 bytes`: the largest unit that divides `n`.
pub(crate) fn bytes(n: usize) -> String {
    match n {
        0 => "0 bytes".into(),
        n if n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// The cause of a [`PolicyError`].
#[derive(Debug, thiserror::Error)]
pub enum PolicyErrorKind {
    /// The module file could not be read.
    #[error("cannot read module: {0}")]
    Read(std::io::Error),
    /// `builtin:NAME` names no built-in policy.
    #[error(transparent)]
    UnknownBuiltin(#[from] crate::embedded::UnknownBuiltin),
    /// The bytes are not a valid Wasm (or WAT) module.
    #[error("not a valid WebAssembly module: {0}")]
    Compile(String),
    /// The module, or its binary form, is larger than the module size cap.
    #[error("too large to compile: {size} bytes, the cap is {} (--max-module-size)", bytes(*cap))]
    TooLarge {
        /// Size of the module.
        size: usize,
        /// The cap.
        cap: usize,
    },
    /// The module defines more functions than the cap.
    #[error("too many functions to compile: {count}, the cap is {cap} (--max-functions)")]
    TooManyFunctions {
        /// Functions the module declares.
        count: u32,
        /// The cap.
        cap: u32,
    },
    /// A function body is larger than the cap.
    #[error(
        "function {index} is too large to compile: {size} bytes, the cap is {} (--max-function-size)",
        bytes(*cap)
    )]
    FunctionTooLarge {
        /// The function's index in the module's function space.
        index: u64,
        /// Size of its body.
        size: usize,
        /// The cap.
        cap: usize,
    },
    /// A function declares more locals than the cap.
    #[error(
        "function {index} has too many locals to compile: {count}, the cap is {cap} (--max-locals)"
    )]
    TooManyLocals {
        /// The function's index in the module's function space.
        index: u64,
        /// Locals declared so far when the cap was passed.
        count: u64,
        /// The cap.
        cap: u32,
    },
    /// Compiling ran past its time or memory budget; nothing was cached.
    #[error("compiling ran past its {0}; nothing was cached")]
    CompileBudget(Budget),
    /// The compiler process failed for another reason.
    #[error("the compiler process failed: {0}")]
    Compiler(String),
    /// The module imports something other than `enforcer.log`.
    #[error(
        "imports `{module}.{name}`; a policy may import only `enforcer.log` (no WASI, no other host functions)"
    )]
    ForbiddenImport {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// An ABI export is missing.
    #[error("missing export `{0}`, required by policy ABI v1 (see docs/abi.md)")]
    MissingExport(&'static str),
    /// An import or export has the wrong type.
    #[error("`{name}` has type {found}, ABI v1 requires {expected}")]
    WrongType {
        /// Import or export name.
        name: String,
        /// Its type.
        found: String,
        /// The type the ABI requires.
        expected: &'static str,
    },
    /// `policy_abi_version` returned something other than 1.
    #[error("speaks ABI version {0}; this enforcer speaks version 1")]
    AbiVersion(i32),
    /// The module could not be instantiated.
    #[error("cannot instantiate: {0}")]
    Instantiate(String),
    /// Evaluation ran past the deadline.
    #[error("timed out: evaluation ran past the {0:?} deadline")]
    Timeout(Duration),
    /// The module tried to grow linear memory or a table past its cap.
    #[error("{0}")]
    LimitExceeded(String),
    /// The module trapped.
    #[error("trapped: {0}")]
    Trap(String),
    /// An invariant of the enforcer itself broke (an export validated at
    /// load time is gone or has changed type): a bug in the enforcer, not
    /// something the policy did.
    #[error("internal error: {0} (a bug in the enforcer, not in the policy)")]
    Internal(String),
    /// `policy_alloc` returned a buffer outside linear memory.
    #[error("policy_alloc({len}) returned {ptr:#x}, which is not a buffer inside linear memory")]
    BadAlloc {
        /// Requested length.
        len: usize,
        /// Returned pointer.
        ptr: u32,
    },
    /// The returned response lies outside linear memory.
    #[error(
        "returned a response at {ptr:#x} of {len} bytes, outside its {memory_size} bytes of linear memory"
    )]
    OutOfBounds {
        /// Returned pointer.
        ptr: u32,
        /// Returned length.
        len: u32,
        /// Size of linear memory.
        memory_size: usize,
    },
    /// The response is larger than the output cap.
    #[error("response of {len} bytes exceeds the output cap of {cap} bytes")]
    OutputTooLarge {
        /// Response length.
        len: u32,
        /// The cap.
        cap: usize,
    },
    /// The response is not UTF-8.
    #[error("response is not valid UTF-8: {0}")]
    InvalidUtf8(std::str::Utf8Error),
    /// The response is not JSON.
    #[error("response is not valid JSON: {0}")]
    InvalidJson(String),
    /// The response is JSON but not `{"decision": ...}` or `{"error": ...}`,
    /// or the decision has a field of the wrong name or type.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// The policy answered `{"error": ...}` (or panicked).
    #[error("reported an error: {0}")]
    Reported(String),
    /// The settings given to `policy_validate_settings` are not a JSON
    /// object (the value's kind: `an array`, `a string`, ...).
    #[error("settings must be a JSON object, not {0}")]
    SettingsNotObject(&'static str),
    /// The request could not be serialized or is too large.
    #[error("cannot pass the request: {0}")]
    Request(String),
}
