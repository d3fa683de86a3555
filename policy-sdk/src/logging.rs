//! Policy logging: the `enforcer.log` import inside Wasm, stderr natively.

/// Severity of a policy log message; the numbers are the ABI's `level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum LogLevel {
    /// Something is wrong.
    Error = 0,
    /// Something looks wrong.
    Warn = 1,
    /// Worth knowing.
    Info = 2,
    /// Detail for policy authors.
    Debug = 3,
}

impl LogLevel {
    /// Lower-case name (`"warn"`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }

    /// The level for an ABI number; numbers above `Debug` count as debug.
    pub fn from_abi(level: i32) -> LogLevel {
        match level {
            i32::MIN..=0 => LogLevel::Error,
            1 => LogLevel::Warn,
            2 => LogLevel::Info,
            _ => LogLevel::Debug,
        }
    }
}

/// Logs `message` at `level`: through the `enforcer.log` import when running
/// inside Wasm, to stderr otherwise. Use the [`log!`](crate::log) macro.
pub fn log_message(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        #[link(wasm_import_module = "enforcer")]
        unsafe extern "C" {
            #[link_name = "log"]
            fn enforcer_log(level: i32, ptr: i32, len: i32);
        }
        // SAFETY: the host reads `len` bytes at `ptr`, which is `message`.
        unsafe { enforcer_log(level as i32, message.as_ptr() as i32, message.len() as i32) }
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[policy] {}: {message}", level.as_str());
}

/// Logs a formatted message: `log!("text {x}")` at info level, or
/// `log!(Warn: "text {x}")` at a chosen [`LogLevel`].
#[macro_export]
macro_rules! log {
    ($level:ident : $($arg:tt)+) => {
        $crate::log_message($crate::LogLevel::$level, &::std::format!($($arg)+))
    };
    ($($arg:tt)+) => {
        $crate::log_message($crate::LogLevel::Info, &::std::format!($($arg)+))
    };
}
