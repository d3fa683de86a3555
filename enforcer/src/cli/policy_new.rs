//! `enforcer policy new`: scaffolds a policy crate outside any workspace.
//!
//! The files come from `enforcer/templates/policy/`, filled in with the
//! crate's name, the SDK dependency, the `policy` profile of this
//! workspace's `Cargo.toml` and the toolchain channel of its
//! `rust-toolchain.toml` (both read at compile time, so they cannot drift).

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;

use super::EXIT_OK;

/// Create a ready policy crate in DIR/NAME: Cargo.toml (the SDK
/// dependency, the `policy` profile, its own `[workspace]`),
/// .cargo/config.toml (the Wasm stack size, `enforcer test-runner` as the
/// wasm32-wasip1 runner), rust-toolchain.toml, src/lib.rs (a policy that
/// runs on any host, with unit tests), cases.toml (golden cases),
/// README.md and .gitignore.
///
/// The SDK dependency is a path (--sdk, or by default the policy-sdk of the
/// source tree this enforcer was built from, while it exists) or a git
/// repository (--git, pinned with --rev). Refuses an existing non-empty
/// directory; on failure, removes whatever it created.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    enforcer policy new ci-runners --sdk ~/src/enforcer/policy-sdk\n  \
    enforcer policy new ci-runners --git https://example.com/enforcer.git --rev COMMIT\n  \
    cd ci-runners && cargo test && cargo test --target wasm32-wasip1")]
pub struct NewArgs {
    /// The policy's crate name (`ci-runners` makes `ci-runners/` and
    /// `ci_runners.wasm`): ASCII letters, digits, `-` and `_`, starting
    /// with a letter.
    pub name: String,
    /// The directory to create the crate in (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Depend on the policy SDK at PATH (the `policy-sdk` directory of a
    /// checkout of the enforcer's repository), by its absolute path.
    #[arg(long, value_name = "PATH", conflicts_with = "git")]
    pub sdk: Option<PathBuf>,
    /// Depend on the policy SDK in the git repository at URL (the
    /// enforcer's repository).
    #[arg(long, value_name = "URL")]
    pub git: Option<String>,
    /// The commit (or tag) of --git to pin [default: none; Cargo.lock
    /// records the commit of the first build].
    #[arg(long, value_name = "REV", requires = "git")]
    pub rev: Option<String>,
}

/// The workspace's manifest, for its `[profile.policy]`.
const WORKSPACE_MANIFEST: &str = include_str!("../../../Cargo.toml");
/// The workspace's toolchain file, for its channel.
const WORKSPACE_TOOLCHAIN: &str = include_str!("../../../rust-toolchain.toml");
/// The policy-sdk directory of the source tree the enforcer was built from.
const BUILT_FROM_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../policy-sdk");

