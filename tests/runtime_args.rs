//! `enforcer::runtime::args::parse` on the command lines containerd's
//! go-runc, CRI-O (conmon) and podman (conmon) issue
//! (tests/fixtures/runtime/cmdlines/*.txt, format in its README.md), and a
//! property: the global flags in any order and form parse the same.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use enforcer::runtime::args::{
    Action, ExecProcess, GlobalFlags, Invocation, LogFormat, ResourcesSource, parse,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/runtime/cmdlines")
}

fn words(line: &str) -> Vec<OsString> {
    line.split_whitespace()
        .map(|word| {
            if word == "''" {
                OsString::new()
            } else {
                OsString::from(word)
            }
        })
        .collect()
}

fn expectations(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key.to_string(), value.to_string())
        })
        .collect()
}

fn path(value: Option<&PathBuf>) -> Option<String> {
    value.map(|p| p.display().to_string())
}

fn list(value: Option<&String>) -> Vec<String> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

/// Every mismatch between `invocation` and `expect`.
fn check(invocation: &Invocation, expect: &BTreeMap<String, String>) -> Vec<String> {
    let wrong = std::cell::RefCell::new(Vec::new());
    let compare = |key: &str, got: Option<String>, default: Option<&str>| {
        let want = expect.get(key).map(String::as_str).or(default);
        if got.as_deref() != want {
            wrong
                .borrow_mut()
                .push(format!("{key}: got {got:?}, want {want:?}"));
        }
    };
    let g = &invocation.global;
    compare("root", path(g.root.as_ref()), None);
    compare("log", path(g.log.as_ref()), None);
    let format = match g.log_format {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    };
    compare("log_format", Some(format.into()), Some("text"));
    compare(
        "systemd_cgroup",
        Some(g.systemd_cgroup.to_string()),
        Some("false"),
    );
    compare("debug", Some(g.debug.to_string()), Some("false"));
    compare("rootless", g.rootless.clone(), None);
    if expect.contains_key("subcommand") {
        compare("subcommand", invocation.subcommand.clone(), None);
    }
    let (action, id) = match &invocation.action {
        Action::Create(c) | Action::Run(c) => {
            compare("bundle", path(Some(&c.bundle)), Some("."));
            compare("pid_file", path(c.pid_file.as_ref()), None);
            compare("console_socket", path(c.console_socket.as_ref()), None);
            let name = if matches!(invocation.action, Action::Create(_)) {
                "create"
            } else {
                "run"
            };
            (name, Some(c.id.clone()))
        }
        Action::Exec(e) => {
            match &e.process {
                ExecProcess::File(file) => compare("process", path(Some(file)), None),
                ExecProcess::Flags(flags) => {
                    compare("process", None, None);
                    let joined = |items: &[String]| Some(items.join(","));
                    let want = |key: &str| Some(list(expect.get(key)).join(","));
                    for (key, got) in [
                        ("command", joined(&flags.command)),
                        ("gids", joined(&flags.additional_gids)),
                        ("caps", joined(&flags.caps)),
                    ] {
                        if got != want(key) {
                            wrong
                                .borrow_mut()
                                .push(format!("{key}: got {got:?}, want {:?}", want(key)));
                        }
                    }
                    compare("user", flags.user.clone(), None);
                    compare(
                        "no_new_privs",
                        Some(flags.no_new_privs.to_string()),
                        Some("false"),
                    );
                    compare("apparmor", flags.apparmor.clone(), None);
                    compare("process_label", flags.process_label.clone(), None);
                }
            }
            ("exec", Some(e.id.clone()))
        }
        Action::Update(u) => {
            let resources = u.resources.as_ref().map(|r| match r {
                ResourcesSource::Stdin => "-".to_string(),
                ResourcesSource::File(file) => file.display().to_string(),
            });
            compare("resources", resources, None);
            let flags: Vec<String> = u.flags.iter().map(|(n, v)| format!("{n}:{v}")).collect();
            let got = Some(flags.join(","));
            let want = Some(list(expect.get("flags")).join(","));
            if got != want {
                wrong
                    .borrow_mut()
                    .push(format!("flags: got {got:?}, want {want:?}"));
            }
            ("update", Some(u.id.clone()))
        }
        Action::Features => ("features", None),
        Action::Version => ("version", None),
        Action::Help => ("help", None),
        Action::PassThrough => ("passthrough", None),
    };
    compare("action", Some(action.into()), None);
    if id.is_some() || expect.contains_key("id") {
        compare("id", id, None);
    }
    wrong.into_inner()
}

