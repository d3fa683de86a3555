//! Evaluating a request against a chain of policies: the platform's links
//! first, then the tenant's ceilings, then the tenant's links. Each link
//! sees the decision so far (`request.previous`) and its own settings
//! (`request.settings`); its decision is validated, and it may only tighten
//! what came before. The first denial of an enforcing link ends the chain.
//!
//! Decisions are compared, reported and returned in their normal form
//! (`policy_model::normal`), and a later link reads the decision so far as
//! its explicit OCI rendering.
//!
//! A link in [`Mode::Audit`] is evaluated and checked like any other, and
//! what it would have done is reported, but it never changes the result:
//! the chain goes on from the decision before it.

use policy_sdk::{Decision, Request};
use serde::{Deserialize, Serialize};

use crate::decision::{
    Ceilings, Context, InvalidDecision, Loosened, NormalDecision, apply_ceilings, check_tightens,
    normalize, validate,
};
use crate::policy::{Policy, PolicyError};

/// What the enforcer knows when it normalises a decision for `request`:
/// its own ids and rlimits (what a silent decision keeps), the id-derived
/// cgroup, and the workload's `TERM` when it gets a terminal.
pub fn context(request: &Request) -> Context {
    Context {
        caller: (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        ),
        default_cgroup: crate::request::default_cgroups_path(request),
        term: request.terminal.then(|| {
            crate::sandbox::privileges::terminal_type(std::env::var("TERM").ok().as_deref())
        }),
        rlimits: crate::decision::own_rlimits(),
        network_egress: Default::default(),
    }
}

/// Whether a link's decision counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Its decision is applied (tightening the chain before it).
    #[default]
    Enforce,
    /// It is evaluated and reported, but only the chain before it is
    /// applied: how a platform rolls out a new policy safely.
    Audit,
}

/// Whose policy a link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The platform's chain (from the config, `--policy`, or the embedded
    /// default), evaluated first.
    Platform,
    /// The tenant's policy, evaluated after the platform's and its ceilings.
    Tenant,
}

/// One policy of a chain, with how it takes part.
#[derive(Clone)]
pub struct Link {
    /// The loaded policy.
    pub policy: Policy,
    /// Whether its decision counts.
    pub mode: Mode,
    /// The operator's settings for it (a JSON object), given to it as
    /// `request.settings`.
    pub settings: Option<serde_json::Value>,
    /// Whose policy it is.
    pub role: Role,
}

impl Link {
    /// An enforcing link without settings.
    pub fn enforce(policy: Policy, role: Role) -> Link {
        Link {
            policy,
            mode: Mode::Enforce,
            settings: None,
            role,
        }
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("policy", &self.policy.name())
            .field("sha256", &self.policy.digest())
            .field("mode", &self.mode)
            .field("settings", &self.settings)
            .field("role", &self.role)
            .finish()
    }
}

/// The policies that decide one request, in order.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    /// The platform's links, evaluated first; never empty when evaluated.
    pub platform: Vec<Link>,
    /// The tenant's ceilings, applied to the platform's decision.
    pub ceilings: Option<Ceilings>,
    /// The tenant's links, evaluated last.
    pub tenant: Vec<Link>,
    /// Each operator network's default egress by name: what an interface
    /// on it that gives none is normalised to, so every link's decision
    /// is compared with what really applies.
    pub network_egress: std::collections::BTreeMap<String, Vec<policy_model::EgressRule>>,
}

impl Chain {
    /// `policies` as a platform chain of enforcing links (what `--policy`
    /// gives).
    pub fn of_policies(policies: Vec<Policy>) -> Chain {
        Chain {
            platform: policies
                .into_iter()
                .map(|policy| Link::enforce(policy, Role::Platform))
                .collect(),
            ..Chain::default()
        }
    }

