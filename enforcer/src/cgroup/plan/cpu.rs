//! The cpu and cpuset controllers: `cpu.shares`, `cpu.cfs_*` and
//! `cpu.rt_*` on v1, `cpu.weight` (converted from shares) and `cpu.max` on
//! v2, and `cpuset.cpus`/`cpuset.mems` on both.

use policy_sdk::Cpu;

use super::{PlanError, PlannedWrite, Planner, Value, Version};

impl Planner<'_> {
    /// Plans `resources.cpu`.
    pub(super) fn cpu(&mut self, cpu: &Cpu) -> Result<(), PlanError> {
        if cpu.uses_cpu_controller() {
            self.cpu_bandwidth(cpu)?;
        }
        if cpu.cpus.is_some() || cpu.mems.is_some() {
            self.cpuset(cpu)?;
        }
        Ok(())
    }

    /// The cpu controller's files: weight, bandwidth, real-time, idle.
    fn cpu_bandwidth(&mut self, cpu: &Cpu) -> Result<(), PlanError> {
        let (mount, version) = self.hierarchy("cpu", "cpu")?;
        let leaf = self.leaf(&mount, "cpu", version);
        match version {
            Version::V1 => {
                let files = [
                    ("cpu.shares", cpu.shares.map(|shares| shares.to_string())),
                    // The period first: the kernel checks a quota against it.
                    ("cpu.cfs_period_us", cpu.period.map(|p| p.to_string())),
                    ("cpu.cfs_quota_us", cpu.quota.map(|q| q.to_string())),
                    ("cpu.cfs_burst_us", cpu.burst.map(|b| b.to_string())),
                    (
                        "cpu.rt_period_us",
                        cpu.realtime_period.map(|p| p.to_string()),
                    ),
                    (
                        "cpu.rt_runtime_us",
                        cpu.realtime_runtime.map(|r| r.to_string()),
                    ),
                ];
                for (file, value) in files {
                    if let Some(value) = value {
                        self.push("cpu", leaf.join(file), value, false);
                    }
                }
            }
            Version::V2 => {
                if let Some(weight) = cpu.shares.map(shares_to_weight).filter(|&w| w != 0) {
                    self.push("cpu", leaf.join("cpu.weight"), weight.to_string(), false);
                }
                if cpu.quota.is_some() || cpu.period.is_some() {
                    let quota = match cpu.quota {
                        Some(quota) if quota >= 0 => quota.to_string(),
                        _ => "max".to_string(),
                    };
                    let period = cpu.period.unwrap_or(100_000);
                    self.push(
                        "cpu",
                        leaf.join("cpu.max"),
                        format!("{quota} {period}"),
                        false,
                    );
                }
                if let Some(burst) = cpu.burst {
                    self.push("cpu", leaf.join("cpu.max.burst"), burst.to_string(), false);
                }
                if cpu.realtime_runtime.is_some() || cpu.realtime_period.is_some() {
                    return Err(PlanError::Unsupported {
                        field: "cpu.realtimeRuntime".into(),
                        version: Version::V2,
                        why: "cgroup v2 has no real-time bandwidth control".into(),
                    });
                }
            }
        }
        if let Some(idle) = cpu.idle {
            self.push("cpu", leaf.join("cpu.idle"), idle.to_string(), false);
        }
        Ok(())
    }

    /// `cpuset.cpus` and `cpuset.mems`; on v1 an unset one is copied from
    /// the parent (a new v1 cpuset starts empty), on v2 it is inherited.
    fn cpuset(&mut self, cpu: &Cpu) -> Result<(), PlanError> {
        let (mount, version) = self.hierarchy("cpuset", "cpu.cpus")?;
        let leaf = self.leaf(&mount, "cpuset", version);
        for (file, value) in [("cpuset.cpus", &cpu.cpus), ("cpuset.mems", &cpu.mems)] {
            let value = match (value, version) {
                (Some(list), _) => Value::Literal(list.clone()),
                (None, Version::V2) => continue,
                (None, Version::V1) => Value::CopyFromParent,
            };
            self.plan.writes.push(PlannedWrite {
                controller: "cpuset".into(),
                file: leaf.join(file),
                value,
                optional: false,
                fallback: None,
            });
        }
        Ok(())
    }
}

