//! Whether a chain's decision can be applied where it would run, and if
//! not, which policy's decision first made it so: what `eval` and
//! `enforcer test --plan` check before they call a decision good, and what
//! `run` says when its plan fails.
//!
//! The final decision is checked first; only when it fails are the links
//! walked (each enforcing link that allowed, in chain order, its decision
//! normalised again and checked the same way), so an applicable decision
//! costs one plan. The first link whose own decision fails is blamed: the
//! decisions only tighten down the chain, so that is the policy that
//! introduced the field.

use std::path::PathBuf;

use policy_sdk::{Decision, Request};

use crate::cgroup::{self, CgroupLayout};
use crate::decision::{NormalDecision, normalize};
use crate::evaluation::{Evaluation, LinkReport, LinkResult, Mode, Outcome, context};

/// A decision that cannot be applied, with the policy to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy {policy}: its decision cannot be applied on {host}: {message}")]
pub struct InapplicableDecision {
    /// The policy (its label in the chain, as `LinkReport::policy`) whose
    /// decision first could not be applied.
    pub policy: String,
    /// `this host`, or `the request's host` for a host given in the request.
    pub host: String,
    /// What cannot be applied and why (the field's path first).
    pub message: String,
}

/// Where the decision would be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// This machine: the real cgroup plan on its discovered layout.
    ThisMachine,
    /// The host facts in `request.host` (a golden case's or a request
    /// file's `host`), checked with `policy_model::check_applicable`.
    RequestHost,
}

/// `host` of an [`InapplicableDecision`] on this machine.
pub const THIS_HOST: &str = "this host";
/// `host` of an [`InapplicableDecision`] on `request.host`.
pub const REQUEST_HOST: &str = "the request's host";

/// The policy blamed when no single link's decision fails but the final
/// one does (it cannot happen while decisions only tighten; said rather
/// than guessed).
const THE_CHAIN: &str = "chain";

/// This machine as `run` would plan on it.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The cgroup layout (discovered once by the caller).
    pub layout: CgroupLayout,
    /// The cgroup root (`--cgroup-root`, the config's, else `enforcer`).
    pub cgroup_root: String,
    /// Where `run --mount-controllers` would mount a missing controller
    /// (planned as a dry run: nothing is mounted); `None`: off.
    pub mount_controllers: Option<PathBuf>,
}

impl Machine {
    /// This machine, discovered now, with the default cgroup root and no
    /// mounting.
    pub fn discover() -> Machine {
        Machine::on(cgroup::discover())
    }

    /// This machine with `layout` (already discovered), the default
    /// cgroup root and no mounting.
    pub fn on(layout: CgroupLayout) -> Machine {
        Machine {
            layout,
            cgroup_root: "enforcer".to_string(),
            mount_controllers: None,
        }
    }

    /// Why `decision`'s resources cannot be planned here (`resources.…`
    /// first), as `run` plans them (mounting only as a dry run).
    pub fn plan(&self, decision: &NormalDecision) -> Result<(), String> {
        let resources = &decision.resources;
        let path = &decision.cgroups_path;
        match &self.mount_controllers {
            None => cgroup::plan(resources, &self.layout, &self.cgroup_root, path)
                .map(drop)
                .map_err(|error| error.to_string()),
            Some(base) => cgroup::plan_mounting_on(
                self.layout.clone(),
                resources,
                &self.cgroup_root,
                path,
                base,
                true,
            )
            .map(drop)
            .map_err(|error| format!("{error:#}")),
        }
    }
}

/// `Err` naming the first policy of `evaluation` whose decision cannot be
/// applied on `target`; `Ok` for a denial and for an applicable allow.
/// [`Target::ThisMachine`] discovers the layout now and plans with the
/// default cgroup root, mounting nothing ([`check_on`] takes a
/// [`Machine`]).
pub fn check(
    evaluation: &Evaluation,
    request: &Request,
    target: Target,
) -> Result<(), InapplicableDecision> {
    match target {
        Target::ThisMachine => check_on(evaluation, request, &Machine::discover()),
        Target::RequestHost => check_with(evaluation, request, REQUEST_HOST, |decision| {
            policy_model::check_applicable(&decision.to_decision(), &request.host)
                .map_err(|inapplicable| inapplicable.to_string())
        }),
    }
}

/// [`check`] on `machine`, as `run` would plan there.
pub fn check_on(
    evaluation: &Evaluation,
    request: &Request,
    machine: &Machine,
) -> Result<(), InapplicableDecision> {
    check_with(evaluation, request, THIS_HOST, |decision| {
        machine.plan(decision)
    })
}

/// After `run`'s plan of the final decision failed with `message`: the
/// first link of `links` whose own decision cannot be planned on
/// `machine` (see [`check`]), else the last enforcing link that allowed,
/// with `message`.
pub fn blame_on(
    links: &[LinkReport],
    request: &Request,
    machine: &Machine,
    message: String,
) -> InapplicableDecision {
    blame(links, request, THIS_HOST, message, |decision| {
        machine.plan(decision)
    })
}

fn check_with(
    evaluation: &Evaluation,
    request: &Request,
    host: &str,
    applies: impl Fn(&NormalDecision) -> Result<(), String>,
) -> Result<(), InapplicableDecision> {
    let Outcome::Allowed(decision) = &evaluation.outcome else {
        return Ok(());
    };
    match applies(decision) {
        Ok(()) => Ok(()),
        Err(message) => Err(blame(&evaluation.links, request, host, message, applies)),
    }
}

/// The first applied link whose decision `applies` refuses; else the last
/// applied link, with the final decision's `message`.
fn blame(
    links: &[LinkReport],
    request: &Request,
    host: &str,
    message: String,
    applies: impl Fn(&NormalDecision) -> Result<(), String>,
) -> InapplicableDecision {
    let context = context(request);
    let applied: Vec<(&LinkReport, &Decision)> = links
        .iter()
        .filter(|link| link.mode == Mode::Enforce && link.result == LinkResult::Allowed)
        .filter_map(|link| Some((link, link.decision.as_ref()?)))
        .collect();
    for (link, decision) in &applied {
        if let Err(message) = applies(&normalize(decision, &context)) {
            return InapplicableDecision {
                policy: link.policy.clone(),
                host: host.to_string(),
                message,
            };
        }
    }
    InapplicableDecision {
        policy: applied
            .last()
            .map_or_else(|| THE_CHAIN.to_string(), |(link, _)| link.policy.clone()),
        host: host.to_string(),
        message,
    }
}
