//! OCI device rules → cgroup v1 `devices.deny` / `devices.allow` writes with
//! exactly the same effect.
//!
//! The v1 controller has a default (allow all, or deny all after
//! `devices.deny a`) and a list of exceptions. Writing an entry of the
//! default's own kind removes access bits from an exception with the *same*
//! type and numbers; it cannot carve a hole in a wider exception. So a list
//! is translated from its last full rule (`a *:* rwm`, allow or deny, or the
//! implicit allow-all of a fresh cgroup), and a later rule that would have
//! to split a wider earlier rule is refused as inexpressible rather than
//! applied loosely.

use policy_sdk::{DeviceRule, DeviceType};

/// Why device rules have no exact v1 translation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// A rule of the default's kind would carve a hole in a wider earlier
    /// exception, which v1 cannot express.
    #[error(
        "rule {index} ({rule}) would cut into a wider earlier rule; cgroup v1 cannot express that exactly. Split the wider rule instead"
    )]
    CutsWiderRule {
        /// Index of the rule, counted from the last rule that covers every
        /// device.
        index: usize,
        /// The rule as the kernel entries it stands for
        /// (`deny c 1:5 rwm`).
        rule: String,
    },
}

/// The `(file, value)` writes for `rules`, in order.
pub fn translate(rules: &[DeviceRule]) -> Result<Vec<(&'static str, String)>, TranslateError> {
    let start = rules.iter().rposition(DeviceRule::covers_everything);
    let (default_allow, rest) = match start {
        Some(index) => (rules[index].allow, &rules[index + 1..]),
        None => (true, rules),
    };
    let mut writes = vec![if default_allow {
        ("devices.allow", "a".to_string())
    } else {
        ("devices.deny", "a".to_string())
    }];
    // Exceptions to the default written so far (rules of the other kind).
    let mut exceptions: Vec<&DeviceRule> = Vec::new();
    for (index, rule) in rest.iter().enumerate() {
        for entry in entries(rule) {
            if rule.allow != default_allow {
                writes.push((file_for(rule.allow), entry));
                exceptions.push(rule);
                continue;
            }
            // A rule of the default's kind only undoes exceptions.
            let overlapping: Vec<&&DeviceRule> = exceptions
                .iter()
                .filter(|exception| exception.overlaps(rule) && shares_access(exception, rule))
                .collect();
            if overlapping.is_empty() {
                continue;
            }
            if overlapping
                .iter()
                .all(|exception| exception.same_target(rule))
            {
                writes.push((file_for(rule.allow), entry));
            } else {
                return Err(TranslateError::CutsWiderRule {
                    index,
                    rule: describe(rule),
                });
            }
        }
    }
    Ok(writes)
}

fn file_for(allow: bool) -> &'static str {
    if allow {
        "devices.allow"
    } else {
        "devices.deny"
    }
}

/// The kernel entries for a rule: `c 1:5 rw`; type `a` with numbers becomes
/// one `c` and one `b` entry.
fn entries(rule: &DeviceRule) -> Vec<String> {
    let access = rule.access_or_default();
    match rule.kind.unwrap_or(DeviceType::All) {
        DeviceType::All if !rule.covers_everything() => {
            let numbers = rule.target().split_off(2);
            vec![
                format!("c {numbers} {access}"),
                format!("b {numbers} {access}"),
            ]
        }
        _ => vec![format!("{} {access}", rule.target())],
    }
}

fn shares_access(a: &DeviceRule, b: &DeviceRule) -> bool {
    a.access_or_default()
        .chars()
        .any(|bit| b.access_or_default().contains(bit))
}

