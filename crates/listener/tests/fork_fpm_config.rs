//! `epoll-listen-fork --fpm-config FILE [--pool NAME]` end to end: a PHP-FPM configuration
//! with an include, comments and `$pool` runs as the flags it implies, PHP-FPM itself
//! (`php-fpm8.2 -tt`, where installed) reads the same values from it, and what PHP-FPM
//! refuses is a one-line usage error (exit 2).

mod fpm_util;
mod util;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use nix::sys::signal::Signal;
use util::report::ForkSummary;
use util::{Running, run_to_end};

const BIN: &str = env!("CARGO_BIN_EXE_epoll-listen-fork");

/// `php-fpm.conf` with a comment and an include of `pool.d/*.conf`, which holds pool
/// `www` (dynamic 4 / 2 / 1 / 3, max_requests 7, backlog 50) listening on `DIR/$pool.sock`.
fn write_config(dir: &Path) -> std::path::PathBuf {
    let d = dir.display();
    std::fs::create_dir(dir.join("pool.d")).unwrap();
    std::fs::write(
        dir.join("pool.d/www.conf"),
        format!(
            "; the pool\n[www]\nuser = nobody\nlisten = {d}/$pool.sock ; $pool is www\n\
             listen.backlog = 50\npm = dynamic\npm.max_children = 4\n\
             pm.start_servers = 2\npm.min_spare_servers = 1\npm.max_spare_servers = 3\n\
             pm.max_requests = 7\npm.status_path = /status\n"
        ),
    )
    .unwrap();
    let main = dir.join("php-fpm.conf");
    std::fs::write(
        &main,
        format!(
            "[global]\n; where PHP-FPM logs\nerror_log = {d}/error.log\n\
             include = {d}/pool.d/*.conf\n"
        ),
    )
    .unwrap();
    main
}

/// The flags the configuration implies (besides the address).
const IMPLIED: [&str; 14] = [
    "--model",
    "dynamic",
    "--max-children",
    "4",
    "--start-servers",
    "2",
    "--min-spare-servers",
    "1",
    "--max-spare-servers",
    "3",
    "--max-requests",
    "7",
    "--backlog",
    "50",
];

/// Runs until the start servers are forked and one maintenance tick has passed, then stops;
/// returns the summary and the event names in order (without the times).
fn run_one_tick(args: &[&str]) -> (ForkSummary, Vec<String>, String) {
    let mut all = vec!["--format", "json", "--sleep", "0"];
    all.extend_from_slice(args);
    let mut run = Running::start(BIN, &all);
    run.wait_event("spawn_rate", |_| true);
    run.signal(Signal::SIGTERM);
    assert!(run.finish().success());
    let summary: ForkSummary = serde_json::from_value(run.summary()).expect("summary");
    let events = run
        .seen
        .iter()
        .filter_map(|v| v["event"].as_str().map(str::to_owned))
        .filter(|e| e != "sample")
        .collect();
    (summary, events, run.stderr_so_far())
}

#[test]
fn a_pool_file_with_an_include_and_comments_runs_as_the_flags_it_implies() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_config(dir.path());
    let conf = conf.to_str().unwrap();
    let (file, file_events, stderr) = run_one_tick(&["--fpm-config", conf]);
    let flags_sock = dir.path().join("flags.sock");
    let mut implied = vec!["--unix", flags_sock.to_str().unwrap()];
    implied.extend_from_slice(&IMPLIED);
    let (flags, flags_events, _) = run_one_tick(&implied);

    assert_eq!(file.addr, dir.path().join("www.sock").display().to_string());
    assert_eq!(
        (
            file.model.as_str(),
            file.trigger.as_str(),
            file.backlog_requested
        ),
        (
            flags.model.as_str(),
            flags.trigger.as_str(),
            flags.backlog_requested
        )
    );
    assert_eq!(
        (file.model.as_str(), file.backlog_requested),
        ("dynamic", 50)
    );
    assert_eq!(file.counts.forks, 2, "the two start servers: {file:?}");
    assert_eq!(file.counts.forks, flags.counts.forks);
    assert_eq!(file_events, flags_events);
    // The entries not modelled, named once.
    let notes: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("not modelled"))
        .collect();
    assert_eq!(notes.len(), 1, "{stderr}");
    assert!(
        notes[0].contains("[www] user, pm.status_path; [global] error_log"),
        "{stderr}"
    );
}

