//! Helpers for the probe's integration tests: run `epoll-socket-test` with a bounded wait
//! (killed if it overstays), and the JSON report as test-local structs that reject
//! unknown fields, so a renamed field fails loudly.

#![allow(dead_code)]

use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[allow(unused_imports)] // each test file uses a different subset
pub use listenlab_common::testing::{children_of, state_and_parent};
use listenlab_common::testing::{output_within, pump_lines};
use serde::Deserialize;

/// The longest any probe run in these tests may take.
pub const RUN_WITHIN: Duration = Duration::from_secs(60);

/// The probe binary built for this test run.
pub fn probe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_epoll-socket-test"))
}

/// Runs the probe with `args` and returns its output; kills it after [`RUN_WITHIN`].
pub fn run(args: &[&str]) -> Output {
    let child = probe()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the probe starts");
    wait_output(child)
}

/// Waits for `child` to finish (bounded by [`RUN_WITHIN`]) and returns its output.
pub fn wait_output(child: Child) -> Output {
    output_within(child, RUN_WITHIN)
}

/// Runs the probe with `--format json` plus `args`, expects exit 0, parses the report.
pub fn report(args: &[&str]) -> Report {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&out.stdout)
}

/// Parses a JSON report (one object, newline-terminated).
pub fn parse(stdout: &[u8]) -> Report {
    let text = std::str::from_utf8(stdout).expect("utf-8 output");
    assert!(text.ends_with('\n'), "JSON output ends with a newline");
    assert_eq!(
        text.trim_end().lines().count(),
        1,
        "one JSON object on one line"
    );
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Starts the probe with `args` (which should include `--progress`), stdout and stderr
/// piped; returns it with a channel of its stderr lines.
pub fn spawn_with_progress(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = probe();
    cmd.args(args);
    spawn_lines(cmd)
}

/// Starts `cmd` (a [`probe`] with its arguments) with stdout and stderr piped; returns it
/// with a channel of its stderr lines.
pub fn spawn_lines(mut cmd: Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the probe starts");
    let lines = stderr_lines(&mut child);
    (child, lines)
}

/// Reads lines from `child`'s stderr on a thread; each arrives on the returned channel.
pub fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    pump_lines(child.stderr.take().expect("stderr is piped"))
}

/// The remaining lines of a channel from [`stderr_lines`], up to the end of the stream
/// (the probe has exited), each waited for at most [`RUN_WITHIN`].
pub fn remaining(lines: &mpsc::Receiver<String>) -> Vec<String> {
    let mut rest = Vec::new();
    while let Ok(line) = lines.recv_timeout(RUN_WITHIN) {
        rest.push(line);
    }
    rest
}

/// The report, as the tests read it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub kernel: String,
    pub connect_from: String,
    pub single_waiter: Vec<Single>,
    pub waiters: Vec<Waiters>,
    pub overflow: Vec<Overflow>,
    pub differences: u64,
    pub elapsed_ms: u64,
}

impl Report {
    /// The single-waiter record for this family, trigger and step.
    pub fn cell(&self, family: &str, trigger: &str, step: &str) -> &Single {
        self.single_waiter
            .iter()
            .find(|r| r.family == family && r.trigger == trigger && r.step == step)
            .unwrap_or_else(|| panic!("no cell {family} {trigger} {step}"))
    }

    /// The several-waiters record for this family, scenario and mode.
    pub fn waiters(&self, family: &str, scenario: &str, mode: &str) -> &Waiters {
        self.waiters
            .iter()
            .find(|r| r.family == family && r.scenario == scenario && r.mode == mode)
            .unwrap_or_else(|| panic!("no waiters record {family} {scenario} {mode}"))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Single {
    pub family: String,
    pub address: String,
    pub trigger: String,
    pub connect_from: String,
    pub step: String,
    pub first: u64,
    pub second: u64,
    pub first_flags: Vec<String>,
    pub second_flags: Vec<String>,
    pub strict_edge_first: u64,
    pub strict_edge_second: u64,
    pub differs: bool,
    pub queue_len: u32,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiters {
    pub family: String,
    pub scenario: String,
    pub mode: String,
    pub waiters: u64,
    pub connections: u64,
    pub woken: u64,
    pub accepting: Option<u64>,
    pub per_waiter: Vec<u64>,
    pub wakeups_per_waiter: Vec<u64>,
    pub empty_wakeups_per_waiter: Vec<u64>,
    pub eagain_per_waiter: Vec<u64>,
    pub order: Vec<u64>,
    pub fifo: Option<bool>,
    pub blocked_in: Vec<String>,
    pub error: Option<String>,
    pub observed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overflow {
    pub family: String,
    pub address: String,
    pub backlog: u32,
    pub queue_len: u32,
    pub queue_max: u32,
    pub events: u64,
    pub queue_len_after_each: Vec<u32>,
    pub events_after_each: Vec<u64>,
    pub extra_connects: Vec<Extra>,
    pub listen_overflows_delta: Option<u64>,
    pub listen_drops_delta: Option<u64>,
    pub queue_len_after_accept: u32,
    pub window_ms: u64,
    pub events_after_accept: Vec<Timed>,
    pub queue_len_after_window: u32,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extra {
    pub index: u64,
    pub result: String,
    pub state: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timed {
    pub at_ms: u64,
    pub flags: Vec<String>,
}

/// True while `pid` runs or sleeps (not gone, not a zombie waiting to be reaped).
pub fn alive(pid: i32) -> bool {
    matches!(state_and_parent(pid), Some((state, _)) if state != 'Z' && state != 'X')
}

/// Processes whose command line mentions `marker` (forked children share the probe's);
/// zombies have an empty command line and so never match.
pub fn processes_mentioning(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(marker)
        {
            found.push(name);
        }
    }
    found
}

/// Polls `done` every 5 ms until it holds or `within` has passed; whether it held. For
/// states with no notification (a process gone, a socket closed), bounded.
pub fn poll_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
