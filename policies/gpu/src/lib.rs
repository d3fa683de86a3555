//! Grants NVIDIA GPUs to allow-listed tenants that ask for them.
//!
//! Every workload gets the OCI default devices. A request labelled
//! `gpu=<count>` (or `gpu=all`) from a tenant in [`GPU_TENANTS`] also gets
//! `/dev/nvidiactl`, `/dev/nvidia-modeset`, `/dev/nvidia0` ..
//! `/dev/nvidia<count-1>` (character major 195) and `/dev/nvidia-uvm` and
//! `/dev/nvidia-uvm-tools` (a dynamic major, looked up in the host's
//! `/proc/devices`). Other tenants asking for a GPU are denied.

use policy_sdk::{Decision, DeviceRule, EvaluationError, MIB, Request, export_policy, log};

/// Tenants allowed to use GPUs.
pub const GPU_TENANTS: [&str; 2] = ["ml-research", "vision"];
/// The NVIDIA driver's fixed character major.
pub const NVIDIA_MAJOR: i64 = 195;
/// Minor of `/dev/nvidiactl`.
pub const NVIDIACTL_MINOR: i64 = 255;
/// Minor of `/dev/nvidia-modeset`.
pub const NVIDIA_MODESET_MINOR: i64 = 254;
/// Most GPUs one request may get.
pub const MAX_GPUS: i64 = 16;
/// Memory limit for GPU and non-GPU workloads alike.
pub const MEMORY_LIMIT: u64 = 4096 * MIB;

/// Evaluates a request.
pub fn evaluate(request: &Request) -> Result<Decision, EvaluationError> {
    let tenant = request.tenant.as_deref().unwrap_or("");
    let base = Decision::allow()
        .standard_namespaces()
        .memory_limit(MEMORY_LIMIT)
        .pids(1024)
        .default_devices()
        .unprivileged(request.user.uid, request.user.gid);
    let Some(wanted) = request.label("gpu") else {
        return Ok(base.reason("no GPU requested"));
    };
    let count = match wanted {
        "all" | "true" => MAX_GPUS,
        number => match number.parse::<i64>() {
            Ok(count) if (0..=MAX_GPUS).contains(&count) => count,
            _ => {
                return Ok(Decision::deny(format!(
                    "label gpu={number:?} must be \"all\" or a count from 0 to {MAX_GPUS}"
                )));
            }
        },
    };
    if count == 0 {
        return Ok(base.reason("zero GPUs requested"));
    }
    if !GPU_TENANTS.contains(&tenant) {
        return Ok(Decision::deny(format!(
            "tenant {tenant:?} is not allowed to use GPUs"
        )));
    }
    let mut decision = base
        .reason(format!("{count} GPU(s) for tenant {tenant}"))
        .append_device_rule(DeviceRule::allow_char(
            NVIDIA_MAJOR,
            Some(NVIDIACTL_MINOR),
            "rw",
        ))
        .append_device_rule(DeviceRule::allow_char(
            NVIDIA_MAJOR,
            Some(NVIDIA_MODESET_MINOR),
            "rw",
        ));
    for minor in 0..count {
        decision =
            decision.append_device_rule(DeviceRule::allow_char(NVIDIA_MAJOR, Some(minor), "rw"));
    }
    match request.host.char_devices.get("nvidia-uvm") {
        Some(&major) => {
            decision =
                decision.append_device_rule(DeviceRule::allow_char(i64::from(major), None, "rw"));
        }
        None => log!(Warn: "host has no nvidia-uvm driver; CUDA will not find /dev/nvidia-uvm"),
    }
    Ok(decision)
}

export_policy!(evaluate);

#[cfg(test)]
mod tests {
    use super::*;
    use policy_sdk::DeviceType;
    use policy_sdk::testing::{
        assert_allowed, assert_denied, assert_device_denied, assert_device_permitted, request,
    };

    #[test]
    fn no_label_means_default_devices_only() {
        let decision = assert_allowed(evaluate(&request().tenant("vision").build()));
        assert_device_denied(&decision, DeviceType::Char, NVIDIA_MAJOR, 0, "r");
        assert_device_permitted(&decision, DeviceType::Char, 1, 3, "rw");
    }

    #[test]
    fn allow_listed_tenant_gets_the_asked_gpus_and_control_devices() {
        let decision = assert_allowed(evaluate(
            &request()
                .tenant("ml-research")
                .label("gpu", "2")
                .host_char_device("nvidia-uvm", 510)
                .build(),
        ));
        assert_device_permitted(&decision, DeviceType::Char, NVIDIA_MAJOR, 0, "rw");
        assert_device_permitted(&decision, DeviceType::Char, NVIDIA_MAJOR, 1, "rw");
        assert_device_denied(&decision, DeviceType::Char, NVIDIA_MAJOR, 2, "r");
        assert_device_permitted(&decision, DeviceType::Char, NVIDIA_MAJOR, 255, "rw");
        assert_device_permitted(&decision, DeviceType::Char, 510, 0, "rw");
        assert_device_denied(&decision, DeviceType::Char, NVIDIA_MAJOR, 0, "m");
        assert_device_permitted(&decision, DeviceType::Char, 1, 5, "rw");
    }

    #[test]
    fn other_tenants_are_denied() {
        assert_denied(
            evaluate(&request().tenant("acme").label("gpu", "1").build()),
            "not allowed to use GPUs",
        );
        assert_denied(
            evaluate(&request().label("gpu", "all").no_tenant().build()),
            "not allowed",
        );
    }

    #[test]
    fn bad_counts_are_denied() {
        for bad in ["-1", "17", "many"] {
            assert_denied(
                evaluate(&request().tenant("vision").label("gpu", bad).build()),
                "must be",
            );
        }
    }

    #[test]
    fn without_uvm_driver_no_uvm_device() {
        let decision = assert_allowed(evaluate(
            &request().tenant("vision").label("gpu", "all").build(),
        ));
        assert_device_permitted(&decision, DeviceType::Char, NVIDIA_MAJOR, 15, "rw");
        assert_device_denied(&decision, DeviceType::Char, 510, 0, "r");
    }
}