fn describe(rule: &DeviceRule) -> String {
    format!(
        "{} {}",
        if rule.allow { "allow" } else { "deny" },
        entries(rule).join(" + ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_sdk::devices::{oci_default_devices, permits};

    /// A model of the v1 devices controller: a default and an exception
    /// list with per-bit access, exact-match removal.
    struct Kernel {
        default_allow: bool,
        exceptions: Vec<(char, String, String, String)>,
    }

    impl Kernel {
        fn apply(writes: &[(&str, String)]) -> Kernel {
            let mut kernel = Kernel {
                default_allow: true,
                exceptions: Vec::new(),
            };
            for (file, value) in writes {
                let allow = *file == "devices.allow";
                if value == "a" {
                    kernel.default_allow = allow;
                    kernel.exceptions.clear();
                    continue;
                }
                let parts: Vec<&str> = value.split(' ').collect();
                let kind = parts[0].chars().next().expect("type");
                let (major, minor) = parts[1].split_once(':').expect("numbers");
                let access = parts[2].to_string();
                if allow != kernel.default_allow {
                    kernel
                        .exceptions
                        .push((kind, major.into(), minor.into(), access));
                } else {
                    for exception in &mut kernel.exceptions {
                        if exception.0 == kind && exception.1 == major && exception.2 == minor {
                            exception.3.retain(|bit| !access.contains(bit));
                        }
                    }
                }
            }
            kernel
        }

        fn permits(&self, kind: char, major: i64, minor: i64, bit: char) -> bool {
            let matches = |text: &str, n: i64| text == "*" || text == n.to_string();
            let excepted = self.exceptions.iter().any(|(k, ma, mi, access)| {
                *k == kind && matches(ma, major) && matches(mi, minor) && access.contains(bit)
            });
            self.default_allow != excepted
        }
    }

    fn assert_same_effect(rules: &[DeviceRule]) {
        let writes = translate(rules).expect("expressible");
        let kernel = Kernel::apply(&writes);
        for (kind, letter) in [(DeviceType::Char, 'c'), (DeviceType::Block, 'b')] {
            for major in [1, 5, 8, 136, 195] {
                for minor in [0, 1, 3, 5, 9] {
                    for bit in ['r', 'w', 'm'] {
                        assert_eq!(
                            kernel.permits(letter, major, minor, bit),
                            permits(rules, kind, major, minor, &bit.to_string()),
                            "{letter} {major}:{minor} {bit} with {writes:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn default_list_starts_from_deny_all() {
        let writes = translate(&oci_default_devices()).expect("expressible");
        assert_eq!(writes[0], ("devices.deny", "a".to_string()));
        assert!(writes.contains(&("devices.allow", "c 1:3 rwm".to_string())));
        assert!(writes.contains(&("devices.allow", "c 136:* rwm".to_string())));
        assert_same_effect(&oci_default_devices());
    }

    #[test]
    fn lists_without_a_full_rule_start_from_allow_all() {
        let rules = vec![
            DeviceRule::deny_char(1, Some(5), "w"),
            DeviceRule::deny_char(8, None, "rwm"),
        ];
        assert_eq!(
            translate(&rules).expect("ok")[0],
            ("devices.allow", "a".to_string())
        );
        assert_same_effect(&rules);
        assert_same_effect(&[]);
    }

    #[test]
    fn exact_undo_is_expressible() {
        let mut rules = oci_default_devices();
        rules.push(DeviceRule::deny_char(1, Some(5), "w"));
        rules.push(DeviceRule::allow_char(195, Some(0), "rw"));
        assert_same_effect(&rules);
        let rules = vec![
            DeviceRule::allow_all(),
            DeviceRule::deny_char(1, Some(5), "rwm"),
            DeviceRule::allow_char(1, Some(5), "r"),
        ];
        assert_same_effect(&rules);
    }

    #[test]
    fn holes_in_wider_rules_are_refused() {
        let rules = vec![
            DeviceRule::deny_all(),
            DeviceRule::allow_char(1, None, "rwm"),
            DeviceRule::deny_char(1, Some(5), "rwm"),
        ];
        let error = translate(&rules).expect_err("a hole in c 1:*");
        assert_eq!(
            error,
            TranslateError::CutsWiderRule {
                index: 1,
                rule: "deny c 1:5 rwm".into()
            }
        );
        assert!(error.to_string().contains("cannot express"), "{error}");
    }
}
