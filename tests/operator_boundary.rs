//! The boundary between a sandbox and the operator who starts it (issue 8,
//! findings 1 to 4 and 12), tried the way an attacker would, through the
//! built binary:
//!
//! - the operator's terminal: a pty-driven "operator shell" runs
//!   `enforcer run`, `run --detach` and `exec`; the workload tries
//!   `TIOCSTI`, a foreground takeover and stealing the terminal, and the
//!   operator's input queue must stay empty (a control shows the same
//!   attack works here for a process that does hold the terminal);
//! - `-t`: the workload gets a terminal of its own, relayed;
//! - descriptors, environment and working directory: an inherited fd to a
//!   root-only file, a secret variable and a `0700` working directory are
//!   out of the workload's reach; `--preserve-fds` passes exactly N;
//! - ids: an `exec`'d process is the workload's mapped user, never host
//!   uid 0, holds no operator descriptor or variable;
//! - the init shows its own name, not the enforcer's command line.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, fixture};
use nix::libc;
use sandbox::{Harness, labels};
use test_cgroup::{cannot_run, require, skipped, wait_for};

const PYTHON: &str = "/usr/bin/python3";

fn no_python() -> Option<&'static str> {
    (!Path::new(PYTHON).is_file()).then_some("needs /usr/bin/python3 for the attacker's script")
}

/// A directory the sandbox may write to (sandboxed root is an
/// unprivileged host id), removed on drop.
fn scratch() -> tempfile::TempDir {
    let scratch = tempfile::Builder::new()
        .prefix("enforcer-test-scratch-")
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o1777))
        .expect("chmod");
    scratch
}

/// The operator's terminal: a pty whose slave is the controlling terminal
/// of the commands started on it, in raw mode so that anything injected
/// into its input queue can be read back at once.
struct OperatorTerminal {
    master: OwnedFd,
    slave: OwnedFd,
}

impl OperatorTerminal {
    fn new() -> OperatorTerminal {
        let pty = enforcer::sandbox::tty::open_pty().expect("a pty");
        let mut termios = nix::sys::termios::tcgetattr(&pty.slave).expect("tcgetattr");
        nix::sys::termios::cfmakeraw(&mut termios);
        nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &termios)
            .expect("raw");
        OperatorTerminal {
            master: pty.master,
            slave: pty.slave,
        }
    }

    /// Runs `program args` with this terminal as its controlling terminal
    /// and standard streams (a login shell's child, in its own session),
    /// extra environment `env`; returns its exit status and what it printed.
    fn run(&self, program: &str, args: &[String], env: &[(&str, &str)]) -> (Option<i32>, String) {
        let slave = self.slave.as_raw_fd();
        let mut command = Command::new(program);
        command.args(args).envs(env.iter().copied());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::setsid() < 0
                    || libc::ioctl(slave, libc::TIOCSCTTY, 0) != 0
                    || libc::dup2(slave, 0) < 0
                    || libc::dup2(slave, 1) < 0
                    || libc::dup2(slave, 2) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().expect("starts on the terminal");
        let started = Instant::now();
        let mut output = Vec::new();
        let status = loop {
            self.drain(&mut output);
            if let Some(status) = child.try_wait().expect("waits") {
                break status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                child.kill().expect("kills our own hung child");
                panic!("{program} {args:?} hung");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        self.drain(&mut output);
        (status.code(), String::from_utf8_lossy(&output).into_owned())
    }

    /// Reads what the commands wrote to the terminal so far.
    fn drain(&self, output: &mut Vec<u8>) {
        let mut buffer = [0u8; 4096];
        loop {
            let mut fds = [nix::poll::PollFd::new(
                std::os::fd::AsFd::as_fd(&self.master),
                nix::poll::PollFlags::POLLIN,
            )];
            match nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO) {
                Ok(1) => match nix::unistd::read(&self.master, &mut buffer) {
                    Ok(count) if count > 0 => output.extend_from_slice(&buffer[..count]),
                    _ => return,
                },
                _ => return,
            }
        }
    }

    /// What is waiting in the terminal's input queue: what the operator's
    /// shell would read (and run) next.
    fn pending_input(&self) -> Vec<u8> {
        let mut buffer = [0u8; 4096];
        let copy = nix::unistd::dup(&self.slave).expect("dup");
        nix::fcntl::fcntl(
            &copy,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .expect("non-blocking");
        let mut file = std::fs::File::from(copy);
        match file.read(&mut buffer) {
            Ok(count) => buffer[..count].to_vec(),
            Err(_) => Vec::new(),
        }
    }
}

fn attack_script() -> String {
    fixture("attack/terminal.py")
}

/// The attack results a workload wrote to `path`.
fn results(path: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).expect("results JSON")
}

