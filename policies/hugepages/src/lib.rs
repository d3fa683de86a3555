//! Grants a hugetlb allowance from labels, capped by the host.
//!
//! `hugepages.2MB=<pages>` and `hugepages.1GB=<pages>` ask for that many
//! pages. The grant is the smallest of: the pages asked for, the pages the
//! host has reserved in that pool (`nr_hugepages`), and a quarter of the
//! host's memory. Page sizes the host lacks are refused; every size not
//! asked for is limited to zero.

use policy_sdk::units::parse_page_size;
use policy_sdk::{Decision, EvaluationError, MIB, Request, export_policy, log};

/// Label prefix: `hugepages.<size>`.
pub const LABEL_PREFIX: &str = "hugepages.";

/// Evaluates a request.
pub fn evaluate(request: &Request) -> Result<Decision, EvaluationError> {
    let host = &request.host;
    let mut decision = Decision::allow()
        .standard_namespaces()
        .memory_limit(1024 * MIB)
        .pids(256)
        .default_devices()
        .no_hugepages(&host.hugepage_sizes)
        .unprivileged(request.user.uid, request.user.gid);
    let mut granted = Vec::new();
    for (key, value) in &request.labels {
        let Some(size) = key.strip_prefix(LABEL_PREFIX) else {
            continue;
        };
        let Some(page_bytes) = parse_page_size(size) else {
            return Ok(Decision::deny(format!(
                "label {key}: {size:?} is not a page size such as 2MB or 1GB"
            )));
        };
        if !host.has_hugepage_size(size) {
            return Ok(Decision::deny(format!(
                "label {key}: this host has no {size} hugepages (it has: {})",
                host.hugepage_sizes.join(", ")
            )));
        }
        let Ok(asked) = value.parse::<u64>() else {
            return Ok(Decision::deny(format!(
                "label {key}={value:?} must be a number of pages"
            )));
        };
        let pool = host.hugepage_pools.get(size).copied().unwrap_or(0);
        let by_memory = host.memory_bytes / 4 / page_bytes;
        let pages = asked.min(pool).min(by_memory);
        if pages < asked {
            log!(Warn: "{key}: asked {asked} pages, granting {pages} (pool {pool}, memory cap {by_memory})");
        }
        decision = decision.hugepage_limit(size, pages * page_bytes);
        granted.push(format!("{pages}x{size}"));
    }
    let reason = if granted.is_empty() {
        "no hugepages requested".to_string()
    } else {
        format!("hugepages: {}", granted.join(", "))
    };
    Ok(decision.reason(reason))
}

export_policy!(evaluate);

#[cfg(test)]
mod tests {
    use super::*;
    use policy_sdk::GIB;
    use policy_sdk::testing::{assert_allowed, assert_denied, request};

    #[test]
    fn no_label_means_no_hugepages() {
        let decision = assert_allowed(evaluate(&request().build()));
        assert_eq!(decision.hugepage_limit_bytes("2MB"), Some(0));
        assert_eq!(decision.hugepage_limit_bytes("1GB"), Some(0));
    }

    #[test]
    fn grants_what_is_asked_within_the_pool() {
        let decision = assert_allowed(evaluate(&request().label("hugepages.2MB", "16").build()));
        assert_eq!(decision.hugepage_limit_bytes("2MB"), Some(32 * MIB));
        assert_eq!(decision.hugepage_limit_bytes("1GB"), Some(0));
    }

    #[test]
    fn caps_by_pool_and_memory() {
        let pool = request()
            .label("hugepages.2MB", "10000")
            .host_hugepage_pool("2MB", 8)
            .build();
        assert_eq!(
            assert_allowed(evaluate(&pool)).hugepage_limit_bytes("2MB"),
            Some(16 * MIB)
        );
        let memory = request()
            .label("hugepages.1GB", "2")
            .host_memory(4 * GIB)
            .build();
        assert_eq!(
            assert_allowed(evaluate(&memory)).hugepage_limit_bytes("1GB"),
            Some(GIB)
        );
    }

    #[test]
    fn refuses_sizes_the_host_lacks_and_bad_values() {
        let no_gb = request()
            .host_hugepage_sizes(&["2MB"])
            .label("hugepages.1GB", "1")
            .build();
        assert_denied(evaluate(&no_gb), "no 1GB hugepages");
        assert_denied(
            evaluate(&request().label("hugepages.2MB", "lots").build()),
            "number of pages",
        );
        assert_denied(
            evaluate(&request().label("hugepages.3XB", "1").build()),
            "not a page size",
        );
    }
}