/// The templates, by the path they get in the crate.
const TEMPLATES: [(&str, &str); 7] = [
    (
        "Cargo.toml",
        include_str!("../../templates/policy/Cargo.toml.in"),
    ),
    (
        ".cargo/config.toml",
        include_str!("../../templates/policy/cargo-config.toml"),
    ),
    (
        "rust-toolchain.toml",
        include_str!("../../templates/policy/rust-toolchain.toml.in"),
    ),
    ("src/lib.rs", include_str!("../../templates/policy/lib.rs")),
    (
        "cases.toml",
        include_str!("../../templates/policy/cases.toml"),
    ),
    (
        "README.md",
        include_str!("../../templates/policy/README.md"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/policy/gitignore"),
    ),
];

/// Names cargo refuses for a package (Rust keywords, the built-in
/// libraries, its own directories) or that would clash with the SDK.
const RESERVED_NAMES: [&str; 61] = [
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "Self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
    "build",
    "deps",
    "incremental",
    "policy_sdk",
];

/// Runs `enforcer policy new`.
pub fn run(args: NewArgs) -> anyhow::Result<i32> {
    check_name(&args.name)?;
    let sdk = sdk_dependency(&args)?;
    let files = render(&args.name, &sdk.toml)?;
    let crate_dir = args.dir.join(&args.name);
    let mut scaffold = Scaffold::default();
    scaffold.start(&crate_dir)?;
    for (relative, text) in &files {
        scaffold.write(&crate_dir, relative, text)?;
    }
    scaffold.keep();

    let shown = shown_dir(&args.dir, &args.name);
    println!("Created policy crate {} in {}:", args.name, shown.display());
    for (relative, _) in &files {
        println!("  {relative}");
    }
    println!("SDK: policy-sdk = {}", sdk.toml);
    if let Some(note) = sdk.note {
        println!("  ({note})");
    }
    let module = module_name(&args.name);
    println!();
    println!("Next:");
    println!("  cd {}", shell_word(&shown.display().to_string()));
    println!("  cargo test && cargo test --target wasm32-wasip1");
    println!("  cargo build --profile policy --target wasm32-unknown-unknown");
    println!("  enforcer test -p target/wasm32-unknown-unknown/policy/{module}.wasm cases.toml");
    if !on_path("enforcer") {
        println!();
        println!(
            "Note: `enforcer` is not on PATH; `cargo test --target wasm32-wasip1` runs the tests \
             with `enforcer test-runner` and needs it there."
        );
    }
    Ok(EXIT_OK)
}

/// Refuses a name that is not a valid crate name.
fn check_name(name: &str) -> anyhow::Result<()> {
    let invalid = |why: &str| anyhow::anyhow!("invalid policy name {name:?}: {why}");
    let Some(first) = name.chars().next() else {
        return Err(invalid("it is empty"));
    };
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(invalid(&format!(
            "{bad:?} is not allowed (a crate name has only ASCII letters, digits, `-` and `_`)"
        )));
    }
    if !first.is_ascii_alphabetic() {
        return Err(invalid("a crate name must start with a letter"));
    }
    if name.len() > 64 {
        return Err(invalid("a crate name has at most 64 characters"));
    }
    let module = module_name(name);
    if RESERVED_NAMES.contains(&module.as_str()) {
        return Err(invalid(
            "it is reserved (a Rust keyword, a built-in library, a directory cargo uses, or the SDK's name)",
        ));
    }
    Ok(())
}

/// The crate's library (and Wasm module) name: `-` becomes `_`.
fn module_name(name: &str) -> String {
    name.replace('-', "_")
}

/// The `policy-sdk` dependency, as a TOML inline table.
struct SdkDependency {
    toml: String,
    /// A line about it for the output.
    note: Option<&'static str>,
}

/// The SDK dependency `args` ask for.
fn sdk_dependency(args: &NewArgs) -> anyhow::Result<SdkDependency> {
    if let Some(url) = &args.git {
        if url.trim().is_empty() {
            bail!("--git: the URL is empty");
        }
        let mut table = toml::Table::new();
        table.insert("git".into(), toml::Value::String(url.clone()));
        let note = match &args.rev {
            Some(rev) => {
                table.insert("rev".into(), toml::Value::String(rev.clone()));
                None
            }
            None => {
                Some("not pinned: Cargo.lock records the commit; --rev REV pins it in Cargo.toml")
            }
        };
        return Ok(SdkDependency {
            toml: inline_table(&table),
            note,
        });
    }
    let path = match &args.sdk {
        Some(path) => sdk_dir(path).with_context(|| format!("--sdk {}", path.display()))?,
        None => sdk_dir(Path::new(BUILT_FROM_SDK)).map_err(|_| {
            anyhow::anyhow!(
                "no policy SDK to depend on: the source tree this enforcer was built from \
                 ({BUILT_FROM_SDK}) has no policy-sdk any more; give --sdk PATH (the policy-sdk \
                 directory of a checkout of the enforcer's repository) or --git URL --rev REV"
            )
        })?,
    };
    let Some(text) = path.to_str() else {
        bail!("the SDK's path {} is not valid UTF-8", path.display());
    };
    let mut table = toml::Table::new();
    table.insert("path".into(), toml::Value::String(text.into()));
    Ok(SdkDependency {
        toml: inline_table(&table),
        note: None,
    })
}

