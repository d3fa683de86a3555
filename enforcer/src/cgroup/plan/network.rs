//! The net_cls and net_prio controllers, which exist only on v1:
//! `net_cls.classid` and `net_prio.ifpriomap`.

use policy_sdk::Network;

use super::{PlanError, Planner, Version};

impl Planner<'_> {
    /// Plans `resources.network`.
    pub(super) fn network(&mut self, network: &Network) -> Result<(), PlanError> {
        if let Some(class_id) = network.class_id {
            self.v1_only(
                "net_cls",
                "network.classID",
                "net_cls.classid",
                class_id.to_string(),
            )?;
        }
        for (index, priority) in network.priorities.iter().enumerate() {
            self.v1_only(
                "net_prio",
                &format!("network.priorities[{index}]"),
                "net_prio.ifpriomap",
                format!("{} {}", priority.name, priority.priority),
            )?;
        }
        Ok(())
    }

    /// One write of a file that exists only on v1; an error where the
    /// controller is on v2.
    fn v1_only(
        &mut self,
        controller: &str,
        field: &str,
        file: &str,
        value: String,
    ) -> Result<(), PlanError> {
        let (mount, version) = self.hierarchy(controller, field)?;
        if version == Version::V2 {
            return Err(PlanError::Unsupported {
                field: field.to_string(),
                version,
                why: format!("{controller} exists only on cgroup v1"),
            });
        }
        let leaf = self.leaf(&mount, controller, version);
        self.push(controller, leaf.join(file), value, false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use policy_sdk::Decision;

    use super::super::testing::{Host, plan};

    #[test]
    fn net_cls_on_v1_and_v2() {
        let resources = Decision::allow()
            .net_class_id(7)
            .resources
            .expect("resources");
        let v1 = Host::V1.plan(&resources);
        Host::V1.expect_writes(&v1, "net_cls", &[("net_cls.classid", "7")]);
        let mut layout = Host::V2.layout();
        if let Some(v2) = layout.v2.as_mut() {
            v2.controllers.push("net_cls".into());
            v2.enabled.push("net_cls".into());
        }
        let error = plan(&resources, &layout, "enforcer", "job").expect_err("no net_cls on v2");
        assert_eq!(
            error.to_string(),
            "resources.network.classID is not supported on cgroup v2: net_cls exists only on cgroup v1"
        );
    }

    #[test]
    fn a_controller_mounted_nowhere_is_named() {
        let resources = Decision::allow()
            .net_class_id(7)
            .resources
            .expect("resources");
        let mut layout = Host::V1.layout();
        layout.v1.retain(|h| h.controllers != ["net_cls"]);
        let error = plan(&resources, &layout, "enforcer", "job").expect_err("net_cls unmounted");
        assert!(
            error
                .to_string()
                .contains("enabled in the kernel but mounted nowhere"),
            "{error}"
        );
    }
}
