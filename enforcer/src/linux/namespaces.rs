//! The files under `/proc/<pid>/ns/` that name a process's namespaces.

use policy_sdk::NamespaceType;

/// The `/proc/<pid>/ns` file of `kind` where a process's children live:
/// `pid_for_children` for the pid namespace (a process never changes its
/// own pid namespace; `setns` and `unshare` change its children's), the
/// type's own name otherwise.
pub fn proc_file(kind: NamespaceType) -> &'static str {
    match kind {
        NamespaceType::Pid => "pid_for_children",
        kind => kind.proc_name(),
    }
}

/// `/proc/<pid>/ns/<file>` of `kind` (see [`proc_file`]); `pid` may also
/// be `self` or `thread-self`.
pub fn proc_path(pid: impl std::fmt::Display, kind: NamespaceType) -> std::path::PathBuf {
    format!("/proc/{pid}/ns/{}", proc_file(kind)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_names_where_children_live_and_the_others_their_own() {
        assert_eq!(proc_file(NamespaceType::Pid), "pid_for_children");
        assert_eq!(proc_file(NamespaceType::Mount), "mnt");
        assert_eq!(proc_file(NamespaceType::Network), "net");
        assert_eq!(
            proc_path("thread-self", NamespaceType::Pid),
            std::path::Path::new("/proc/thread-self/ns/pid_for_children")
        );
    }

    #[test]
    fn every_file_exists_for_this_process() {
        for kind in NamespaceType::ALL {
            let path = proc_path("self", kind);
            assert!(path.exists(), "{}", path.display());
        }
    }
}