fn assert_all_refused(results: &serde_json::Value, context: &str) {
    let results = results.as_object().expect("an object");
    assert_eq!(results.len(), 4, "{context}: {results:?}");
    for (attack, outcome) in results {
        assert_ne!(outcome, "ok", "{context}: {attack} worked: {results:?}");
    }
}

/// Whether `TIOCSTI` works on this kernel at all for the holder of a
/// terminal: the control that shows the tests below could fail.
fn tiocsti_works_for_the_terminals_holder(terminal: &OperatorTerminal, scratch: &Path) -> bool {
    let out = scratch.join("control.json");
    let (code, output) = terminal.run(PYTHON, &[attack_script(), out.display().to_string()], &[]);
    assert_eq!(code, Some(0), "{output}");
    let worked = results(&out)["tiocsti_stdin"] == "ok";
    let injected = terminal.pending_input();
    if worked {
        assert!(
            injected.starts_with(b"echo pwned\n"),
            "the control's injection arrived: {injected:?}"
        );
    }
    worked
}

#[test]
fn no_sandbox_reaches_the_operators_terminal() {
    require!(cannot_run());
    require!(no_python());
    let harness = Harness::new();
    let terminal = OperatorTerminal::new();
    let scratch = scratch();
    let control = tiocsti_works_for_the_terminals_holder(&terminal, scratch.path());
    if !control {
        skipped(
            "TIOCSTI is disabled on this kernel (dev.tty.legacy_tiocsti=0): only the foreground and /dev/tty attacks are meaningful here",
        );
    }
    let binary = env!("CARGO_BIN_EXE_enforcer");

    // Attached `run`, standard streams passed as plain descriptors.
    let out = scratch.path().join("attached.json");
    let (script, out_path) = (attack_script(), out.display().to_string());
    // The attack writes its results to a host directory: the label policy
    // keeps the host's files (the default policy's /tmp is its own).
    let policy = labels();
    let args = harness.run_args(&["-p", &policy], &[PYTHON, &script, &out_path]);
    let (code, output) = terminal.run(binary, &args, &[]);
    assert_eq!(code, Some(0), "{output}");
    assert_all_refused(&results(&out), "run");
    assert_eq!(
        terminal.pending_input(),
        b"",
        "run injected into the operator's input"
    );

    // Detached: the sandbox outlives the command that started it.
    let out = scratch.path().join("detached.json");
    let attack = format!("{PYTHON} {} {}; sleep 60", attack_script(), out.display());
    let args = harness.run_args(
        &["-p", &policy, "--detach", "--id", "tty-detached"],
        &["/bin/sh", "-c", &attack],
    );
    let (code, output) = terminal.run(binary, &args, &[]);
    assert_eq!(code, Some(0), "{output}");
    wait_for("the detached attack's results", || {
        out.exists() && std::fs::metadata(&out).is_ok_and(|m| m.len() > 0)
    });
    assert_all_refused(&results(&out), "run --detach");
    assert_eq!(
        terminal.pending_input(),
        b"",
        "run --detach injected into the operator's input"
    );

    // `exec` from the operator's shell into the running sandbox.
    let out = scratch.path().join("exec.json");
    let state = harness.state_dir();
    let args: Vec<String> = [
        "exec",
        "--state-dir",
        &state,
        "tty-detached",
        "--",
        PYTHON,
        &attack_script(),
        &out.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (code, output) = terminal.run(binary, &args, &[]);
    assert_eq!(code, Some(0), "{output}");
    assert_all_refused(&results(&out), "exec");
    assert_eq!(
        terminal.pending_input(),
        b"",
        "exec injected into the operator's input"
    );
    harness.command("delete", &["tty-detached"]).expect_code(0);
}

#[test]
fn with_tty_the_workload_gets_a_terminal_of_its_own() {
    require!(cannot_run());
    require!(no_python());
    let harness = Harness::new();
    let terminal = OperatorTerminal::new();
    let binary = env!("CARGO_BIN_EXE_enforcer");
    let scratch = scratch();
    let out = scratch.path().join("tty.json");
    let script = format!(
        "tty; test -t 0 && echo stdin-is-a-terminal; {PYTHON} {} {}",
        attack_script(),
        out.display()
    );
    let policy = labels();
    let args = harness.run_args(&["-p", &policy, "-t"], &["/bin/sh", "-c", &script]);
    let (code, output) = terminal.run(binary, &args, &[("TERM", "xterm-256color")]);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("/dev/pts/"), "{output}");
    assert!(output.contains("stdin-is-a-terminal"), "{output}");
    let outcome = results(&out);
    // Its own terminal is its own: a foreground change on it works, and
    // whatever it injects stays in its own input queue...
    assert_eq!(outcome["foreground_stdin"], "ok", "{outcome}");
    // ...never in the operator's.
    assert_eq!(
        terminal.pending_input(),
        b"",
        "-t injected into the operator's input"
    );
    // The operator's terminal is back in the mode it was in (raw here).
    let termios = nix::sys::termios::tcgetattr(&terminal.slave).expect("tcgetattr");
    assert!(
        !termios
            .local_flags
            .contains(nix::sys::termios::LocalFlags::ICANON)
    );

    // Without a terminal of its own, /dev/tty is not even a device it may open.
    // (With the default policy's minimal /dev it is not there at all; `<`
    // opens without creating, as `<>` would in the writable /dev tmpfs.)
    let run = harness.run(&[], &["/bin/sh", "-c", "exec 3</dev/tty"]);
    assert_ne!(run.code, Some(0), "{}", run.stderr);
    // `exec -t` works the same way.
    harness.detach(&["--id", "tty-exec"], &["sleep", "60"]);
    let state = harness.state_dir();
    let args: Vec<String> = [
        "exec",
        "-t",
        "--state-dir",
        &state,
        "tty-exec",
        "--",
        "/bin/sh",
        "-c",
        "tty; stty size",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (code, output) = terminal.run(binary, &args, &[]);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("/dev/pts/"), "{output}");
    harness.command("delete", &["tty-exec"]).expect_code(0);
}

