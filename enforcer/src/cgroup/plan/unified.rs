//! `resources.unified`: raw cgroup2 files, written as given to the leaf;
//! refused where the controller they name is on a v1 hierarchy.

use std::collections::BTreeMap;

use super::{PlanError, Planner, Version};

impl Planner<'_> {
    /// Plans `resources.unified`.
    pub(super) fn unified(&mut self, unified: &BTreeMap<String, String>) -> Result<(), PlanError> {
        for (key, value) in unified {
            let field = format!("unified[{key:?}]");
            let controller = key.split('.').next().unwrap_or(key);
            let (mount, version) = self.hierarchy(controller, &field)?;
            if version == Version::V1 {
                return Err(PlanError::Unsupported {
                    field,
                    version,
                    why: format!(
                        "{controller} is on a v1 hierarchy here; raw unified files need it on cgroup2"
                    ),
                });
            }
            let leaf = self.leaf(&mount, controller, version);
            self.push(controller, leaf.join(key), value.clone(), false);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use policy_sdk::Resources;

    use super::super::testing::{Host, plan};

    fn memory_high() -> Resources {
        Resources {
            unified: [("memory.high".to_string(), "1000000".to_string())].into(),
            ..Resources::default()
        }
    }

    #[test]
    fn raw_files_go_to_the_v2_leaf() {
        let plan = Host::V2.plan(&memory_high());
        Host::V2.expect_writes(&plan, "memory", &[("memory.high", "1000000")]);
    }

    #[test]
    fn raw_files_are_refused_on_v1() {
        let error =
            plan(&memory_high(), &Host::V1.layout(), "enforcer", "job").expect_err("v1 memory");
        assert_eq!(
            error.to_string(),
            "resources.unified[\"memory.high\"] is not supported on cgroup v1: memory is on a v1 hierarchy here; raw unified files need it on cgroup2"
        );
    }
}