    /// Every link, platform first.
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.platform.iter().chain(&self.tenant)
    }

    /// The enforcing links' policies, platform first: the ones whose
    /// decisions count.
    pub fn enforcing(&self) -> impl Iterator<Item = &Policy> {
        self.links()
            .filter(|link| link.mode == Mode::Enforce)
            .map(|link| &link.policy)
    }
}

/// The result of a chain that ran to the end.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every enforcing policy allowed; the final decision, normalised.
    Allowed(NormalDecision),
    /// An enforcing policy denied.
    Denied {
        /// The policy that denied.
        policy: String,
        /// Its decision (with the reason).
        decision: Decision,
    },
}

/// What one link did, for the audit log and `eval --report`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkReport {
    /// The policy's name (its file, or `embedded default`).
    pub policy: String,
    /// Hex sha256 of the module bytes.
    pub sha256: String,
    /// Whether its decision counted.
    pub mode: Mode,
    /// Whose policy it is.
    pub role: Role,
    /// What happened.
    pub result: LinkResult,
    /// The decision it returned, if it returned one: in its normal form's
    /// rendering when it was valid and allowing, as returned otherwise.
    pub decision: Option<Decision>,
}

/// What happened at one link.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum LinkResult {
    /// It allowed, with a valid decision that tightens the chain before it.
    Allowed,
    /// It denied.
    Denied {
        /// Its reason.
        reason: String,
    },
    /// Its decision is invalid.
    Invalid {
        /// What is wrong.
        error: String,
    },
    /// Its decision loosens the chain before it.
    Loosened {
        /// What it loosened.
        error: String,
    },
    /// It failed to evaluate (trap, timeout, bad response, ...).
    Failed {
        /// Why.
        error: String,
    },
    /// It was not evaluated: an enforcing link before it denied or failed.
    Skipped,
}

/// A chain that reached a decision, and what each link did.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The result.
    pub outcome: Outcome,
    /// One report per link, in chain order.
    pub links: Vec<LinkReport>,
}

/// Why a chain could not reach a decision.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The chain had no enforcing platform policy.
    #[error("no policy to evaluate")]
    NoPolicies,
    /// A policy failed to evaluate.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A policy returned an invalid decision.
    #[error("policy {policy}: {error}")]
    Invalid {
        /// The policy.
        policy: String,
        /// What is wrong.
        error: InvalidDecision,
    },
    /// A later policy loosened an earlier decision.
    #[error("policy {policy}: {error} (a later policy may only tighten the decision)")]
    Loosened {
        /// The policy.
        policy: String,
        /// What it loosened.
        error: Loosened,
    },
    /// The tenant's ceilings made the platform's decision invalid.
    #[error("the tenant's ceilings: {error}")]
    Ceilings {
        /// What is wrong.
        error: InvalidDecision,
    },
    /// A link's settings could not be given to it.
    #[error("policy {policy}: its settings: {error}")]
    Settings {
        /// The policy.
        policy: String,
        /// Why.
        error: String,
    },
}

impl ChainError {
    /// The step of a request this failure belongs to, for the audit log.
    pub fn step(&self) -> crate::audit::Step {
        use crate::audit::Step;
        match self {
            ChainError::NoPolicies | ChainError::Policy(_) | ChainError::Settings { .. } => {
                Step::Evaluate
            }
            ChainError::Invalid { .. } | ChainError::Ceilings { .. } => Step::Validate,
            ChainError::Loosened { .. } => Step::Compose,
        }
    }
}

/// A chain that failed, and what each link did up to the failure.
#[derive(Debug)]
pub struct ChainFailure {
    /// Why it failed.
    pub error: ChainError,
    /// One report per link, in chain order (`skipped` after the failure).
    pub links: Vec<LinkReport>,
}

