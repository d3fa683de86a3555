//! Device rules: constructors, the OCI default device list, and the one
//! function that says what an ordered rule list permits.
//!
//! Semantics follow OCI and the kernel's v1 devices controller: a cgroup
//! starts with every device allowed; rules apply in order; for each access
//! bit (`r`, `w`, `m`) the last rule that matches the device and names the
//! bit decides.

use crate::decision::{DeviceRule, DeviceType};

/// Major number of the memory devices (`/dev/null`, `/dev/zero`, ...).
const MEM_MAJOR: i64 = 1;
/// Major number of `/dev/tty`, `/dev/console`, `/dev/ptmx`.
const TTY_MAJOR: i64 = 5;
/// Major number of Unix98 pseudo-terminal slaves (`/dev/pts/*`).
const PTS_MAJOR: i64 = 136;

impl DeviceRule {
    /// Denies every device, every access: the usual first rule.
    pub fn deny_all() -> DeviceRule {
        DeviceRule {
            allow: false,
            kind: Some(DeviceType::All),
            major: None,
            minor: None,
            access: Some("rwm".into()),
        }
    }

    /// Allows every device, every access.
    pub fn allow_all() -> DeviceRule {
        DeviceRule {
            allow: true,
            ..DeviceRule::deny_all()
        }
    }

    /// Allows the character device `major:minor` (`None` minor: any).
    pub fn allow_char(major: i64, minor: Option<i64>, access: &str) -> DeviceRule {
        DeviceRule {
            allow: true,
            kind: Some(DeviceType::Char),
            major: Some(major),
            minor,
            access: Some(access.into()),
        }
    }

    /// Allows the block device `major:minor` (`None` minor: any).
    pub fn allow_block(major: i64, minor: Option<i64>, access: &str) -> DeviceRule {
        DeviceRule {
            kind: Some(DeviceType::Block),
            ..DeviceRule::allow_char(major, minor, access)
        }
    }

    /// Denies the character device `major:minor` (`None` minor: any).
    pub fn deny_char(major: i64, minor: Option<i64>, access: &str) -> DeviceRule {
        DeviceRule {
            allow: false,
            ..DeviceRule::allow_char(major, minor, access)
        }
    }

    /// The rule's access string, defaulting to `rwm` as OCI does.
    pub fn access_or_default(&self) -> &str {
        self.access.as_deref().unwrap_or("rwm")
    }

    /// Whether the rule names every device with every access (`a *:* rwm`).
    pub fn covers_everything(&self) -> bool {
        self.kind.unwrap_or(DeviceType::All) == DeviceType::All
            && any_number(self.major)
            && any_number(self.minor)
            && ['r', 'w', 'm']
                .iter()
                .all(|bit| self.access_or_default().contains(*bit))
    }

    /// Whether some device is named by both rules (access ignored).
    pub fn overlaps(&self, other: &DeviceRule) -> bool {
        let kinds = {
            let (a, b) = (
                self.kind.unwrap_or(DeviceType::All),
                other.kind.unwrap_or(DeviceType::All),
            );
            a == DeviceType::All || b == DeviceType::All || a == b
        };
        let numbers = |a: Option<i64>, b: Option<i64>| any_number(a) || any_number(b) || a == b;
        kinds && numbers(self.major, other.major) && numbers(self.minor, other.minor)
    }

    /// Whether every device `other` names is named by this rule (access
    /// ignored).
    pub fn contains(&self, other: &DeviceRule) -> bool {
        let kind = match self.kind.unwrap_or(DeviceType::All) {
            DeviceType::All => true,
            kind => other.kind == Some(kind),
        };
        let number = |outer: Option<i64>, inner: Option<i64>| {
            any_number(outer) || (!any_number(inner) && outer == inner)
        };
        kind && number(self.major, other.major) && number(self.minor, other.minor)
    }

    /// Whether both rules name exactly the same devices (access ignored).
    pub fn same_target(&self, other: &DeviceRule) -> bool {
        self.contains(other) && other.contains(self)
    }

    /// The devices named, kernel style: `c 1:5`, `c 136:*`, `a *:*`.
    pub fn target(&self) -> String {
        let number = |n: Option<i64>| match n {
            None | Some(-1) => "*".to_string(),
            Some(n) => n.to_string(),
        };
        format!(
            "{} {}:{}",
            self.kind.unwrap_or(DeviceType::All).letter(),
            number(self.major),
            number(self.minor)
        )
    }

