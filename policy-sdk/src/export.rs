//! The [`export_policy!`](crate::export_policy) macro.

/// Exports a policy function as a Wasm module speaking ABI v1.
///
/// ```ignore
/// fn evaluate(request: &Request) -> Result<Decision, PolicyError> { ... }
/// policy_sdk::export_policy!(evaluate);
/// ```
///
/// It generates `policy_abi_version`, `policy_alloc`, `policy_free`,
/// `policy_evaluate`, `policy_metadata` (name, version and description from
/// the crate's `Cargo.toml`) and `policy_panic_response`. Natively it
/// generates nothing, so the same crate builds for unit tests and benchmarks.
#[macro_export]
macro_rules! export_policy {
    ($evaluate:path) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[unsafe(no_mangle)]
            extern "C" fn policy_abi_version() -> i32 {
                $crate::ABI_VERSION
            }
            #[unsafe(no_mangle)]
            extern "C" fn policy_alloc(len: i32) -> i32 {
                $crate::guest::alloc_export(len)
            }
            #[unsafe(no_mangle)]
            extern "C" fn policy_free(ptr: i32, len: i32) {
                $crate::guest::free_export(ptr, len)
            }
            #[unsafe(no_mangle)]
            extern "C" fn policy_evaluate(ptr: i32, len: i32) -> i64 {
                $crate::guest::evaluate_export(ptr, len, $evaluate)
            }
            #[unsafe(no_mangle)]
            extern "C" fn policy_metadata() -> i64 {
                $crate::guest::metadata_export(
                    env!("CARGO_PKG_NAME"),
                    env!("CARGO_PKG_VERSION"),
                    env!("CARGO_PKG_DESCRIPTION"),
                )
            }
            #[unsafe(no_mangle)]
            extern "C" fn policy_panic_response() -> i64 {
                $crate::guest::panic_response_export()
            }
        };
    };
}