impl std::fmt::Display for ChainFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for ChainFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Runs `request` through `chain`: the platform's links, the ceilings, the
/// tenant's links.
pub fn evaluate_chain(chain: &Chain, request: &Request) -> Result<Evaluation, ChainFailure> {
    let mut context = context(request);
    context.network_egress = chain.network_egress.clone();
    let mut run = Run {
        context,
        request: request.clone(),
        so_far: None,
        reports: Vec::new(),
    };
    let all: Vec<&Link> = chain.links().collect();
    if chain.platform.iter().all(|link| link.mode == Mode::Audit) {
        return Err(run.fail(ChainError::NoPolicies, &all));
    }
    for (index, link) in chain.platform.iter().enumerate() {
        if let Some(end) = run.link(link) {
            return run.end(end, &all[index + 1..]);
        }
    }
    if let Some(ceilings) = &chain.ceilings
        && let Some(decision) = run.so_far.take()
    {
        let decision = decision.to_decision();
        match run.ceiled(decision, ceilings) {
            Ok(decision) => run.so_far = Some(decision),
            Err(error) => return Err(run.fail(error, &chain.tenant.iter().collect::<Vec<_>>())),
        }
    }
    for (index, link) in chain.tenant.iter().enumerate() {
        if let Some(end) = run.link(link) {
            return run.end(end, &all[chain.platform.len() + index + 1..]);
        }
    }
    match run.so_far {
        Some(decision) => Ok(Evaluation {
            outcome: Outcome::Allowed(decision),
            links: run.reports,
        }),
        None => Err(ChainFailure {
            error: ChainError::NoPolicies,
            links: run.reports,
        }),
    }
}

/// What a link returned: its normal form once valid and allowing, else
/// the decision as it came.
enum Returned {
    Normal(NormalDecision),
    Raw(Decision),
}

/// How an enforcing link ended the chain.
enum End {
    Denied {
        policy: String,
        decision: Box<Decision>,
    },
    Failed(ChainError),
}

/// A chain being evaluated.
struct Run {
    context: Context,
    request: Request,
    so_far: Option<NormalDecision>,
    reports: Vec<LinkReport>,
}

impl Run {
    /// Evaluates `link`; `Some` when it ends the chain.
    fn link(&mut self, link: &Link) -> Option<End> {
        let (result, decision, step) = self.evaluate(link);
        let (returned, normal) = match decision {
            Some(Returned::Normal(normal)) => (Some(normal.to_decision()), Some(normal)),
            Some(Returned::Raw(raw)) => (Some(raw), None),
            None => (None, None),
        };
        self.reports.push(LinkReport {
            policy: link.policy.name().to_string(),
            sha256: link.policy.digest().to_string(),
            mode: link.mode,
            role: link.role,
            result,
            decision: returned.clone(),
        });
        if link.mode == Mode::Audit {
            return None;
        }
        match step {
            Ok(true) => {
                self.so_far = normal;
                None
            }
            Ok(false) => Some(End::Denied {
                policy: link.policy.name().to_string(),
                decision: Box::new(returned.unwrap_or_default()),
            }),
            Err(error) => Some(End::Failed(error)),
        }
    }

