//! The pids controller: `pids.max`, the same file on v1 and v2.

use policy_sdk::Pids;

use super::{PlanError, Planner};

impl Planner<'_> {
    /// Plans `resources.pids`.
    pub(super) fn pids(&mut self, pids: &Pids) -> Result<(), PlanError> {
        let value = if pids.limit == -1 {
            "max".to_string()
        } else {
            pids.limit.to_string()
        };
        let (mount, version) = self.hierarchy("pids", "pids.limit")?;
        let leaf = self.leaf(&mount, "pids", version);
        self.push("pids", leaf.join("pids.max"), value, false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Host, sample};

    #[test]
    fn pids_files_on_v1_and_v2() {
        for host in [Host::V1, Host::V2] {
            host.expect_writes(&host.plan(&sample()), "pids", &[("pids.max", "64")]);
        }
    }
}
