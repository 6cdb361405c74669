//! Every rejected form: exit 2, a message on stderr, nothing on stdout.

mod util;

use util::{assert_usage_error, run, socket_path};

#[test]
fn rejects_missing_and_double_targets() {
    assert_usage_error(&[], "required arguments were not provided");
    assert_usage_error(&["--count", "5"], "required arguments were not provided");
    assert_usage_error(
        &["--inet", "127.0.0.1:1", "--unix", "/tmp/x.sock"],
        "cannot be used with",
    );
}

#[test]
fn rejects_bad_counts_and_numbers() {
    assert_usage_error(&["--inet", "127.0.0.1:1", "--rate", "0"], "positive number");
    assert_usage_error(
        &["--inet", "127.0.0.1:1", "--rate", "-1"],
        "positive number",
    );
    assert_usage_error(
        &["--inet", "127.0.0.1:1", "--rate", "fast"],
        "positive number",
    );
    // Once a panic in a dial task (`Duration::from_secs_f64`): 1 of 2 attempted, exit 0.
    assert_usage_error(
        &["--inet", "127.0.0.1:1", "-n", "2", "--rate", "1e-20"],
        "--rate 1e-20 with --count 2",
    );
}

#[test]
fn issue_12_numeric_flags_name_the_flag_the_value_and_the_range() {
    // Once "unexpected argument '-1' found" (no flag named), "number would be zero for
    // non-zero type", "number too large to fit in target type" and "0 is not in 1..=1024".
    let u32_range = "expected a whole number from 1 to 4294967295";
    for (flag, range, too_big) in [
        ("--count", u32_range, "4294967296"),
        ("-n", u32_range, "4294967296"),
        ("--concurrency", u32_range, "4294967296"),
        ("-c", u32_range, "4294967296"),
        (
            "--threads",
            "expected a whole number from 1 to 1024",
            "1025",
        ),
    ] {
        for value in ["-1", "0", "99999999999999999999999", "1.5", "many", too_big] {
            let args = ["--inet", "127.0.0.1:1", flag, value];
            let long = match flag {
                "-n" => "--count",
                "-c" => "--concurrency",
                long => long,
            };
            assert_usage_error(&args, &format!("invalid value '{value}' for '{long} <"));
            assert_usage_error(&args, range);
        }
    }
}

#[test]
fn rejects_bad_inet_addresses() {
    assert_usage_error(&["--inet", "127.0.0.1:0"], "1-65535");
    assert_usage_error(&["--inet", "127.0.0.1:65536"], "1-65535");
    assert_usage_error(&["--inet", "127.0.0.1"], "missing port");
    assert_usage_error(
        &["--inet", "300.1.1.1:80"],
        "not an IP address or host name",
    );
    assert_usage_error(&["--inet", "bad_host:80"], "not an IP address or host name");
    assert_usage_error(&["--inet", "::1:80"], "brackets");
}

