//! The memory controller: `memory.limit_in_bytes` and friends on v1,
//! `memory.max`, `memory.low` and `memory.swap.max` on v2.

use policy_sdk::Memory;

use super::{PlanError, Planner, Version};

impl Planner<'_> {
    /// Plans `resources.memory`.
    pub(super) fn memory(&mut self, memory: &Memory) -> Result<(), PlanError> {
        let (mount, version) = self.hierarchy("memory", "memory")?;
        let leaf = self.leaf(&mount, "memory", version);
        let unsupported = |field: &str, version, why: &str| PlanError::Unsupported {
            field: format!("memory.{field}"),
            version,
            why: why.to_string(),
        };
        if memory.kernel.is_some() || memory.kernel_tcp.is_some() {
            return Err(unsupported(
                "kernel",
                version,
                "kernel memory limits are deprecated by Linux and not applied; remove the field",
            ));
        }
        match version {
            Version::V1 => {
                if let Some(limit) = memory.limit {
                    self.push(
                        "memory",
                        leaf.join("memory.limit_in_bytes"),
                        limit.to_string(),
                        false,
                    );
                }
                if let Some(swap) = memory.swap {
                    self.push(
                        "memory",
                        leaf.join("memory.memsw.limit_in_bytes"),
                        swap.to_string(),
                        false,
                    );
                }
                if let Some(reservation) = memory.reservation {
                    self.push(
                        "memory",
                        leaf.join("memory.soft_limit_in_bytes"),
                        reservation.to_string(),
                        false,
                    );
                }
                if let Some(swappiness) = memory.swappiness {
                    self.push(
                        "memory",
                        leaf.join("memory.swappiness"),
                        swappiness.to_string(),
                        false,
                    );
                }
                if memory.disable_oom_killer == Some(true) {
                    self.push("memory", leaf.join("memory.oom_control"), "1".into(), false);
                }
                if let Some(hierarchy) = memory.use_hierarchy {
                    self.push(
                        "memory",
                        leaf.join("memory.use_hierarchy"),
                        u8::from(hierarchy).to_string(),
                        false,
                    );
                }
            }
            Version::V2 => {
                let max = |value: i64| {
                    if value == -1 {
                        "max".to_string()
                    } else {
                        value.to_string()
                    }
                };
                if let Some(limit) = memory.limit {
                    self.push("memory", leaf.join("memory.max"), max(limit), false);
                }
                if let Some(reservation) = memory.reservation {
                    self.push("memory", leaf.join("memory.low"), max(reservation), false);
                }
                if let Some(swap) = memory.swap {
                    // OCI swap is memory plus swap; v2 limits swap alone.
                    let value = match (swap, memory.limit) {
                        (-1, _) => "max".to_string(),
                        (swap, Some(limit)) if limit >= 0 => (swap - limit).to_string(),
                        _ => {
                            return Err(unsupported(
                                "swap",
                                Version::V2,
                                "a swap limit needs a memory limit on cgroup v2",
                            ));
                        }
                    };
                    self.push("memory", leaf.join("memory.swap.max"), value, false);
                }
                if memory.swappiness.is_some() {
                    return Err(unsupported(
                        "swappiness",
                        Version::V2,
                        "cgroup v2 has no per-cgroup swappiness",
                    ));
                }
                if memory.disable_oom_killer == Some(true) {
                    return Err(unsupported(
                        "disableOOMKiller",
                        Version::V2,
                        "cgroup v2 cannot disable the OOM killer; use memory.high in `unified` to throttle instead",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use policy_sdk::{Memory, Resources};

    use super::super::testing::{Host, plan, position, sample};

    #[test]
    fn memory_files_on_v1_and_v2() {
        for (host, expected) in [
            (
                Host::V1,
                &[
                    ("memory.limit_in_bytes", "268435456"),
                    ("memory.memsw.limit_in_bytes", "268435456"),
                ][..],
            ),
            (
                Host::V2,
                &[
                    ("memory.max", "268435456"),
                    ("memory.swap.max", "0"), // OCI swap minus memory
                ],
            ),
        ] {
            host.expect_writes(&host.plan(&sample()), "memory", expected);
        }
    }

    #[test]
    fn the_v1_limit_goes_before_the_memsw_limit() {
        let plan = Host::V1.plan(&sample());
        assert!(
            position(&plan, "memory.limit_in_bytes")
                < position(&plan, "memory.memsw.limit_in_bytes")
        );
    }

    #[test]
    fn v1_only_memory_fields_are_refused_on_v2() {
        let resources = Resources {
            memory: Some(Memory {
                swappiness: Some(10),
                ..Memory::default()
            }),
            ..Resources::default()
        };
        let error = plan(&resources, &Host::V2.layout(), "enforcer", "job")
            .expect_err("no swappiness on v2");
        assert_eq!(
            error.to_string(),
            "resources.memory.swappiness is not supported on cgroup v2: cgroup v2 has no per-cgroup swappiness"
        );
    }
}