/// Runs the enforcer with `fd` (a root-only file) inherited as descriptor
/// 9, `SECRET_TOKEN` in its environment and `cwd` as its working directory.
fn run_with_leaks(harness: &Harness, cwd: &Path, options: &[&str], script: &str) -> Run {
    let secret = std::fs::File::open("/etc/shadow").expect("root reads /etc/shadow");
    let secret_fd = secret.as_raw_fd();
    let args = harness.run_args(options, &["/bin/sh", "-c", script]);
    let mut command = Command::new(env!("CARGO_BIN_EXE_enforcer"));
    command
        .args(&args)
        .current_dir(cwd)
        .env("SECRET_TOKEN", "hunter2")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: dup2 only, between fork and exec; dup2 clears close-on-exec.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(secret_fd, 9) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().expect("enforcer runs");
    drop(secret);
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: Duration::ZERO,
    }
}

#[test]
fn inherited_descriptors_environment_and_directory_stay_out() {
    require!(cannot_run());
    let harness = Harness::new();
    // The operator's private directory: 0700, with a secret in it.
    let private = tempfile::Builder::new()
        .prefix("enforcer-test-private-")
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    std::fs::write(private.path().join(".env"), "API_KEY=topsecret\n").expect("writes");
    let script = "ls /proc/self/fd | tr '\\n' ' '; echo; \
                  cat <&9 && echo READ-FD-9; \
                  env | grep -c SECRET_TOKEN; \
                  pwd; cat .env && echo READ-CWD";
    // A policy that leaves the host's files as they are: nothing of the
    // operator's directory comes with the process (the default policy
    // binds it on purpose, read-only: below).
    let policy = labels();
    for (who, options) in [
        ("root", vec!["-p", &policy]),
        ("uid 1000", vec!["-p", &policy, "--user", "1000:1000"]),
    ] {
        let run = run_with_leaks(&harness, private.path(), &options, script);
        run.expect_code(1); // the last `cat` fails
        let lines: Vec<&str> = run.stdout.lines().collect();
        // 0, 1, 2 and ls's own directory descriptor; nothing at 9.
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["0", "1", "2", "3"],
            "{who}: {}",
            run.stdout
        );
        assert!(
            !run.stdout.contains("READ-FD-9") && !run.stdout.contains("root:"),
            "{who}: {}",
            run.stdout
        );
        assert_eq!(lines[1], "0", "{who}: SECRET_TOKEN reached the workload");
        assert_eq!(lines[2], "/", "{who}: the working directory");
        assert!(
            !run.stdout.contains("READ-CWD") && !run.stdout.contains("topsecret"),
            "{who}: {}",
            run.stdout
        );
    }
    // The default policy binds the caller's working directory where the
    // workload starts, read-only: the descriptor and the variable still
    // stay out, and the workload cannot change the directory.
    let run = run_with_leaks(
        &harness,
        private.path(),
        &[],
        "cat <&9 && echo READ-FD-9; env | grep -c SECRET_TOKEN; pwd; \
         touch planted 2>/dev/null || echo read-only",
    );
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        format!("0\n{}\nread-only\n", private.path().display()),
        "{}",
        run.stderr
    );
    assert!(!private.path().join("planted").exists());
    // --preserve-fds 7 passes exactly 3..9, fd 9 included.
    let run = run_with_leaks(
        &harness,
        Path::new("/"),
        &["--preserve-fds", "7"],
        "test -e /proc/self/fd/9 && echo HAS-9; test -e /proc/self/fd/10 || echo NO-10",
    );
    assert!(
        run.stderr
            .contains("--preserve-fds 7: descriptor 3 is not open"),
        "{}",
        run.stderr
    );
    run.expect_code(125);
}

