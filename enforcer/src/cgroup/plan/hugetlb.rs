//! The hugetlb controller: `hugetlb.<size>.limit_in_bytes` on v1,
//! `hugetlb.<size>.max` on v2, each with its optional `rsvd` twin.

use policy_sdk::HugepageLimit;

use super::{PlanError, Planner, Version};

impl Planner<'_> {
    /// Plans `resources.hugepageLimits`.
    pub(super) fn hugetlb(&mut self, limits: &[HugepageLimit]) -> Result<(), PlanError> {
        for (index, limit) in limits.iter().enumerate() {
            let field = format!("hugepageLimits[{index}]");
            let (mount, version) = self.hierarchy("hugetlb", &field)?;
            let size = &limit.page_size;
            let (file, rsvd) = match version {
                Version::V1 => (
                    format!("hugetlb.{size}.limit_in_bytes"),
                    format!("hugetlb.{size}.rsvd.limit_in_bytes"),
                ),
                Version::V2 => (
                    format!("hugetlb.{size}.max"),
                    format!("hugetlb.{size}.rsvd.max"),
                ),
            };
            let leaf = self.leaf(&mount, "hugetlb", version);
            // The reservation files are new in Linux 5.7: optional.
            self.push("hugetlb", leaf.join(file), limit.limit.to_string(), false);
            self.push("hugetlb", leaf.join(rsvd), limit.limit.to_string(), true);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Host, sample};

    #[test]
    fn hugetlb_files_on_v1_and_v2() {
        for (host, file, rsvd) in [
            (
                Host::V1,
                "hugetlb.2MB.limit_in_bytes",
                "hugetlb.2MB.rsvd.limit_in_bytes",
            ),
            (Host::V2, "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max"),
        ] {
            let plan = host.plan(&sample());
            host.expect_writes(&plan, "hugetlb", &[(file, "4194304"), (rsvd, "4194304")]);
            let leaf = host.leaf("hugetlb");
            assert!(
                plan.writes
                    .iter()
                    .any(|w| w.file == leaf.join(rsvd) && w.optional),
                "{host:?}: the reservation is optional"
            );
            assert!(
                plan.writes
                    .iter()
                    .any(|w| w.file == leaf.join(file) && !w.optional),
                "{host:?}: the limit is not"
            );
        }
    }
}
