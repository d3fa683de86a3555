//! Helpers shared by the end-to-end tests: run the built `enforcer` binary
//! and find the example policies ([`policies`] builds them) or write
//! hand-made ones ([`wat`]).

#![allow(dead_code)]

pub mod policies;
pub mod wat;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// Exit status (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl Run {
    /// Asserts the exit status, showing the output when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "exit status\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts stderr contains every needle.
    #[track_caller]
    pub fn expect_stderr(&self, needles: &[&str]) -> &Run {
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "stderr lacks {needle:?}:\n{}",
                self.stderr
            );
        }
        self
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}):\n{}", self.stdout))
    }
}

/// Longest any single command may run before the test calls it hung.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// The built binary as a command, behind `wrapper` (a program and its
/// arguments that then run the binary, e.g. `nsenter --net=PATH`) unless
/// it is empty.
pub fn enforcer_command(wrapper: &[String]) -> Command {
    match wrapper.split_first() {
        None => Command::new(env!("CARGO_BIN_EXE_enforcer")),
        Some((program, arguments)) => {
            let mut command = Command::new(program);
            command.args(arguments).arg(env!("CARGO_BIN_EXE_enforcer"));
            command
        }
    }
}

/// Runs `enforcer ARGS` with `stdin`, failing the test if it hangs.
pub fn enforcer_with_stdin(args: &[&str], stdin: &str) -> Run {
    enforcer_in(&[], args, stdin)
}

/// Runs `WRAPPER enforcer ARGS` with `stdin` (see [`enforcer_command`]),
/// failing the test if it hangs.
pub fn enforcer_in(wrapper: &[String], args: &[&str], stdin: &str) -> Run {
    let started = Instant::now();
    let mut child = enforcer_command(wrapper)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("enforcer starts");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).expect("writes stdin");
    }
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|pipe| Box::new(pipe) as _));
    let stderr = drain(child.stderr.take().map(|pipe| Box::new(pipe) as _));
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if started.elapsed() > HANG_GUARD {
            // Our own, not yet reaped child: its pid cannot have been reused
            // (a wrapper such as `nsenter --net` execs the enforcer).
            child.kill().expect("kills the hung enforcer");
            panic!("enforcer {args:?} hung for {HANG_GUARD:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
        elapsed: started.elapsed(),
    }
}

/// Runs `enforcer ARGS` with empty stdin.
pub fn enforcer(args: &[&str]) -> Run {
    enforcer_with_stdin(args, "")
}

/// Path of an example policy or test fixture, e.g. `tenant_tiers` for
/// `policy_tenant_tiers.wasm` (built on first use, see [`policies`]).
pub fn example(name: &str) -> String {
    policies::example(name).display().to_string()
}

/// Path of a file under `tests/`.
pub fn fixture(relative: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests")
        .join(relative)
        .display()
        .to_string()
}