    /// Whether the rule applies to device `kind major:minor`.
    pub fn matches(&self, kind: DeviceType, major: i64, minor: i64) -> bool {
        let kind_matches = match self.kind.unwrap_or(DeviceType::All) {
            DeviceType::All => true,
            rule_kind => rule_kind == kind,
        };
        let number_matches =
            |rule: Option<i64>, actual: i64| any_number(rule) || rule == Some(actual);
        kind_matches && number_matches(self.major, major) && number_matches(self.minor, minor)
    }
}

/// `None` and `-1` mean any major or minor number.
fn any_number(number: Option<i64>) -> bool {
    matches!(number, None | Some(-1))
}

/// The OCI default devices, after a leading deny-all: `/dev/null`,
/// `/dev/zero`, `/dev/full`, `/dev/random`, `/dev/urandom`, `/dev/tty`,
/// `/dev/console`, `/dev/ptmx` and the pseudo-terminals under `/dev/pts`,
/// all with `rwm`.
pub fn oci_default_devices() -> Vec<DeviceRule> {
    let mut rules = vec![DeviceRule::deny_all()];
    for minor in [3, 5, 7, 8, 9] {
        rules.push(DeviceRule::allow_char(MEM_MAJOR, Some(minor), "rwm"));
    }
    for minor in [0, 1, 2] {
        rules.push(DeviceRule::allow_char(TTY_MAJOR, Some(minor), "rwm"));
    }
    rules.push(DeviceRule::allow_char(PTS_MAJOR, None, "rwm"));
    rules
}

/// Whether `rules` permit every access in `access` (letters of `rwm`) on the
/// device `kind major:minor`. An empty rule list permits everything, as a
/// fresh cgroup does.
pub fn permits(
    rules: &[DeviceRule],
    kind: DeviceType,
    major: i64,
    minor: i64,
    access: &str,
) -> bool {
    access.chars().all(|bit| {
        rules
            .iter()
            .rev()
            .find(|rule| rule.matches(kind, major, minor) && rule.access_or_default().contains(bit))
            .is_none_or(|rule| rule.allow)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_list_allows_the_standard_devices_only() {
        let rules = oci_default_devices();
        assert!(permits(&rules, DeviceType::Char, 1, 3, "rwm"), "/dev/null");
        assert!(
            permits(&rules, DeviceType::Char, 1, 9, "rw"),
            "/dev/urandom"
        );
        assert!(
            permits(&rules, DeviceType::Char, 136, 4, "rw"),
            "/dev/pts/4"
        );
        assert!(!permits(&rules, DeviceType::Char, 1, 1, "r"), "/dev/mem");
        assert!(!permits(&rules, DeviceType::Block, 8, 0, "r"), "/dev/sda");
        assert!(
            !permits(&rules, DeviceType::Char, 195, 0, "r"),
            "/dev/nvidia0"
        );
    }

    #[test]
    fn later_rules_win_per_access_bit() {
        let rules = vec![
            DeviceRule::allow_all(),
            DeviceRule::deny_char(1, Some(5), "w"),
        ];
        assert!(permits(&rules, DeviceType::Char, 1, 5, "r"));
        assert!(!permits(&rules, DeviceType::Char, 1, 5, "w"));
        assert!(!permits(&rules, DeviceType::Char, 1, 5, "rw"));
        assert!(
            permits(&rules, DeviceType::Block, 1, 5, "w"),
            "type differs"
        );
    }

    #[test]
    fn empty_list_permits_everything() {
        assert!(permits(&[], DeviceType::Block, 8, 0, "rwm"));
    }

    #[test]
    fn rule_geometry() {
        let all_mem = DeviceRule::allow_char(1, None, "rwm");
        let zero = DeviceRule::deny_char(1, Some(5), "w");
        assert!(all_mem.overlaps(&zero) && zero.overlaps(&all_mem));
        assert!(all_mem.contains(&zero) && !zero.contains(&all_mem));
        assert!(!all_mem.same_target(&zero));
        assert!(zero.same_target(&DeviceRule::allow_char(1, Some(5), "r")));
        assert!(!zero.overlaps(&DeviceRule::allow_block(1, Some(5), "r")));
        assert!(DeviceRule::deny_all().covers_everything());
        assert!(!all_mem.covers_everything());
        assert_eq!(all_mem.target(), "c 1:*");
        assert_eq!(DeviceRule::allow_all().target(), "a *:*");
    }

    #[test]
    fn minus_one_is_a_wildcard() {
        let rule = DeviceRule::allow_char(-1, Some(-1), "r");
        assert!(rule.matches(DeviceType::Char, 42, 7));
        assert!(!rule.matches(DeviceType::Block, 42, 7));
    }
}
