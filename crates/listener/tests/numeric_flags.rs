//! The numeric flags of `epoll-socket-test` and `epoll-listen-fork`: a negative, zero,
//! out-of-range, too-large or malformed value is one usage error (exit 2, nothing on
//! stdout) naming the flag, the value and the accepted range, in the wording of
//! `listenlab_common::whole_number` rather than clap's internal one (issue 12).

use std::process::{Command, Stdio};
use std::time::Duration;

use listenlab_common::testing::output_within;

const PROBE: &str = env!("CARGO_BIN_EXE_epoll-socket-test");
const FORK: &str = env!("CARGO_BIN_EXE_epoll-listen-fork");

/// Runs `bin` with `args` and checks the one-line usage error for `flag` and `value`.
fn assert_range_error(bin: &str, args: &[&str], flag: &str, value: &str, range: &str) {
    let child = Command::new(bin)
        .args(args)
        .arg(flag)
        .arg(value)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_within(child, Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let what = format!("{flag} {value}");
    assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
    assert!(out.stdout.is_empty(), "{what}: stdout {:?}", out.stdout);
    assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
    let want = format!("invalid value '{value}' for '{flag} <");
    assert!(stderr.contains(&want), "{what}: want {want:?} in {stderr}");
    let want = format!("expected a whole number from {range}");
    assert!(stderr.contains(&want), "{what}: want {want:?} in {stderr}");
}

/// Values every numeric flag refuses: negative (once "unexpected argument '-1' found",
/// without the flag), zero, past `u64` ("number too large to fit in target type") and
/// not a number.
const ALWAYS_BAD: [&str; 5] = ["-1", "0", "99999999999999999999999", "1.5", "many"];

#[test]
fn issue_12_probe_numeric_flags_name_the_flag_the_value_and_the_range() {
    for (flag, range, too_big) in [
        ("--waiters", "1 to 64", "65"),
        ("--backlog", "1 to 4096", "4097"),
    ] {
        for value in ALWAYS_BAD.into_iter().chain([too_big]) {
            assert_range_error(PROBE, &[], flag, value, range);
        }
    }
}

#[test]
fn issue_12_fork_numeric_flags_name_the_flag_the_value_and_the_range() {
    let target = ["--inet", "127.0.0.1:0"];
    for (flag, range, too_big) in [
        ("--max-children", "1 to 100000", "100001"),
        ("--backlog", "1 to 1000000", "1000001"),
        (
            "--exit-after",
            "1 to 18446744073709551615",
            "18446744073709551616",
        ),
        (
            "--max-requests",
            "1 to 18446744073709551615",
            "18446744073709551616",
        ),
    ] {
        for value in ALWAYS_BAD.into_iter().chain([too_big]) {
            assert_range_error(FORK, &target, flag, value, range);
        }
    }
}
