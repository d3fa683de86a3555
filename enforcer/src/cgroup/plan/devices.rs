//! Device access: the v1 devices controller's `devices.deny` and
//! `devices.allow` writes, or on v2 (and hybrid hosts without a v1 devices
//! hierarchy) an eBPF program attached to the cgroup2 leaf.

use policy_sdk::DeviceRule;

use super::super::{devices_bpf, devices_v1};
use super::{ControllerState, DeviceProgram, PlanError, Planner, Version};

impl Planner<'_> {
    /// Plans `resources.devices`.
    pub(super) fn devices(&mut self, devices: &[DeviceRule]) -> Result<(), PlanError> {
        match self.layout.controller_state("devices") {
            ControllerState::V1(mount) => {
                let leaf = self.leaf(&mount, "devices", Version::V1);
                let writes =
                    devices_v1::translate(devices).map_err(|why| PlanError::Unsupported {
                        field: "devices".into(),
                        version: Version::V1,
                        why: why.to_string(),
                    })?;
                for (file, value) in writes {
                    self.push("devices", leaf.join(file), value, false);
                }
                Ok(())
            }
            _ => {
                // On v2 device control is an eBPF program on the cgroup;
                // the unified hierarchy accepts one even in hybrid mode.
                let Some(v2) = &self.layout.v2 else {
                    return Err(PlanError::MissingController {
                        field: "devices".into(),
                        controller: "devices".into(),
                        why: "is mounted nowhere and there is no cgroup2 hierarchy for an eBPF device program".into(),
                    });
                };
                let mount = v2.mount_point.clone();
                self.directories(&mount, false);
                let instructions = devices_bpf::compile(devices)
                    .map_err(|why| PlanError::Unsupported {
                        field: "devices".into(),
                        version: Version::V2,
                        why: why.to_string(),
                    })?
                    .len();
                self.plan.device_program = Some(DeviceProgram {
                    cgroup: mount.join(&self.relative),
                    rules: devices.to_vec(),
                    instructions,
                });
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Host, sample};
    use super::super::{PlannedWrite, Value};

    #[test]
    fn v1_writes_deny_all_first_then_the_allows() {
        let plan = Host::V1.plan(&sample());
        let devices: Vec<&PlannedWrite> = plan
            .writes
            .iter()
            .filter(|w| w.controller == "devices")
            .collect();
        let leaf = Host::V1.leaf("devices");
        assert_eq!(devices[0].file, leaf.join("devices.deny"));
        assert_eq!(devices[0].value, Value::Literal("a".into()));
        assert_eq!(
            devices.last().map(|w| &w.value),
            Some(&Value::Literal("c 195:0 rw".into()))
        );
        assert!(plan.device_program.is_none());
    }

    #[test]
    fn v2_attaches_a_program_to_the_leaf() {
        let plan = Host::V2.plan(&sample());
        let program = plan
            .device_program
            .as_ref()
            .expect("a device program on v2");
        assert_eq!(program.cgroup, Host::V2.leaf("memory"));
        assert_eq!(program.rules, sample().devices);
        assert!(program.instructions > 10);
        assert!(plan.writes.iter().all(|w| w.controller != "devices"));
    }
}
