//! `/proc/<pid>/cgroup`: which cgroup a process is in, per hierarchy.

/// One line of `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Hierarchy id (0 for cgroup2).
    pub hierarchy_id: u32,
    /// Controllers of a v1 hierarchy (`cpu,cpuacct`), or `name=systemd`;
    /// empty for cgroup2.
    pub controllers: Vec<String>,
    /// Path relative to the hierarchy's root.
    pub path: String,
}

impl Membership {
    /// Whether this line is the cgroup2 one (`0::/path`).
    pub fn is_unified(&self) -> bool {
        self.hierarchy_id == 0 && self.controllers.is_empty()
    }
}

/// Parses both formats: `hierarchy-ID:controller-list:path` (v1) and
/// `0::path` (v2). Malformed lines are skipped.
pub fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let hierarchy_id = parts.next()?.parse().ok()?;
            let controllers = parts.next()?;
            let path = parts.next()?.to_string();
            Some(Membership {
                hierarchy_id,
                controllers: controllers
                    .split(',')
                    .filter(|name| !name.is_empty())
                    .map(String::from)
                    .collect(),
                path,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v1_and_v2_lines() {
        let text =
            "12:pids:/user.slice\n4:cpu,cpuacct:/\n1:name=systemd:/init.scope\n0::/a:b\nbroken\n";
        let entries = parse_proc_cgroup(text);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(entries[2].controllers, ["name=systemd"]);
        assert!(entries[3].is_unified());
        assert_eq!(entries[3].path, "/a:b", "a colon in the path is kept");
    }

    #[test]
    fn parses_this_process() {
        let text = std::fs::read_to_string("/proc/self/cgroup").expect("readable");
        let entries = parse_proc_cgroup(&text);
        assert_eq!(entries.len(), text.lines().count());
        assert!(entries.iter().all(|entry| entry.path.starts_with('/')));
    }
}
