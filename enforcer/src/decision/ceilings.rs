//! Ceilings: limits an operator sets on a tenant in the config, without
//! writing Wasm. They tighten the platform's decision before the tenant's
//! policy sees it, so the tenant's policy can only go lower still.

use policy_sdk::{Cpu, Decision, Memory, Pids};
use serde::{Deserialize, Serialize};

/// The CFS period used when a decision caps CPU time without naming one,
/// in microseconds.
pub const DEFAULT_CPU_PERIOD_US: u64 = 100_000;

/// The smallest CFS quota the kernel accepts, in microseconds.
const MIN_CPU_QUOTA_US: i64 = 1_000;

/// Upper bounds on a tenant's resources; an absent field leaves that
/// resource as the decision so far has it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ceilings {
    /// Most memory, in bytes (`resources.memory.limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// Most tasks (`resources.pids.limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
    /// Most CPU time, in CPUs (`resources.cpu.quota` / `period`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
}

/// Lowers `decision`'s limits to `ceilings`: each limit becomes the lower
/// of the two (an absent or `-1` limit counts as unlimited). A memory
/// reservation above the new limit comes down with it. CPU time is capped
/// as a CFS quota over the decision's period ([`DEFAULT_CPU_PERIOD_US`]
/// when it names none).
pub fn apply_ceilings(decision: &mut Decision, ceilings: &Ceilings) {
    if ceilings.memory.is_none() && ceilings.pids.is_none() && ceilings.cpus.is_none() {
        return;
    }
    let resources = decision.resources.get_or_insert_with(Default::default);
    if let Some(ceiling) = ceilings.memory {
        let memory = resources.memory.get_or_insert_with(Memory::default);
        let limit = lower(memory.limit, ceiling);
        memory.limit = Some(limit);
        if let Some(reservation) = memory.reservation
            && (reservation == -1 || reservation > limit)
        {
            memory.reservation = Some(limit);
        }
    }
    if let Some(ceiling) = ceilings.pids {
        let pids = resources.pids.get_or_insert(Pids { limit: -1 });
        pids.limit = lower(Some(pids.limit).filter(|limit| *limit > 0), ceiling);
    }
    if let Some(cpus) = ceilings.cpus {
        let cpu = resources.cpu.get_or_insert_with(Cpu::default);
        cap_cpu(cpu, cpus);
    }
}

/// The lower of a limit (absent or negative: unlimited) and a ceiling.
fn lower(limit: Option<i64>, ceiling: i64) -> i64 {
    match limit {
        Some(limit) if limit >= 0 => limit.min(ceiling),
        _ => ceiling,
    }
}

/// Caps `cpu`'s bandwidth at `cpus` CPUs.
fn cap_cpu(cpu: &mut Cpu, cpus: f64) {
    let quota_for = |period: u64| (cpus * period as f64).ceil() as i64;
    let mut period = cpu.period.unwrap_or(DEFAULT_CPU_PERIOD_US);
    let mut ceiling = quota_for(period);
    let unlimited = cpu.quota.is_none_or(|quota| quota < 0);
    let above = |quota: i64| unlimited || quota > ceiling;
    if !above(cpu.quota.unwrap_or(-1)) {
        return;
    }
    if ceiling < MIN_CPU_QUOTA_US {
        // The decision's period is too short for the kernel to take a quota
        // that small: express the same share over the default period.
        period = DEFAULT_CPU_PERIOD_US;
        ceiling = quota_for(period).max(MIN_CPU_QUOTA_US);
    }
    cpu.quota = Some(ceiling);
    cpu.period = Some(period);
}

#[cfg(test)]
mod tests {
    use policy_sdk::{MIB, Resources};

    use super::*;

    fn with(resources: Resources) -> Decision {
        Decision {
            resources: Some(resources),
            ..Decision::allow()
        }
    }

    fn resources(decision: &Decision) -> &Resources {
        decision.resources.as_ref().expect("resources")
    }

    #[test]
    fn no_ceilings_change_nothing() {
        let mut decision = Decision::allow();
        apply_ceilings(&mut decision, &Ceilings::default());
        assert_eq!(decision, Decision::allow());
    }

    #[test]
    fn memory_takes_the_lower_and_unlimited_counts_as_none() {
        let ceilings = Ceilings {
            memory: Some(256 * MIB as i64),
            ..Ceilings::default()
        };
        for (limit, expected) in [
            (None, 256 * MIB as i64),
            (Some(-1), 256 * MIB as i64),
            (Some(512 * MIB as i64), 256 * MIB as i64),
            (Some(64 * MIB as i64), 64 * MIB as i64),
        ] {
            let mut decision = with(Resources {
                memory: Some(Memory {
                    limit,
                    reservation: Some(300 * MIB as i64),
                    ..Memory::default()
                }),
                ..Resources::default()
            });
            apply_ceilings(&mut decision, &ceilings);
            let memory = resources(&decision).memory.as_ref().expect("memory");
            assert_eq!(memory.limit, Some(expected), "{limit:?}");
            assert!(memory.reservation <= Some(expected), "{limit:?}");
        }
        let mut bare = Decision::allow();
        apply_ceilings(&mut bare, &ceilings);
        let memory = resources(&bare).memory.as_ref().expect("memory");
        assert_eq!(memory.limit, Some(256 * MIB as i64));
    }

    #[test]
    fn pids_take_the_lower() {
        let ceilings = Ceilings {
            pids: Some(32),
            ..Ceilings::default()
        };
        for (limit, expected) in [(None, 32), (Some(-1), 32), (Some(256), 32), (Some(8), 8)] {
            let mut decision = with(Resources {
                pids: limit.map(|limit| Pids { limit }),
                ..Resources::default()
            });
            apply_ceilings(&mut decision, &ceilings);
            let pids = resources(&decision).pids.as_ref().expect("pids");
            assert_eq!(pids.limit, expected, "{limit:?}");
        }
    }

    #[test]
    fn cpu_quota_is_capped_over_the_decisions_period() {
        let ceilings = Ceilings {
            cpus: Some(1.5),
            ..Ceilings::default()
        };
        let cpu_of = |cpu: Option<Cpu>| {
            let mut decision = with(Resources {
                cpu,
                ..Resources::default()
            });
            apply_ceilings(&mut decision, &ceilings);
            let cpu = resources(&decision).cpu.clone().expect("cpu");
            (cpu.quota, cpu.period)
        };
        assert_eq!(cpu_of(None), (Some(150_000), Some(100_000)));
        let unlimited = Cpu {
            quota: Some(-1),
            period: Some(50_000),
            ..Cpu::default()
        };
        assert_eq!(cpu_of(Some(unlimited)), (Some(75_000), Some(50_000)));
        let above = Cpu {
            quota: Some(400_000),
            period: Some(100_000),
            shares: Some(512),
            ..Cpu::default()
        };
        assert_eq!(cpu_of(Some(above)), (Some(150_000), Some(100_000)));
        let below = Cpu {
            quota: Some(50_000),
            period: Some(100_000),
            ..Cpu::default()
        };
        assert_eq!(cpu_of(Some(below)), (Some(50_000), Some(100_000)));
        let short_period = Cpu {
            period: Some(1_000),
            ..Cpu::default()
        };
        let tiny = Ceilings {
            cpus: Some(0.1),
            ..Ceilings::default()
        };
        let mut decision = with(Resources {
            cpu: Some(short_period),
            ..Resources::default()
        });
        apply_ceilings(&mut decision, &tiny);
        let cpu = resources(&decision).cpu.clone().expect("cpu");
        assert_eq!((cpu.quota, cpu.period), (Some(10_000), Some(100_000)));
    }
}
