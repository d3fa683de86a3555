//! The [`export_policy!`](crate::export_policy) macro.

/// Exports a policy function as a Wasm module speaking ABI v1.
///
/// ```ignore
/// fn evaluate(request: &Request) -> Result<Decision, EvaluationError> { ... }
/// policy_sdk::export_policy!(evaluate);
/// ```
///
/// It generates `policy_abi_version`, `policy_alloc`, `policy_free`,
/// `policy_evaluate`, `policy_metadata` (name, version and description from
/// the crate's `Cargo.toml`) and `policy_panic_response`.
///
/// With `validate_settings = check` it also exports
/// `policy_validate_settings`, which the enforcer calls to check the
/// operator's settings before any request (`enforcer config check`,
/// `enforcer test`, `--settings`):
///
/// ```ignore
/// #[derive(serde::Deserialize)]
/// #[serde(default, rename_all = "camelCase", deny_unknown_fields)]
/// struct Settings { max_pids: u32 }
///
/// fn check_settings(settings: &Settings) -> Result<(), String> {
///     if settings.max_pids == 0 { return Err("maxPids must be at least 1".into()) }
///     Ok(())
/// }
/// policy_sdk::export_policy!(evaluate, validate_settings = check_settings);
/// ```
///
/// `check` is any `fn(&T) -> Result<(), E>` with `T: DeserializeOwned` and
/// `E: Display`; settings that do not parse as `T` are invalid with serde's
/// message, without calling it (see [`settings::validate`](crate::settings::validate)).
///
/// Natively it generates no exports, so the same crate builds for unit
/// tests and benchmarks; it only checks the functions' types there.
#[macro_export]
macro_rules! export_policy {
    (@exports $evaluate:path) => {
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = $crate::settings::check_evaluate($evaluate);
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[unsafe(no_mangle)]
            extern "C" fn policy_abi_version() -> i32 {
                $crate::abi::ABI_VERSION
            }
            #[unsafe(no_mangle)]
            extern "C" fn policy_alloc(len: i32) -> i32 {
                $crate::abi::guest::alloc_export(len)
            }
            #[unsafe(no_mangle)]
            extern "C" fn policy_free(ptr: i32, len: i32) {
                $crate::abi::guest::free_export(ptr, len)
            }
            #[unsafe(no_mangle)]
            extern "C" fn policy_evaluate(ptr: i32, len: i32) -> i64 {
                $crate::abi::guest::evaluate_export(ptr, len, $evaluate)
            }
            #[unsafe(no_mangle)]
            extern "C" fn policy_metadata() -> i64 {
                $crate::abi::guest::metadata_export(
                    env!("CARGO_PKG_NAME"),
                    env!("CARGO_PKG_VERSION"),
                    env!("CARGO_PKG_DESCRIPTION"),
                )
            }
            #[unsafe(no_mangle)]
            extern "C" fn policy_panic_response() -> i64 {
                $crate::abi::guest::panic_response_export()
            }
        };
    };
    ($evaluate:path $(,)?) => {
        $crate::export_policy!(@exports $evaluate);
    };
    ($evaluate:path, validate_settings = $validate:path $(,)?) => {
        $crate::export_policy!(@exports $evaluate);
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = $crate::settings::check_validate($validate);
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[unsafe(no_mangle)]
            extern "C" fn policy_validate_settings(ptr: i32, len: i32) -> i64 {
                $crate::abi::guest::validate_settings_export(ptr, len, $validate)
            }
        };
    };
}

#[cfg(test)]
mod tests {
    //! The macro with settings, expanded in this crate's tests: natively it
    //! only type-checks; in the `wasm32-wasip1` test build it defines the
    //! exports, which the tests below call as a host would.

    use crate::{Decision, EvaluationError, Request};

    #[derive(Debug, serde::Deserialize)]
    #[serde(default, rename_all = "camelCase", deny_unknown_fields)]
    struct Settings {
        max_pids: u32,
    }

    impl Default for Settings {
        fn default() -> Settings {
            Settings { max_pids: 64 }
        }
    }

    fn evaluate(request: &Request) -> Result<Decision, EvaluationError> {
        let settings: Settings = request.settings()?;
        Ok(Decision::allow().pids(settings.max_pids.into()))
    }

    fn check_settings(settings: &Settings) -> Result<(), String> {
        if settings.max_pids == 0 {
            return Err("maxPids must be at least 1".into());
        }
        Ok(())
    }

    crate::export_policy!(evaluate, validate_settings = check_settings,);

    #[test]
    fn the_functions_behave_natively() {
        let decision = evaluate(&crate::testing::request().build()).expect("decides");
        assert_eq!(decision.pids_limit(), Some(64));
        assert!(check_settings(&Settings { max_pids: 0 }).is_err());
    }

    #[cfg(target_arch = "wasm32")]
    mod in_wasm {
        use crate::abi::unpack_ptr_len;

        unsafe extern "C" {
            fn policy_alloc(len: i32) -> i32;
            fn policy_evaluate(ptr: i32, len: i32) -> i64;
            fn policy_validate_settings(ptr: i32, len: i32) -> i64;
        }

        /// Calls an export the way the enforcer does: input in a buffer
        /// from `policy_alloc`, output at the packed location.
        fn call(export: unsafe extern "C" fn(i32, i32) -> i64, input: &[u8]) -> String {
            // SAFETY: the exports above are this module's own, generated by
            // the macro; the buffer is `input.len()` bytes from
            // `policy_alloc`, and the result points at the SDK's output.
            unsafe {
                let ptr = policy_alloc(input.len() as i32);
                assert_ne!(ptr, 0);
                std::ptr::copy_nonoverlapping(input.as_ptr(), ptr as *mut u8, input.len());
                let (out, len) = unpack_ptr_len(export(ptr, input.len() as i32));
                let bytes = std::slice::from_raw_parts(out as *const u8, len as usize);
                String::from_utf8(bytes.to_vec()).expect("UTF-8")
            }
        }

        #[test]
        fn validate_settings_answers_valid_invalid_and_error() {
            assert_eq!(
                call(policy_validate_settings, br#"{"maxPids":8}"#),
                r#"{"valid":true}"#
            );
            assert_eq!(
                call(policy_validate_settings, br#"{"maxPids":0}"#),
                r#"{"valid":false,"message":"maxPids must be at least 1"}"#
            );
            let unknown = call(policy_validate_settings, br#"{"maxPid":8}"#);
            assert!(
                unknown.starts_with(r#"{"valid":false,"message":"unknown field `maxPid`"#),
                "{unknown}"
            );
            let error = call(policy_validate_settings, b"{nope");
            assert!(
                error.starts_with(r#"{"error":"invalid settings JSON: "#),
                "{error}"
            );
        }

        #[test]
        fn evaluate_reads_the_request_settings() {
            let allowed = call(
                policy_evaluate,
                br#"{"command":["sh"],"settings":{"maxPids":5}}"#,
            );
            assert!(allowed.contains(r#""pids":{"limit":5}"#), "{allowed}");
            let defaulted = call(policy_evaluate, br#"{"command":["sh"]}"#);
            assert!(defaulted.contains(r#""pids":{"limit":64}"#), "{defaulted}");
            let refused = call(
                policy_evaluate,
                br#"{"command":["sh"],"settings":{"maxPids":"x"}}"#,
            );
            assert!(
                refused.starts_with(r#"{"error":"invalid settings: invalid type"#),
                "{refused}"
            );
        }
    }
}