#[test]
fn flags_override_the_file_and_the_pool_is_chosen_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_config(dir.path());
    // A second pool: now --pool is needed.
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("[other]\nlisten = /tmp/other.sock\npm = static\npm.max_children = 9\n");
    std::fs::write(&conf, text).unwrap();
    let conf = conf.to_str().unwrap();
    let sock = dir.path().join("over.sock");
    let (summary, _, _) = run_one_tick(&[
        "--fpm-config",
        conf,
        "--pool",
        "www",
        "--unix",
        sock.to_str().unwrap(),
        "--start-servers",
        "3",
    ]);
    assert_eq!(summary.addr, sock.display().to_string());
    assert_eq!(summary.counts.forks, 3, "{summary:?}");
    assert_eq!(summary.backlog_requested, 50);
}

/// `php-fpm8.2 -tt -y FILE`'s dump of pool `pool`: `key = value` from its NOTICE lines.
fn php_fpm_reads(fpm: &Path, conf: &Path, pool: &str) -> BTreeMap<String, String> {
    let out = Command::new(fpm)
        .arg("-tt")
        .arg("-y")
        .arg(conf)
        .output()
        .expect("php-fpm -tt");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "php-fpm -tt refused it:\n{text}");
    let mut in_pool = false;
    let mut values = BTreeMap::new();
    for line in text.lines() {
        let Some((_, rest)) = line.split_once("NOTICE: ") else {
            continue;
        };
        if rest.starts_with('[') {
            in_pool = rest == format!("[{pool}]");
        } else if in_pool && let Some((k, v)) = rest.trim().split_once(" = ") {
            values.insert(k.to_owned(), v.to_owned());
        }
    }
    values
}

#[test]
fn php_fpm_reads_the_same_values_from_the_file() {
    let Some(fpm) = fpm_util::php_fpm() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = write_config(dir.path());
    let read = php_fpm_reads(&fpm, &conf, "www");
    let www = dir.path().join("www.sock").display().to_string();
    // What the simulator took from the file (the test above: the same run as IMPLIED).
    let ours: BTreeMap<&str, &str> = IMPLIED.chunks(2).map(|pair| (pair[0], pair[1])).collect();
    for (key, flag) in [
        ("pm", "--model"),
        ("pm.max_children", "--max-children"),
        ("pm.start_servers", "--start-servers"),
        ("pm.min_spare_servers", "--min-spare-servers"),
        ("pm.max_spare_servers", "--max-spare-servers"),
        ("pm.max_requests", "--max-requests"),
        ("listen.backlog", "--backlog"),
    ] {
        assert_eq!(
            read.get(key).map(String::as_str),
            Some(ours[flag]),
            "{key}: {read:?}"
        );
    }
    assert_eq!(read.get("listen"), Some(&www), "{read:?}");
    assert_eq!(
        read.get("pm.max_spawn_rate").map(String::as_str),
        Some("32")
    );
}

#[test]
fn what_php_fpm_refuses_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let write = |name: &str, text: &str| {
        let path = d.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let missing = d.join("missing.conf").display().to_string();
    let syntax = write("syntax.conf", "[www]\nlisten = /tmp/x.sock\npm dynamic\n");
    let no_pool = write("no-pool.conf", "[global]\nerror_log = /tmp/x.log\n");
    let two = write(
        "two.conf",
        "[a]\nlisten = /tmp/a.sock\npm = static\npm.max_children = 1\n\
         [b]\nlisten = /tmp/b.sock\npm = static\npm.max_children = 1\n",
    );
    let bad_pm = write("pm.conf", "[www]\nlisten = /tmp/x.sock\npm = adaptive\n");
    let spares = write(
        "spares.conf",
        "[www]\nlisten = /tmp/x.sock\npm = dynamic\npm.max_children = 5\n\
         pm.min_spare_servers = 4\npm.max_spare_servers = 2\n",
    );
    let table: [(&[&str], &str); 7] = [
        (
            &["--fpm-config", &missing],
            "failed to open configuration file",
        ),
        (&["--fpm-config", &syntax], "syntax.conf:3: syntax error"),
        (&["--fpm-config", &no_pool], "at least one pool section"),
        (&["--fpm-config", &two], "choose one with --pool NAME"),
        (&["--fpm-config", &two, "--pool", "c"], "has no pool [c]"),
        (&["--fpm-config", &bad_pm], "invalid process manager"),
        (
            &["--fpm-config", &spares],
            "pm.max_spare_servers(2) must not be less",
        ),
    ];
    for (args, want) in table {
        let out = run_to_end(BIN, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    // --pool without --fpm-config: clap's own usage error.
    let out = run_to_end(BIN, &["--inet", "0", "--pool", "www"]);
    assert_eq!(out.status.code(), Some(2));
}
