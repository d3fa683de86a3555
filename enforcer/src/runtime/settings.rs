//! What `enforcer runtime` is configured with: the config's `[runtime]`
//! table with its defaults applied.

use std::path::PathBuf;

/// containerd's annotation naming a pod's namespace.
pub const CONTAINERD_NAMESPACE: &str = "io.kubernetes.cri.sandbox-namespace";
/// CRI-O's annotation naming a pod's namespace.
pub const CRIO_NAMESPACE: &str = "io.kubernetes.pod.namespace";

/// The directories searched for the delegate by default.
pub const DEFAULT_SEARCH_PATH: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The runtime mode's settings, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeSettings {
    /// The delegate: a name looked up in `search_path`, or an absolute
    /// path (`runc`).
    pub delegate: String,
    /// Where a delegate name is looked up, in order.
    pub search_path: Vec<PathBuf>,
    /// Annotations naming the tenant; the first present wins.
    pub tenant_annotations: Vec<String>,
    /// The tenant of a container without one (or whose namespace is not a
    /// configured tenant).
    pub default_tenant: Option<String>,
    /// Annotation keys copied into the request's labels.
    pub label_annotations: Vec<String>,
    /// Pod label keys (CRI-O's `io.kubernetes.cri-o.Labels`) copied into
    /// the request's labels.
    pub pod_labels: Vec<String>,
}

impl Default for RuntimeSettings {
    fn default() -> RuntimeSettings {
        RuntimeSettings {
            delegate: "runc".to_string(),
            search_path: DEFAULT_SEARCH_PATH.iter().map(PathBuf::from).collect(),
            tenant_annotations: vec![CONTAINERD_NAMESPACE.to_string(), CRIO_NAMESPACE.to_string()],
            default_tenant: None,
            label_annotations: Vec::new(),
            pod_labels: Vec::new(),
        }
    }
}

impl RuntimeSettings {
    /// The config's `[runtime]` table over the defaults.
    pub fn from_config(runtime: &crate::config::Runtime) -> RuntimeSettings {
        let defaults = RuntimeSettings::default();
        RuntimeSettings {
            delegate: runtime.delegate.clone().unwrap_or(defaults.delegate),
            search_path: runtime
                .search_path
                .as_ref()
                .map_or(defaults.search_path, |paths| {
                    paths.iter().map(|path| path.path().to_path_buf()).collect()
                }),
            tenant_annotations: runtime
                .tenant_annotations
                .clone()
                .unwrap_or(defaults.tenant_annotations),
            default_tenant: runtime.default_tenant.as_ref().map(|name| name.0.clone()),
            label_annotations: runtime.label_annotations.clone().unwrap_or_default(),
            pod_labels: runtime.pod_labels.clone().unwrap_or_default(),
        }
    }
}