#[test]
fn golden_command_lines() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures")
        .map(|entry| entry.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let mut cases = 0;
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        let mut argv: Option<(usize, String)> = None;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            let at = format!("{name}:{}", number + 1);
            if let Some(rest) = line.strip_prefix("argv:") {
                assert!(argv.is_none(), "{at}: argv without expect before it");
                argv = Some((number + 1, rest.to_string()));
            } else if let Some(rest) = line.strip_prefix("expect:") {
                let (_, words_line) = argv
                    .take()
                    .unwrap_or_else(|| panic!("{at}: expect without argv"));
                let input = words(&words_line);
                let expect = expectations(rest);
                cases += 1;
                match (parse(&input), expect.get("action").map(String::as_str)) {
                    (Err(error), Some("error")) => {
                        let needle = expect.get("error").map(String::as_str).unwrap_or("");
                        if !error.0.contains(needle) {
                            failures.push(format!("{at}: error {error:?} lacks {needle:?}"));
                        }
                    }
                    (Err(error), _) => failures.push(format!("{at}: {error}")),
                    (Ok(invocation), Some("error")) => {
                        failures.push(format!("{at}: parsed, expected an error: {invocation:?}"))
                    }
                    (Ok(invocation), _) => {
                        if invocation.argv != input {
                            failures.push(format!("{at}: argv changed"));
                        }
                        for wrong in check(&invocation, &expect) {
                            failures.push(format!("{at}: {wrong}"));
                        }
                    }
                }
            } else {
                panic!("{at}: neither argv: nor expect: {line:?}");
            }
        }
        assert!(
            argv.is_none(),
            "{}: argv without expect at the end",
            file.display()
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases >= 40, "{cases} cases");
}

/// xorshift64: deterministic, no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One flag in one of urfave/cli's forms: `--x v`, `--x=v`, `-x v`,
/// `-x=v`; a boolean as `--x`, `-x`, `--x=true`, `-x=1`.
fn render(rng: &mut Rng, name: &str, value: Option<&str>) -> Vec<String> {
    let dashes = if rng.below(2) == 0 { "--" } else { "-" };
    match value {
        Some(value) => {
            if rng.below(2) == 0 {
                vec![format!("{dashes}{name}"), value.to_string()]
            } else {
                vec![format!("{dashes}{name}={value}")]
            }
        }
        None => match rng.below(4) {
            0 | 1 => vec![format!("{dashes}{name}")],
            2 => vec![format!("{dashes}{name}=true")],
            _ => vec![format!("{dashes}{name}=1")],
        },
    }
}

/// A subcommand's words and what its action must be.
type Case = (&'static [&'static str], fn(&Action) -> bool);

#[test]
fn global_flags_in_any_order_and_form() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let subcommands: [Case; 5] = [
        (
            &["create", "--bundle", "/b", "id"],
            |a| matches!(a, Action::Create(c) if c.id == "id"),
        ),
        (
            &["exec", "-p", "/p.json", "id"],
            |a| matches!(a, Action::Exec(e) if e.id == "id"),
        ),
        (&["update", "-r", "-", "id"], |a| {
            matches!(a, Action::Update(_))
        }),
        (&["features"], |a| matches!(a, Action::Features)),
        (&["delete", "--force", "id"], |a| {
            matches!(a, Action::PassThrough)
        }),
    ];
    for round in 0..2000 {
        // Which flags, with which values.
        let mut expected = GlobalFlags::default();
        let mut flags: Vec<(&str, Option<String>)> = Vec::new();
        if rng.below(2) == 0 {
            let root = format!("/run/r{}", rng.below(100));
            expected.root = Some(root.clone().into());
            flags.push(("root", Some(root)));
        }
        if rng.below(2) == 0 {
            let log = format!("/run/l{}/log.json", rng.below(100));
            expected.log = Some(log.clone().into());
            flags.push(("log", Some(log)));
        }
        if rng.below(2) == 0 {
            let (format, value) = if rng.below(2) == 0 {
                (LogFormat::Json, "json")
            } else {
                (LogFormat::Text, "text")
            };
            expected.log_format = format;
            flags.push(("log-format", Some(value.to_string())));
        }
        if rng.below(2) == 0 {
            expected.systemd_cgroup = true;
            flags.push(("systemd-cgroup", None));
        }
        if rng.below(2) == 0 {
            expected.debug = true;
            flags.push(("debug", None));
        }
        if rng.below(2) == 0 {
            let value = ["true", "false", "auto"][rng.below(3)];
            expected.rootless = Some(value.to_string());
            flags.push(("rootless", Some(value.to_string())));
        }
        if rng.below(3) == 0 {
            flags.push(("criu", Some("/usr/sbin/criu".to_string())));
        }
        // Shuffle (Fisher-Yates).
        for i in (1..flags.len()).rev() {
            let j = rng.below(i + 1);
            flags.swap(i, j);
        }
        let (tail, check) = subcommands[rng.below(subcommands.len())];
        let mut argv: Vec<OsString> = Vec::new();
        for (name, value) in &flags {
            argv.extend(
                render(&mut rng, name, value.as_deref())
                    .into_iter()
                    .map(OsString::from),
            );
        }
        if rng.below(8) == 0 {
            argv.push("--".into());
        }
        argv.extend(tail.iter().map(OsString::from));
        let invocation = parse(&argv).unwrap_or_else(|e| panic!("round {round}: {argv:?}: {e}"));
        assert_eq!(invocation.global, expected, "round {round}: {argv:?}");
        assert!(
            check(&invocation.action),
            "round {round}: {argv:?}: {:?}",
            invocation.action
        );
        assert_eq!(invocation.argv, argv);
        assert_eq!(invocation.subcommand.as_deref(), Some(tail[0]));
    }
}