/// The absolute path of the policy SDK crate at `path`.
fn sdk_dir(path: &Path) -> anyhow::Result<PathBuf> {
    let dir = fs::canonicalize(path).with_context(|| format!("cannot find {}", path.display()))?;
    let manifest = dir.join("Cargo.toml");
    let name = fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|table| {
            table
                .get("package")?
                .get("name")?
                .as_str()
                .map(str::to_string)
        });
    if name.as_deref() == Some("policy-sdk") {
        return Ok(dir);
    }
    let hint = if dir.join("policy-sdk/Cargo.toml").is_file() {
        format!(" (did you mean {}?)", dir.join("policy-sdk").display())
    } else {
        String::new()
    };
    bail!(
        "{} is not the policy-sdk crate's manifest{hint}",
        manifest.display()
    )
}

/// `{ key = value, ... }` in the table's order.
fn inline_table(table: &toml::Table) -> String {
    let fields: Vec<String> = table
        .iter()
        .map(|(key, value)| format!("{key} = {value}"))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

/// The crate's files, by their path in it.
fn render(name: &str, sdk: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    let profile = policy_profile()?;
    let channel = toolchain_channel()?;
    let module = module_name(name);
    Ok(TEMPLATES
        .iter()
        .map(|(path, template)| {
            let text = template
                .replace("{{name}}", name)
                .replace("{{module}}", &module)
                .replace("{{sdk}}", sdk)
                .replace("{{profile}}", &profile)
                .replace("{{channel}}", &channel);
            (*path, text)
        })
        .collect())
}

/// The workspace's `[profile.policy]` table, as TOML text.
fn policy_profile() -> anyhow::Result<String> {
    let manifest: toml::Table = WORKSPACE_MANIFEST
        .parse()
        .context("the workspace's Cargo.toml (built in) does not parse")?;
    let Some(policy) = manifest
        .get("profile")
        .and_then(|profiles| profiles.get("policy"))
    else {
        bail!("the workspace's Cargo.toml (built in) has no [profile.policy]");
    };
    let mut profiles = toml::Table::new();
    profiles.insert("policy".into(), policy.clone());
    let mut root = toml::Table::new();
    root.insert("profile".into(), toml::Value::Table(profiles));
    toml::to_string(&root).context("cannot write [profile.policy]")
}

/// The channel of the workspace's `rust-toolchain.toml`.
fn toolchain_channel() -> anyhow::Result<String> {
    let toolchain: toml::Table = WORKSPACE_TOOLCHAIN
        .parse()
        .context("the workspace's rust-toolchain.toml (built in) does not parse")?;
    toolchain
        .get("toolchain")
        .and_then(|table| table.get("channel"))
        .and_then(|channel| channel.as_str())
        .map(str::to_string)
        .context("the workspace's rust-toolchain.toml (built in) names no channel")
}

/// What `policy new` created, removed again on drop unless kept: files
/// and directories, newest first; a directory only if it is empty, so
/// nothing it did not create goes.
#[derive(Default)]
struct Scaffold {
    created: Vec<PathBuf>,
    keep: bool,
}

impl Scaffold {
    /// Makes `crate_dir` (and its missing parents), or accepts it when it
    /// is an empty directory.
    fn start(&mut self, crate_dir: &Path) -> anyhow::Result<()> {
        match fs::read_dir(crate_dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    bail!(
                        "{} already exists and is not empty; pick another NAME or --dir",
                        crate_dir.display()
                    );
                }
                Ok(())
            }
            Err(error) if error.kind() == ErrorKind::NotFound => self.make_dirs(crate_dir),
            Err(error) if error.kind() == ErrorKind::NotADirectory => {
                bail!(
                    "{} already exists and is not a directory",
                    crate_dir.display()
                )
            }
            Err(error) => {
                Err(error).with_context(|| format!("cannot read {}", crate_dir.display()))
            }
        }
    }

    /// Creates `dir` and each missing parent, remembering each.
    fn make_dirs(&mut self, dir: &Path) -> anyhow::Result<()> {
        let mut missing = Vec::new();
        let mut current = dir;
        while fs::symlink_metadata(current).is_err() {
            missing.push(current);
            match current.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => current = parent,
                _ => break,
            }
        }
        for dir in missing.into_iter().rev() {
            fs::create_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            self.created.push(dir.to_path_buf());
        }
        Ok(())
    }

    /// Writes `text` to `crate_dir/relative`, never over an existing file.
    fn write(&mut self, crate_dir: &Path, relative: &str, text: &str) -> anyhow::Result<()> {
        let path = crate_dir.join(relative);
        if let Some(parent) = path.parent() {
            self.make_dirs(parent)?;
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        self.created.push(path.clone());
        file.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Keeps what was created.
    fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for Scaffold {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for path in self.created.iter().rev() {
            let removed = if path.is_dir() {
                fs::remove_dir(path)
            } else {
                fs::remove_file(path)
            };
            if let Err(error) = removed {
                eprintln!("enforcer: cannot remove {}: {error}", path.display());
            }
        }
    }
}

/// The crate's directory as the user would `cd` to it.
fn shown_dir(dir: &Path, name: &str) -> PathBuf {
    if dir == Path::new(".") {
        PathBuf::from(name)
    } else {
        dir.join(name)
    }
}

/// `word` quoted for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./~+:@".contains(c));
    if plain && !word.is_empty() {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Whether an executable `program` is on `PATH`.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            fs::metadata(dir.join(program))
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_cargo() {
        for good in ["ci-runners", "a", "tenant_tiers2", "Gpu-Policy"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("1st", "start with a letter"),
            ("-x", "start with a letter"),
            ("ci runners", "' ' is not allowed"),
            ("../x", "'.' is not allowed"),
            ("pôle", "'ô' is not allowed"),
            ("fn", "reserved"),
            ("policy-sdk", "reserved"),
            ("test", "reserved"),
        ] {
            let error = check_name(bad).expect_err(bad).to_string();
            assert!(error.contains(why), "{bad}: {error}");
            assert!(error.contains(&format!("{bad:?}")), "{bad}: {error}");
        }
        assert!(check_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn the_profile_and_channel_come_from_the_workspace() {
        let profile = policy_profile().expect("profile");
        assert!(profile.starts_with("[profile.policy]\n"), "{profile}");
        let parsed: toml::Table = profile.parse().expect("parses");
        let policy = &parsed["profile"]["policy"];
        assert_eq!(policy["panic"].as_str(), Some("abort"));
        assert_eq!(policy["inherits"].as_str(), Some("release"));
        let channel = toolchain_channel().expect("channel");
        assert!(channel.starts_with("1."), "{channel}");
    }

    #[test]
    fn every_template_placeholder_is_filled() {
        let sdk = r#"{ path = "/sdk" }"#;
        for (path, text) in render("ci-runners", sdk).expect("renders") {
            assert!(!text.contains("{{"), "{path} keeps a placeholder:\n{text}");
            if path.ends_with(".toml") {
                text.parse::<toml::Table>()
                    .unwrap_or_else(|error| panic!("{path}: {error}\n{text}"));
            }
        }
    }

    #[test]
    fn sdk_tables_are_toml() {
        let mut table = toml::Table::new();
        table.insert("path".into(), toml::Value::String(r#"/a "b"\c"#.into()));
        let text = format!("dep = {}", inline_table(&table));
        let parsed: toml::Table = text.parse().expect("parses");
        assert_eq!(parsed["dep"]["path"].as_str(), Some(r#"/a "b"\c"#));
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("ci-runners"), "ci-runners");
        assert_eq!(shell_word("my dir/x"), "'my dir/x'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
