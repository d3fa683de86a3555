//! The plan stage: where the decision's cgroups go on this host's layout
//! and what is written there, mounting missing controllers first when the
//! operator allows it. `run` and `eval --plan` both plan here; only `run`
//! mounts ([`Mounting::Mount`]), `eval` shows what it would mount
//! ([`Mounting::DryRun`]). The decision's seccomp profile is compiled
//! here too, so that a profile the enforcer cannot load fails before any
//! cgroup exists, and `eval --plan` shows its summary.

use std::path::Path;

use crate::cgroup::{self, CgroupLayout, CgroupPlan, MountedController};
use crate::decision::NormalDecision;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::seccomp::FilterStack;

/// What planning may do about controllers the host has not mounted.
#[derive(Debug, Clone, Copy)]
pub enum Mounting<'a> {
    /// Nothing: a missing controller fails the plan.
    Off,
    /// Mount them as v1 hierarchies under this directory
    /// (`--mount-controllers`).
    Mount(&'a Path),
    /// Plan as if they were mounted under this directory, mounting nothing
    /// (`eval --plan --mount-controllers`).
    DryRun(&'a Path),
}

/// A plan and what it was made on.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The directories to create and the files to write.
    pub plan: CgroupPlan,
    /// The layout the plan is for: the one given, or, after mounting, the
    /// host's as the mounts left it (for a dry run, as they would).
    pub layout: CgroupLayout,
    /// The hierarchies mounted for the plan (for a dry run, the ones `run`
    /// would mount).
    pub mounted: Vec<MountedController>,
    /// The system call filters, when the decision has a `seccomp` profile.
    pub seccomp: Option<FilterStack>,
}

/// Compiles `decision`'s seccomp profile. Names skipped because x86_64
/// lacks them (Docker's profile lists every architecture's) are only
/// counted in the summary; a name no architecture has (a typo such as
/// `keyclt`, which would leave that call to the default) is a warning.
pub fn seccomp(
    decision: &NormalDecision,
    diagnostics: &Diagnostics,
) -> anyhow::Result<Option<FilterStack>> {
    let Some(profile) = &decision.seccomp else {
        return Ok(None);
    };
    let stack = crate::seccomp::compile(profile)?;
    for name in &stack.summary.unknown_names {
        diagnostics.emit(Diagnostic::warning(format!(
            "seccomp: no architecture has a system call named \"{}\": its rule is skipped",
            crate::printable::escape(name)
        )));
    }
    Ok(Some(stack))
}

/// Plans `decision`'s resources for its `cgroupsPath` below `cgroup_root`
/// on `layout` (discovered once by the caller). A controller mounted here
/// is reported to `diagnostics` (`mounted the net_cls controller at ...`).
pub fn plan(
    decision: &NormalDecision,
    layout: CgroupLayout,
    cgroup_root: &str,
    mounting: Mounting<'_>,
    diagnostics: &Diagnostics,
) -> anyhow::Result<Planned> {
    let seccomp = seccomp(decision, diagnostics)?;
    let resources = &decision.resources;
    let cgroups_path = &decision.cgroups_path;
    let (base, dry_run) = match mounting {
        Mounting::Off => {
            let plan =
                cgroup::plan(resources, &layout, cgroup_root, cgroups_path).map_err(|error| {
                    anyhow::anyhow!("the decision cannot be applied on this host: {error}")
                })?;
            return Ok(Planned {
                plan,
                layout,
                mounted: Vec::new(),
                seccomp,
            });
        }
        Mounting::Mount(base) => (base, false),
        Mounting::DryRun(base) => (base, true),
    };
    let (plan, layout, mounted) =
        cgroup::plan_mounting_on(layout, resources, cgroup_root, cgroups_path, base, dry_run)?;
    if !dry_run {
        for hierarchy in &mounted {
            diagnostics.emit(Diagnostic::info(format!(
                "mounted the {} controller at {}",
                hierarchy.controller,
                hierarchy.mount_point.display()
            )));
        }
    }
    Ok(Planned {
        plan,
        layout,
        mounted,
        seccomp,
    })
}
