//! Whether a valid decision can be applied on a host: every cgroup field it
//! sets needs a controller the host offers to the enforcer (the
//! `host.controllers` list: mounted v1 controllers and the v2 controllers
//! enabled for the root's children), on a hierarchy whose version has the
//! field. The enforcer's plan is the final word on the real machine; this
//! check answers the same question from host facts alone, with the plan's
//! rules, so a policy's unit tests and `enforcer test --plan` can ask it
//! for host shapes they do not run on.
//!
//! Like the plan, it looks only at what a fresh cgroup does not already
//! have ([`NormalResources::changes`]): an unlimited limit needs no
//! controller. Which field needs which controller:
//!
//! | field | controller | only on |
//! |---|---|---|
//! | `memory` | `memory` | (`swappiness`, `disableOOMKiller`: v1) |
//! | `cpu` shares, quota, period, burst, realtime, idle | `cpu` | (realtime: v1) |
//! | `cpu.cpus`, `cpu.mems` | `cpuset` | |
//! | `pids` | `pids` | |
//! | `blockIO` | `blkio` (v1) or `io` (v2) | (`leafWeight`: v1) |
//! | `hugepageLimits` | `hugetlb` | |
//! | `network.classID`, `network.priorities` | `net_cls`, `net_prio` | v1 |
//! | `devices` | `devices` on v1, else an eBPF program on cgroup2 (no controller) | |
//! | `unified` | the key's controller (`memory.high`: `memory`) | v2 |

use crate::decision::Decision;
use crate::host::{CgroupMode, Host};
use crate::normal::NormalResources;
use crate::{BlockIo, Cpu, Memory, Resources};

#[cfg(test)]
mod tests;

/// A field of a decision that the host cannot apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inapplicable {
    /// The field's path (`resources.hugepageLimits[0]`).
    pub field: String,
    /// Why (`needs the hugetlb controller, which this host does not offer
    /// (host.controllers: cpu, memory, pids)`).
    pub message: String,
}

impl std::fmt::Display for Inapplicable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} {}", self.field, self.message)
    }
}

impl std::error::Error for Inapplicable {}

/// `Err` with the first field of `decision` (validated) that `host` cannot
/// apply, in the order the enforcer plans them (memory, cpu, cpuset, pids,
/// blockIO, hugepageLimits, network, devices, unified). A host whose
/// `cgroup_mode` is unknown is not checked (nothing is known about it); a
/// denial needs nothing.
pub fn check_applicable(decision: &Decision, host: &Host) -> Result<(), Inapplicable> {
    if host.cgroup_mode == CgroupMode::Unknown || !decision.allow {
        return Ok(());
    }
    let Some(resources) = &decision.resources else {
        return Ok(());
    };
    let changes = NormalResources::from_oci(resources).changes();
    Checker { host }.resources(&changes)
}

/// The version of the hierarchy holding a controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

impl std::fmt::Display for Version {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        })
    }
}

type Checked = Result<(), Inapplicable>;

struct Checker<'a> {
    host: &'a Host,
}