/// v1 `cpu.shares` (2–262144, default 1024) to v2 `cpu.weight` (1–10000,
/// default 100), as runc (since 1.3.2) and crun (since 1.23) convert it:
/// with `l = log2(shares)`, `weight = ⌈10^((l² + 125·l) / 612 − 7/34)⌉`,
/// the quadratic in `l` through (2, 1), (1024, 100) and (262144, 10000);
/// at most 2 shares give 1, at least 262144 give 10000, and 0 (unset)
/// gives 0 (nothing to write).
pub fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        _ => {
            let l = (shares as f64).log2();
            let weight = 10f64.powf((l * l + 125.0 * l) / 612.0 - 7.0 / 34.0);
            // Only 1024 shares give a whole number (100), which rounding
            // up must not turn into 101 over a last-bit error of `powf`;
            // every other result is at least 2e-6 from a whole number, far
            // beyond any libm's error, so all implementations agree.
            let nearest = weight.round();
            if (weight - nearest).abs() < 1e-9 {
                nearest as u64
            } else {
                weight.ceil() as u64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::testing::{Host, ROOT, copy, expect_writes, position, sample};
    use super::*;

    #[test]
    fn cpu_files_on_v1_and_v2() {
        for (host, expected) in [
            (
                Host::V1,
                &[("cpu.shares", "512"), ("cpu.cfs_quota_us", "50000")][..],
            ),
            (
                Host::V2,
                &[("cpu.weight", "59"), ("cpu.max", "50000 100000")], // 512 shares
            ),
        ] {
            host.expect_writes(&host.plan(&sample()), "cpu", expected);
        }
    }

    #[test]
    fn cpuset_files_on_v1_and_v2() {
        for (host, expected) in [
            (
                Host::V1,
                &[("cpuset.cpus", "0"), ("cpuset.mems", copy())][..],
            ),
            (Host::V2, &[("cpuset.cpus", "0")]),
        ] {
            host.expect_writes(&host.plan(&sample()), "cpuset", expected);
        }
        // Every new v1 cpuset level is initialised.
        let plan = Host::V1.plan(&sample());
        expect_writes(
            &plan,
            &[(Path::new(ROOT).join("cpuset/enforcer/cpuset.cpus"), copy())],
        );
    }

    #[test]
    fn the_v1_period_goes_before_the_quota() {
        let plan = Host::V1.plan(&sample());
        assert!(position(&plan, "cpu.cfs_period_us") < position(&plan, "cpu.cfs_quota_us"));
    }

    #[test]
    fn shares_convert_to_weight_as_runc_and_crun_do() {
        // The points of runc's own table (TestConvertCPUSharesToCgroupV2Value):
        // unset, below the minimum, the minimum, just above it, the
        // default, just below the maximum, the maximum, above it.
        for (shares, weight) in [
            (0, 0),
            (1, 1),
            (2, 1),
            (3, 2),
            (1024, 100),
            (262_143, 10_000),
            (262_144, 10_000),
            (262_145, 10_000),
        ] {
            assert_eq!(shares_to_weight(shares), weight, "{shares} shares");
        }
        // Points between, from the same formula evaluated with C's libm.
        for (shares, weight) in [
            (4, 2),
            (10, 4),
            (100, 17),
            (512, 59),
            (1000, 99),
            (2048, 174),
            (4096, 303),
            (10_000, 627),
            (100_000, 4340),
        ] {
            assert_eq!(shares_to_weight(shares), weight, "{shares} shares");
        }
        // Monotonic over the whole range, and inside the v2 bounds.
        let mut last = 1;
        for shares in 2..=262_144 {
            let weight = shares_to_weight(shares);
            assert!((last..=10_000).contains(&weight), "{shares}: {weight}");
            last = weight;
        }
    }
}