/// A name that does not resolve is a usage error. Resolving it asks the DNS server in
/// /etc/resolv.conf, which is off this machine, so the binary runs in a network namespace
/// of its own (`unshare -n`: only a loopback, down) where the query fails locally and no
/// packet leaves; without the privilege for that, the case is skipped, saying so.
#[test]
fn rejects_a_name_that_does_not_resolve_without_sending_a_query_off_the_machine() {
    let isolated = std::process::Command::new("unshare")
        .args(["-n", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !isolated {
        eprintln!("skipped: `unshare -n` is not available or not permitted here");
        return;
    }
    let done = std::process::Command::new("unshare")
        .args(["-n", util::bin(), "--inet", "no-such-host.invalid:80"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(2), "{stderr}");
    assert!(done.stdout.is_empty(), "{done:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("socket-connect: error: "), "{stderr}");
    assert!(stderr.contains("cannot resolve"), "{stderr}");
}

#[test]
fn issue_12_an_empty_unix_path_is_called_empty() {
    // Once answered with host:port advice ("empty address; expected host:port ...").
    assert_usage_error(
        &["--unix", ""],
        "invalid value '' for '--unix <PATH>': the unix socket path is empty; give a path \
         such as /tmp/listen.sock",
    );
}

#[test]
fn rejects_bad_unix_paths() {
    let long = format!("/tmp/{}", "a".repeat(130));
    assert_usage_error(&["--unix", &long], "the limit is 107");
    let (dir, path) = socket_path();
    assert_usage_error(&["--unix", path.to_str().unwrap()], "does not exist");
    let file = dir.path().join("plain");
    std::fs::write(&file, "").unwrap();
    assert_usage_error(
        &["--unix", file.to_str().unwrap()],
        "regular file, not a unix socket",
    );
    assert_usage_error(
        &["--unix", dir.path().to_str().unwrap()],
        "directory, not a unix socket",
    );
    assert_usage_error(
        &["--unix", "/dev/null"],
        "'/dev/null' is a special file, not a unix socket",
    );
}

#[test]
fn rejects_bad_durations() {
    assert_usage_error(
        &["--inet", "127.0.0.1:1", "--timeout", "soon"],
        "not a duration",
    );
    assert_usage_error(&["--inet", "127.0.0.1:1", "--hold", "2x"], "not a duration");
    assert_usage_error(&["--inet", "127.0.0.1:1", "--timeout", "0"], "--timeout 0");
    assert_usage_error(
        &["--inet", "127.0.0.1:1", "--timeout", "-1"],
        "not a duration",
    );
    // Once an `Instant` overflow in every dial task: 0 attempted, exit 0.
    assert_usage_error(
        &[
            "-n",
            "3",
            "--inet",
            "127.0.0.1:1",
            "--timeout",
            "10000000000000000000s",
        ],
        "longer than a year",
    );
}

#[test]
fn issue_12_a_timeout_below_a_millisecond_is_refused() {
    // Once accepted and reported as "timeout_ms": 0.
    for (value, shown) in [("1ns", "1ns"), ("999us", "999µs"), ("0.0005", "500µs")] {
        assert_usage_error(
            &["--inet", "127.0.0.1:1", "--timeout", value],
            &format!(
                "--timeout {shown} is shorter than 1 ms, the resolution of the connect timer; \
                 give 1ms or more, such as 5s"
            ),
        );
    }
}

#[test]
fn rejects_bad_sources() {
    assert_usage_error(
        &["--inet", "127.0.0.1:1", "--source", "nope"],
        "not an IP address",
    );
    assert_usage_error(
        &["--inet", "127.0.0.1:1", "--source", "127.0.0.9-127.0.0.2"],
        "ends before it starts",
    );
    assert_usage_error(&["--inet", "127.0.0.1:1", "--source", "::1"], "family");
    let (_dir, path) = socket_path();
    let _l = util::unix_listener(&path, 1);
    assert_usage_error(
        &["--unix", path.to_str().unwrap(), "--source", "127.0.0.2"],
        "--source applies to --inet",
    );
}

#[test]
fn rejects_a_count_over_the_open_file_limit() {
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let Ok(count) = u32::try_from(hard) else {
        eprintln!("open-file limit too large to exceed with --count; skipped");
        return;
    };
    let count = count.to_string();
    assert_usage_error(
        &["--inet", "127.0.0.1:1", "--count", &count],
        "hard open-file limit",
    );
    let done = run(&["--inet", "127.0.0.1:1", "--count", &count]);
    assert!(done.stderr.contains(&hard.to_string()), "{}", done.stderr);
}

#[test]
fn issue_12_a_tiny_open_file_limit_suggests_no_impossible_count() {
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(util::bin());
    cmd.args(["--inet", "127.0.0.1:1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    listenlab_common::testing::limit_open_files(&mut cmd, 20);
    let out = listenlab_common::testing::output_within(cmd.spawn().unwrap(), util::WAIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--count 1 needs 33 open files")
            && stderr.contains("the hard open-file limit is 20, which leaves no room"),
        "{stderr}"
    );
    assert!(!stderr.contains("lower --count"), "{stderr}");
}

#[test]
fn help_shows_an_example_per_mode() {
    let done = run(&["--help"]);
    assert!(done.status.success());
    let help = done.stdout.join("\n");
    for want in [
        "--count 500 --inet 127.0.0.1:9000",
        "--unix /tmp/",
        "--rate 200",
        "--source 127.0.0.2-127.0.0.9",
        "--hold",
    ] {
        assert!(help.contains(want), "missing {want:?} in help");
    }
}

#[test]
fn issue_12_a_full_stdout_is_named_in_the_error() {
    // `> /dev/full`: every write fails with ENOSPC; once reported without naming stdout.
    let listener = util::tcp_listener(16);
    let addr = listener.local_addr().unwrap().to_string();
    for (args, what) in [
        (&["--hold", "0"][..], "the report"),
        // In JSON the interval lines come first (issue 7).
        (&["--hold", "0", "--format", "json"][..], "an interval line"),
        (
            &["--hold", "10ms", "--format", "json"][..],
            "an interval line",
        ),
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let child = std::process::Command::new(util::bin())
            .args(["-n", "2", "--inet", &addr, "-q"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(full)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = listenlab_common::testing::output_within(child, util::WAIT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(
            stderr,
            format!(
                "socket-connect: error: writing {what} to stdout: No space left on device \
                 (os error 28)\n"
            ),
            "{args:?}"
        );
    }
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let listener = util::tcp_listener(16);
    let addr = listener.local_addr().unwrap().to_string();
    let mut child = std::process::Command::new(util::bin())
        .args(["-n", "2", "--inet", &addr, "--hold", "0"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before the report is written
    let deadline = std::time::Instant::now() + util::WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "did not exit");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn rejects_bad_exchange_flags() {
    let t = ["--inet", "127.0.0.1:1"];
    let with =
        |extra: &[&'static str]| -> Vec<&'static str> { t.iter().chain(extra).copied().collect() };
    assert_usage_error(
        &with(&["--send", "x", "--fastcgi", "/a.php"]),
        "cannot be used with",
    );
    assert_usage_error(
        &with(&["--send", "x", "--send-file", "/etc/hostname"]),
        "cannot be used with",
    );
    assert_usage_error(&with(&["--read", "all"]), "invalid value 'all' for '--read");
    assert_usage_error(&with(&["--read", "all"]), "first-byte, close");
    assert_usage_error(&with(&["--fastcgi", ""]), "the script is empty");
    assert_usage_error(&with(&["--fastcgi", "?a=1"]), "the script is empty");
    assert_usage_error(&with(&["--send", r"a\qb"]), r"bad escape '\q'");
    assert_usage_error(&with(&["--send", r"\x4"]), r"bad escape '\x4'");
    assert_usage_error(
        &with(&["--read-timeout", "0"]),
        "--read-timeout 0ns is shorter than 1 ms",
    );
    let (dir, _) = socket_path();
    let missing = dir.path().join("missing.bin");
    let missing = missing.to_str().unwrap();
    let args = [t[0], t[1], "--send-file", missing];
    assert_usage_error(
        &args,
        &format!("--send-file '{missing}' cannot be read: No such file"),
    );
    let as_dir = dir.path().to_str().unwrap();
    let args = [t[0], t[1], "--send-file", as_dir];
    assert_usage_error(&args, "Is a directory");
}

#[test]
fn issue_7_rejects_bad_sustained_runs_and_output_paths() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/run.hlog");
    let missing = missing.to_str().unwrap();
    let here = dir.path().to_str().unwrap();
    let t = ["--inet", "127.0.0.1:1"];
    let table: &[(&[&str], &str)] = &[
        (
            &["--duration", "5s", "--count", "3"],
            "--count 3 and --duration 5s cannot be used together",
        ),
        (&["--duration", "0"], "--duration 0 is shorter than 1 ms"),
        (
            &["--duration", "soon"],
            "invalid value 'soon' for '--duration",
        ),
        (
            &["--duration", "2s", "--hold", "1s"],
            "--hold 1s applies to --count runs",
        ),
        (&["--interval", "0"], "--interval 0 is shorter than 1 ms"),
        (
            &["--interval", "often"],
            "invalid value 'often' for '--interval",
        ),
        (&["--hlog", missing], "no-such-dir' does not exist"),
        (
            &["--connections-log", missing],
            "no-such-dir' does not exist",
        ),
        (&["--hlog", here], "is a directory, not a regular file"),
        (
            &["--hlog", "same.out", "--connections-log", "same.out"],
            "--hlog and --connections-log both name 'same.out'; give each its own file",
        ),
        (
            &["--connections-log", "/dev/null"],
            "--connections-log '/dev/null': it is a special file, not a regular file",
        ),
    ];
    for (args, reason) in table {
        let all: Vec<&str> = t.iter().chain(args.iter()).copied().collect();
        assert_usage_error(&all, reason);
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing was created"
    );
}

#[test]
fn an_hgrm_path_that_cannot_be_written_is_refused_before_any_connect() {
    let listener = util::tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/run.hgrm");
    let missing = missing.to_str().unwrap();
    let here = dir.path().to_str().unwrap();
    let table = [
        (
            missing,
            format!("--hgrm '{missing}': the directory '"),
            "no-such-dir' does not exist; create it first or give a path in an existing directory",
        ),
        (
            here,
            format!("--hgrm '{here}': it is a directory, not a regular file"),
            "give the path of a file to create or overwrite",
        ),
        (
            "/dev/null",
            "--hgrm '/dev/null': it is a special file, not a regular file".to_owned(),
            "(never overwritten)",
        ),
    ];
    for (path, named, fix) in &table {
        let args = ["-n", "3", "--inet", &addr, "--hold", "0", "--hgrm", path];
        assert_usage_error(&args, named);
        assert_usage_error(&args, fix);
    }
    // Refused before the run: nothing reached the listener, nothing was created.
    assert!(util::drain_tcp(&listener).is_empty(), "a connect was made");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    // A regular file is overwritten with the distribution, as before.
    let file = dir.path().join("old.hgrm");
    std::fs::write(&file, "old").unwrap();
    let done = run(&[
        "-n",
        "3",
        "--inet",
        &addr,
        "--hold",
        "0",
        "--hgrm",
        file.to_str().unwrap(),
    ]);
    assert_eq!(done.status.code(), Some(0), "{done:?}");
    let hgrm = std::fs::read_to_string(&file).unwrap();
    assert!(hgrm.trim_start().starts_with("Value"), "{hgrm}");
    assert!(hgrm.contains("Total count    =            3]"), "{hgrm}");
}