#[test]
fn preserved_descriptors_reach_the_workload() {
    require!(cannot_run());
    let harness = Harness::new();
    let args = harness.run_args(
        &["--preserve-fds", "1"],
        &[
            "/bin/sh",
            "-c",
            "echo through-fd-3 >&3; test -e /proc/self/fd/4 || echo no-fd-4",
        ],
    );
    let (read, write) = nix::unistd::pipe().expect("pipe");
    let write_fd = write.as_raw_fd();
    let mut command = Command::new(env!("CARGO_BIN_EXE_enforcer"));
    command
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: dup2 and close only, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(write_fd, 3) < 0 || libc::dup2(write_fd, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().expect("runs");
    drop(write);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "no-fd-4\n");
    let mut text = String::new();
    std::fs::File::from(read)
        .read_to_string(&mut text)
        .expect("reads");
    assert_eq!(text, "through-fd-3\n");
}

/// A process whose command line is exactly `argv`, found in `/proc`.
fn find_process(argv: &[&str]) -> Option<i32> {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|arg| [arg.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            (std::fs::read(entry.path().join("cmdline")).ok()? == wanted).then_some(pid)
        })
}

/// `"H H H H"`, H the host id uid 0 of `pid`'s user namespace maps to:
/// what `Uid:`/`Gid:` show for the sandbox's root.
fn mapped_root(pid: i32) -> String {
    let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).expect("uid_map");
    let host = map
        .split_whitespace()
        .nth(1)
        .expect("a host id")
        .to_string();
    assert_ne!(host, "0", "{map}");
    [host.as_str(); 4].join(" ")
}

