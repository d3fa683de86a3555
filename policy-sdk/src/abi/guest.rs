//! The Wasm side of ABI v1 (see `docs/abi.md`). Policy authors use
//! [`export_policy!`](crate::export_policy) and never call these directly.

use std::alloc::{Layout, alloc, dealloc};
use std::sync::Mutex;

use std::fmt::Display;

use serde::de::DeserializeOwned;

use super::{Metadata, Response, pack_ptr_len};
use crate::{Decision, EvaluationError, Request, settings};

/// Alignment of buffers handed to the host.
const BUFFER_ALIGN: usize = 8;

/// The last response, kept alive until the instance is dropped.
static OUTPUT: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// The `{"error": ...}` response recorded by the panic hook.
static PANIC_RESPONSE: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// `policy_alloc`: a buffer of `len` bytes for the host to write into.
pub fn alloc_export(len: i32) -> i32 {
    let Ok(size) = usize::try_from(len) else {
        return 0;
    };
    let Ok(layout) = Layout::from_size_align(size.max(1), BUFFER_ALIGN) else {
        return 0;
    };
    // SAFETY: the layout has a non-zero size.
    unsafe { alloc(layout) as i32 }
}

/// `policy_free`: releases a buffer from [`alloc_export`].
pub fn free_export(ptr: i32, len: i32) {
    let (Ok(size), false) = (usize::try_from(len), ptr == 0) else {
        return;
    };
    if let Ok(layout) = Layout::from_size_align(size.max(1), BUFFER_ALIGN) {
        // SAFETY: the host hands back a pointer and length from `policy_alloc`.
        unsafe { dealloc(ptr as *mut u8, layout) }
    }
}

/// `policy_evaluate`: parses the request at `ptr..ptr+len`, runs `evaluate`,
/// and returns the packed location of the response JSON.
pub fn evaluate_export(
    ptr: i32,
    len: i32,
    evaluate: fn(&Request) -> Result<Decision, EvaluationError>,
) -> i64 {
    install_panic_hook();
    // SAFETY: the host wrote `len` bytes at `ptr`, a buffer it obtained from
    // `policy_alloc`.
    let input = unsafe { input(ptr, len) };
    let response = match serde_json::from_slice::<Request>(input) {
        Ok(request) => match evaluate(&request) {
            Ok(decision) => Response::Decision(decision),
            Err(error) => Response::Error(error.to_string()),
        },
        Err(error) => Response::Error(format!("invalid request JSON: {error}")),
    };
    publish(&response, &OUTPUT)
}

/// `policy_validate_settings`: checks the settings JSON at `ptr..ptr+len`
/// with `check` (see [`settings::validate`]) and returns the packed location
/// of `{"valid": ...}`, or of `{"error": ...}` when the input is not JSON.
pub fn validate_settings_export<T: DeserializeOwned, E: Display>(
    ptr: i32,
    len: i32,
    check: fn(&T) -> Result<(), E>,
) -> i64 {
    install_panic_hook();
    // SAFETY: as in `evaluate_export`.
    let input = unsafe { input(ptr, len) };
    match settings::validate(input, check) {
        Ok(validation) => publish(&validation, &OUTPUT),
        Err(message) => publish(&Response::Error(message), &OUTPUT),
    }
}

/// The input buffer of an export.
///
/// # Safety
///
/// `ptr..ptr+len` must be readable, which holds for a buffer the host got
/// from `policy_alloc(len)` and wrote.
unsafe fn input<'a>(ptr: i32, len: i32) -> &'a [u8] {
    match usize::try_from(len) {
        Ok(0) | Err(_) => &[],
        // SAFETY: the caller's promise.
        Ok(len) => unsafe { std::slice::from_raw_parts(ptr as *const u8, len) },
    }
}

/// `policy_metadata`: the packed location of the metadata JSON.
pub fn metadata_export(name: &str, version: &str, description: &str) -> i64 {
    let metadata = Metadata {
        name: name.into(),
        version: version.into(),
        description: description.into(),
    };
    publish(&metadata, &OUTPUT)
}

/// `policy_panic_response`: the `{"error": ...}` response the panic hook
/// recorded, or 0 when nothing panicked.
pub fn panic_response_export() -> i64 {
    let recorded = PANIC_RESPONSE
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    if recorded.is_empty() {
        0
    } else {
        pack_ptr_len(recorded.as_ptr() as u32, recorded.len() as u32)
    }
}

fn publish<T: serde::Serialize>(value: &T, slot: &Mutex<Vec<u8>>) -> i64 {
    let bytes = serde_json::to_vec(value)
        .unwrap_or_else(|_| br#"{"error":"policy response could not be serialized"}"#.to_vec());
    let mut slot = slot.lock().unwrap_or_else(|poison| poison.into_inner());
    *slot = bytes;
    pack_ptr_len(slot.as_ptr() as u32, slot.len() as u32)
}

fn install_panic_hook() {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut installed = INSTALLED
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    if *installed {
        return;
    }
    *installed = true;
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|at| format!(" at {}:{}", at.file(), at.line()))
            .unwrap_or_default();
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let response = Response::Error(format!("policy panicked{location}: {message}"));
        publish(&response, &PANIC_RESPONSE);
    }));
}