    /// Evaluates, validates and checks one link: what to report, the
    /// decision it returned, and whether it allowed (or why it failed).
    fn evaluate(
        &mut self,
        link: &Link,
    ) -> (LinkResult, Option<Returned>, Result<bool, ChainError>) {
        let policy = link.policy.name().to_string();
        let settings = match &link.settings {
            // The caller's own (`--settings`), when the operator gave the
            // link none.
            None => self.request.settings.clone(),
            Some(value) => match serde_json::value::to_raw_value(value) {
                Ok(raw) => Some(raw),
                Err(error) => {
                    let error = ChainError::Settings {
                        policy,
                        error: error.to_string(),
                    };
                    return (failed(&error), None, Err(error));
                }
            },
        };
        // The operator's settings are checked on every request, so a module
        // replaced on disk whose check refuses them fails at once.
        if let Some(value) = &link.settings
            && let Err(error) = crate::settings::require_valid(&link.policy, value)
        {
            let error = match error {
                crate::settings::SettingsError::Invalid { message, .. } => ChainError::Settings {
                    policy,
                    error: format!("refused by its policy_validate_settings: {message}"),
                },
                crate::settings::SettingsError::Policy(error) => ChainError::Policy(error),
            };
            return (failed(&error), None, Err(error));
        }
        let mut request = self.request.clone();
        request.settings = settings;
        request.set_previous_decision(
            self.so_far
                .as_ref()
                .map(NormalDecision::to_decision)
                .as_ref(),
        );
        let raw = match link.policy.evaluate(&request) {
            Ok(decision) => decision,
            Err(error) => {
                let error = ChainError::Policy(error);
                return (failed(&error), None, Err(error));
            }
        };
        let decision = match self.validate(raw.clone()) {
            Ok(decision) => decision,
            Err(error) => {
                let error = ChainError::Invalid { policy, error };
                let result = LinkResult::Invalid {
                    error: error.to_string(),
                };
                return (result, Some(Returned::Raw(raw)), Err(error));
            }
        };
        if !decision.allow {
            let reason = decision
                .reason
                .clone()
                .unwrap_or_else(|| "no reason given".to_string());
            return (
                LinkResult::Denied { reason },
                Some(Returned::Raw(decision)),
                Ok(false),
            );
        }
        let decision = normalize(&decision, &self.context);
        if let Some(earlier) = &self.so_far
            && let Err(error) = check_tightens(earlier, &decision)
        {
            let error = ChainError::Loosened { policy, error };
            let result = LinkResult::Loosened {
                error: error.to_string(),
            };
            return (result, Some(Returned::Normal(decision)), Err(error));
        }
        (
            LinkResult::Allowed,
            Some(Returned::Normal(decision)),
            Ok(true),
        )
    }

    /// `decision` validated on the request's host, as a container's when
    /// the request is a container runtime's
    /// ([`policy_model::validate_container`]).
    fn validate(&self, decision: Decision) -> Result<Decision, InvalidDecision> {
        if self.request.container.is_some() {
            policy_model::validate_container(
                decision,
                &self.request.host,
                &self.context.default_cgroup,
            )
        } else {
            validate(decision, &self.request.host, &self.context.default_cgroup)
        }
    }

    /// The platform's decision under the tenant's ceilings, validated again.
    fn ceiled(
        &self,
        mut decision: Decision,
        ceilings: &Ceilings,
    ) -> Result<NormalDecision, ChainError> {
        apply_ceilings(&mut decision, ceilings);
        self.validate(decision)
            .map(|decision| normalize(&decision, &self.context))
            .map_err(|error| ChainError::Ceilings { error })
    }

    /// Ends the chain at `end`, reporting `rest` as skipped.
    fn end(self, end: End, rest: &[&Link]) -> Result<Evaluation, ChainFailure> {
        match end {
            End::Denied { policy, decision } => {
                let mut run = self;
                run.skip(rest);
                Ok(Evaluation {
                    outcome: Outcome::Denied {
                        policy,
                        decision: *decision,
                    },
                    links: run.reports,
                })
            }
            End::Failed(error) => Err(self.fail(error, rest)),
        }
    }

    /// The failure `error`, reporting `rest` as skipped.
    fn fail(mut self, error: ChainError, rest: &[&Link]) -> ChainFailure {
        self.skip(rest);
        ChainFailure {
            error,
            links: self.reports,
        }
    }

    fn skip(&mut self, rest: &[&Link]) {
        self.reports.extend(rest.iter().map(|link| LinkReport {
            policy: link.policy.name().to_string(),
            sha256: link.policy.digest().to_string(),
            mode: link.mode,
            role: link.role,
            result: LinkResult::Skipped,
            decision: None,
        }));
    }
}

fn failed(error: &ChainError) -> LinkResult {
    LinkResult::Failed {
        error: error.to_string(),
    }
}