fn status_field(pid: i32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .map(|value| value.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[test]
fn an_exec_process_is_the_workloads_user_and_holds_nothing_of_the_operator() {
    require!(cannot_run());
    let harness = Harness::new();
    harness.detach(&["--id", "exec-clean"], &["sleep", "60.271"]);
    let init = harness.pid("exec-clean");
    // The init shows its own name, none of the enforcer's arguments or
    // environment.
    let cmdline = std::fs::read(format!("/proc/{init}/cmdline")).expect("cmdline");
    let words: Vec<&[u8]> = cmdline
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .collect();
    assert_eq!(words, [b"enforcer-init".as_slice()]);
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{init}/comm")).expect("comm"),
        "enforcer-init\n"
    );
    let environ = std::fs::read(format!("/proc/{init}/environ")).expect("environ");
    assert!(
        environ.iter().all(|b| *b == 0),
        "the init's environment is wiped"
    );
    assert_eq!(status_field(init, "Uid"), mapped_root(init));
    // It keeps CAP_KILL alone (to forward signals), in every set.
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(
            status_field(init, set),
            "0000000000000020",
            "the init's {set}"
        );
    }

    // The operator execs with a secret variable and an open descriptor.
    let state = harness.state_dir();
    let secret = std::fs::File::open("/etc/shadow").expect("opens");
    let secret_fd = secret.as_raw_fd();
    let mut command = Command::new(env!("CARGO_BIN_EXE_enforcer"));
    command
        .args([
            "exec",
            "--state-dir",
            &state,
            "exec-clean",
            "--",
            "sleep",
            "31.4159",
        ])
        .env("AWS_SECRET_ACCESS_KEY", "s3cr3t")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: dup2 only, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(secret_fd, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut exec = command.spawn().expect("exec starts");
    wait_for("the exec'd process", || {
        find_process(&["sleep", "31.4159"]).is_some()
    });
    let pid = find_process(&["sleep", "31.4159"]).expect("found");
    // Not host uid 0: the sandbox's root, an unprivileged host id.
    assert_eq!(status_field(pid, "Uid"), mapped_root(pid));
    assert_eq!(status_field(pid, "Gid"), mapped_root(pid));
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    let workload = find_process(&["sleep", "60.271"]).expect("the workload");
    assert_eq!(
        status_field(pid, "CapBnd"),
        status_field(workload, "CapBnd")
    );
    assert_eq!(
        status_field(pid, "CapEff"),
        status_field(workload, "CapEff")
    );
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    assert!(
        !String::from_utf8_lossy(&environ).contains("s3cr3t"),
        "the operator's variable leaked"
    );
    let fds = || {
        let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("fds")
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        fds.sort();
        fds
    };
    // The kernel shows the new command line a moment before it closes the
    // close-on-exec descriptors: wait for the exec to finish.
    wait_for("the exec to close its descriptors", || fds().len() <= 3);
    assert_eq!(fds(), ["0", "1", "2"], "only the standard streams");
    // Its session is its own (no controlling terminal of the operator's).
    let stat = enforcer::linux::proc::read_stat(pid).expect("stat");
    let stat = enforcer::linux::proc::Stat::parse(&stat).expect("a stat line");
    assert_eq!(stat.field(7), Some("0"), "tty_nr");
    // SAFETY: a pid we found as our exec's own descendant, still running.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = exec.wait();
    drop(secret);
    harness.command("delete", &["exec-clean"]).expect_code(0);
}
