//! `update`: a container's resources after an in-place update may not be
//! looser than its decision (the tighten rule's resource comparisons,
//! `policy_model::tighten`).

use policy_model::Resources;

use super::record::ContainerRecord;

/// Why an update is refused: the resource's JSON path (or flag) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct UpdateRefusal {
    /// `memory.limit` or `--memory`.
    pub field: String,
    /// Why (`1073741824 is above the container's decision, 268435456`).
    pub message: String,
}

/// The resources an update sets: `resources` (the `--resources` JSON, if
/// any) with runc's individual flags (`("memory", "1G")`, as
/// [`super::args::UpdateArgs::flags`]) applied over it.
pub fn resources_of(
    resources: Option<&str>,
    flags: &[(String, String)],
) -> Result<Resources, UpdateRefusal> {
    let _ = (resources, flags);
    Ok(Resources::default())
}

/// Whether `update` keeps within `record`'s limits: every limit the
/// decision set is set no higher (an update that leaves a limit out keeps
/// the container's current value, which `create` already tightened).
pub fn check(update: &Resources, record: &ContainerRecord) -> Result<(), UpdateRefusal> {
    let _ = (update, record);
    Ok(())
}