impl Checker<'_> {
    fn resources(&self, resources: &Resources) -> Checked {
        if let Some(memory) = &resources.memory {
            self.memory(memory)?;
        }
        if let Some(cpu) = &resources.cpu {
            self.cpu(cpu)?;
        }
        if resources.pids.is_some() {
            self.hierarchy("pids", "resources.pids.limit", "a pids limit")?;
        }
        if let Some(block_io) = &resources.block_io {
            self.block_io(block_io)?;
        }
        for index in 0..resources.hugepage_limits.len() {
            self.hierarchy(
                "hugetlb",
                &format!("resources.hugepageLimits[{index}]"),
                "hugepage limits",
            )?;
        }
        if let Some(network) = &resources.network {
            if network.class_id.is_some() {
                self.v1_only("net_cls", "resources.network.classID", "a network class id")?;
            }
            for index in 0..network.priorities.len() {
                self.v1_only(
                    "net_prio",
                    &format!("resources.network.priorities[{index}]"),
                    "network priorities",
                )?;
            }
        }
        if !resources.devices.is_empty() {
            self.devices()?;
        }
        for key in resources.unified.keys() {
            self.unified(key)?;
        }
        Ok(())
    }

    /// The version of the hierarchy holding `controller`, or `None` when
    /// the host does not offer it.
    fn version(&self, controller: &str) -> Option<Version> {
        let host = self.host;
        if !host.has_controller(controller) {
            return None;
        }
        Some(match host.cgroup_mode {
            CgroupMode::V2 => Version::V2,
            CgroupMode::Hybrid if host.v2_controllers.iter().any(|name| name == controller) => {
                Version::V2
            }
            _ => Version::V1,
        })
    }

    /// Like the plan's `hierarchy`: the version holding `controller`, or
    /// an error at `field` naming what is missing and the guard that
    /// avoids it (`what` is the limit, for the guard's text).
    fn hierarchy(
        &self,
        controller: &str,
        field: &str,
        what: &str,
    ) -> Result<Version, Inapplicable> {
        self.version(controller).ok_or_else(|| Inapplicable {
            field: field.to_string(),
            message: format!(
                "needs the {controller} controller, which this host does not offer (host.controllers: {}); guard it: only set {what} when request.host.controllers contains {controller:?}",
                self.offered()
            ),
        })
    }

    fn offered(&self) -> String {
        if self.host.controllers.is_empty() {
            "none".to_string()
        } else {
            self.host.controllers.join(", ")
        }
    }

    fn memory(&self, memory: &Memory) -> Checked {
        let version = self.hierarchy("memory", "resources.memory", "memory limits")?;
        if memory.kernel.is_some() || memory.kernel_tcp.is_some() {
            return unsupported(
                "resources.memory.kernel",
                version,
                "kernel memory limits are deprecated by Linux and not applied; remove the field",
            );
        }
        if version == Version::V2 {
            if memory.swap.is_some_and(|swap| swap != -1)
                && memory.limit.is_none_or(|limit| limit < 0)
            {
                return unsupported(
                    "resources.memory.swap",
                    version,
                    "a swap limit needs a memory limit on cgroup v2",
                );
            }
            if memory.swappiness.is_some() {
                return unsupported(
                    "resources.memory.swappiness",
                    version,
                    "cgroup v2 has no per-cgroup swappiness",
                );
            }
            if memory.disable_oom_killer == Some(true) {
                return unsupported(
                    "resources.memory.disableOOMKiller",
                    version,
                    "cgroup v2 cannot disable the OOM killer; use memory.high in `unified` to throttle instead",
                );
            }
        }
        Ok(())
    }

    fn cpu(&self, cpu: &Cpu) -> Checked {
        if cpu.uses_cpu_controller() {
            let version = self.hierarchy("cpu", "resources.cpu", "cpu limits")?;
            if version == Version::V2
                && (cpu.realtime_runtime.is_some() || cpu.realtime_period.is_some())
            {
                return unsupported(
                    "resources.cpu.realtimeRuntime",
                    version,
                    "cgroup v2 has no real-time bandwidth control",
                );
            }
        }
        if cpu.cpus.is_some() || cpu.mems.is_some() {
            self.hierarchy("cpuset", "resources.cpu.cpus", "cpu or memory node lists")?;
        }
        Ok(())
    }

    /// `blkio` where it is on v1, else `io` where it is on cgroup2.
    fn block_io(&self, block_io: &BlockIo) -> Checked {
        let controller = match (self.version("blkio"), self.version("io")) {
            (Some(Version::V1), _) => "blkio",
            (_, Some(Version::V2)) => "io",
            _ if self.host.cgroup_mode == CgroupMode::V2 => "io",
            _ => "blkio",
        };
        let version = self.hierarchy(controller, "resources.blockIO", "block I/O limits")?;
        if version == Version::V2 && block_io.leaf_weight.is_some() {
            return unsupported(
                "resources.blockIO.leafWeight",
                version,
                "leaf weights existed only in the v1 CFQ scheduler",
            );
        }
        Ok(())
    }

    fn v1_only(&self, controller: &str, field: &str, what: &str) -> Checked {
        let version = self.hierarchy(controller, field, what)?;
        if version == Version::V2 {
            return unsupported(
                field,
                version,
                &format!("{controller} exists only on cgroup v1"),
            );
        }
        Ok(())
    }

    /// The v1 devices controller, else an eBPF program on cgroup2.
    fn devices(&self) -> Checked {
        let on_v1 = self.version("devices") == Some(Version::V1);
        let has_cgroup2 = matches!(self.host.cgroup_mode, CgroupMode::V2 | CgroupMode::Hybrid);
        if on_v1 || has_cgroup2 {
            return Ok(());
        }
        Err(Inapplicable {
            field: "resources.devices".into(),
            message: format!(
                "needs the devices controller, which this host does not offer (host.controllers: {}), and there is no cgroup2 hierarchy for an eBPF device program; guard it: only set device rules when request.host.controllers contains \"devices\" or request.host.cgroupMode is not \"v1\"",
                self.offered()
            ),
        })
    }

    fn unified(&self, key: &str) -> Checked {
        let field = format!("resources.unified[{key:?}]");
        let controller = key.split('.').next().unwrap_or(key);
        let version = self.hierarchy(controller, &field, "raw unified files")?;
        if version == Version::V1 {
            return unsupported(
                &field,
                version,
                &format!(
                    "{controller} is on a v1 hierarchy here; raw unified files need it on cgroup2; guard it: only set them when request.host.cgroupMode is \"v2\", or \"hybrid\" with request.host.v2Controllers containing {controller:?}"
                ),
            );
        }
        Ok(())
    }
}

/// The plan's `Unsupported`: the field has no equivalent on `version`.
fn unsupported(field: &str, version: Version, why: &str) -> Checked {
    Err(Inapplicable {
        field: field.to_string(),
        message: format!("is not supported on cgroup {version}: {why}"),
    })
}
