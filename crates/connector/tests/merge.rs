//! `socket-connect merge`: real runs against listeners made in the test, their JSON
//! reports written to files and merged; the merged counts are the sums and the merged
//! histograms hold every run's samples. Then every file merge refuses, named.

mod util;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};

use serde_json::Value;
use util::{
    Report, assert_usage_error, closed_port, decode_histogram, parse_report, run, run_json,
    tcp_listener,
};

/// Runs socket-connect with `--format json` and `args`, writes its whole stdout to
/// `dir/name` and returns the report.
fn run_to_file(dir: &Path, name: &str, args: &[&str]) -> (Report, PathBuf) {
    let (report, done) = run_json(args);
    assert_eq!(done.status.code(), Some(0), "{done:?}");
    let path = dir.join(name);
    std::fs::write(&path, done.stdout.join("\n") + "\n").unwrap();
    (report, path)
}

/// `socket-connect merge FILES --format json`, expected to succeed.
fn merge_json(files: &[&Path]) -> (Report, String) {
    let mut args = vec!["merge".to_owned()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["--format".into(), "json".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = run(&args);
    assert_eq!(done.status.code(), Some(0), "{done:?}");
    (parse_report(&done), done.stderr)
}

#[test]
fn merged_runs_add_up_to_their_totals() {
    let listener = tcp_listener(1024);
    let addr = listener.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a, a_file) = run_to_file(d, "a.json", &["-n", "30", "--inet", &addr, "--hold", "0"]);
    let (b, b_file) = run_to_file(d, "b.json", &["-n", "20", "--inet", &addr, "--hold", "0"]);
    let refused = closed_port().to_string();
    let (c, c_file) = run_to_file(d, "c.json", &["-n", "4", "--inet", &refused, "--hold", "0"]);
    assert_eq!((a.connected, b.connected, c.failed), (30, 20, 4));
    // An interval line, as --interval writes them, is skipped.
    let with_event = format!(
        "{{\"event\":\"interval\",\"t_ms\":1.0,\"attempted\":30}}\n{}",
        std::fs::read_to_string(&a_file).unwrap()
    );
    std::fs::write(&a_file, with_event).unwrap();

    let (m, stderr) = merge_json(&[&a_file, &b_file, &c_file]);
    m.check_invariants();
    assert_eq!(m.runs, 3);
    assert_eq!((m.attempted, m.connected, m.failed), (54, 50, 4));
    assert_eq!((m.errors.refused, m.errors.timeout), (4, 0));
    assert_eq!(m.target, addr, "the first report's target");
    assert!(
        stderr.contains("socket-connect: warning: ") && stderr.contains(&refused),
        "{stderr}"
    );
    let (l, la, lb) = (
        &m.connect_latency_us,
        &a.connect_latency_us,
        &b.connect_latency_us,
    );
    assert_eq!(l.count, la.count + lb.count);
    assert_eq!(l.max, la.max.max(lb.max));
    assert_eq!(l.min, la.min.min(lb.min));
    assert!(
        la.p50.min(lb.p50) <= l.p50 && l.p50 <= la.p50.max(lb.p50),
        "{l:?}"
    );
    let mut sum = decode_histogram(&la.histogram);
    sum.add(decode_histogram(&lb.histogram)).unwrap();
    assert_eq!(decode_histogram(&l.histogram), sum);
    assert_eq!(l.p99, sum.value_at_quantile(0.99));
    assert_eq!(m.concurrency, a.concurrency + b.concurrency + c.concurrency);

    // A merged report merges again: its runs and counts add up.
    let merged_file = d.join("m.json");
    let files = [&a_file, &b_file, &c_file].map(|f| f.to_str().unwrap());
    let done = run(&["merge", files[0], files[1], files[2], "--format", "json"]);
    std::fs::write(&merged_file, done.stdout.join("\n")).unwrap();
    let (again, _) = merge_json(&[&merged_file, &b_file]);
    assert_eq!(
        (again.runs, again.connected, again.connect_latency_us.count),
        (4, 70, 70)
    );

    let text = run(&["merge", a_file.to_str().unwrap(), b_file.to_str().unwrap()]);
    assert_eq!(text.status.code(), Some(0));
    let text = text.stdout.join("\n");
    assert!(
        text.contains("2 merged") && text.contains("50 attempted, 50 connected"),
        "{text}"
    );
}

#[test]
fn merge_refuses_bad_input_naming_the_file() {
    let listener = tcp_listener(1024);
    let addr = listener.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, good) = run_to_file(d, "good.json", &["-n", "3", "--inet", &addr, "--hold", "0"]);
    let good_text = std::fs::read_to_string(&good).unwrap();
    let report_line = good_text
        .lines()
        .find(|l| !l.contains("\"event\""))
        .unwrap();
    let report: Value = serde_json::from_str(report_line).unwrap();
    let write = |name: &str, text: String| {
        let path = d.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let edited = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut r = report.clone();
        edit(&mut r);
        write(name, r.to_string())
    };
    let text_report = write("text.json", "target  127.0.0.1:1 (tcp)\n".into());
    let no_report = write("events.json", "{\"event\":\"holding\",\"open\":3}\n".into());
    let no_hist = edited("old.json", &|r| {
        r["connect_latency_us"]
            .as_object_mut()
            .unwrap()
            .remove("histogram");
    });
    let other_settings = edited("sigfig2.json", &|r| {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).unwrap();
        h.record(20).unwrap();
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&h, &mut bytes)
            .unwrap();
        r["connect_latency_us"]["histogram"] = base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into();
    });
    let garbage = edited("garbage.json", &|r| {
        r["connect_latency_us"]["histogram"] = "@@@".into();
    });
    let (_sock_dir, sock) = util::socket_path();
    let _unix = util::unix_listener(&sock, 64);
    let (_, unix) = run_to_file(
        d,
        "unix.json",
        &["-n", "2", "--unix", sock.to_str().unwrap(), "--hold", "0"],
    );
    let (_, paced) = run_to_file(
        d,
        "paced.json",
        &["-n", "2", "--rate", "1000", "--inet", &addr, "--hold", "0"],
    );
    let missing = d.join("missing.json");

    let g = good.to_str().unwrap();
    let cases: [(&Path, &str); 8] = [
        (
            &text_report,
            "not a socket-connect report: line 1 is not a JSON object",
        ),
        (&no_report, "no report line"),
        (&no_hist, "without histograms"),
        (
            &other_settings,
            "histograms with different settings cannot be added",
        ),
        (&garbage, "connect_latency_us.histogram is not base64"),
        (&unix, "a unix report cannot be merged with the tcp reports"),
        (&paced, "measured connect_latency_raw_us"),
        (&missing, "cannot be read"),
    ];
    for (bad, reason) in cases {
        let bad = bad.to_str().unwrap();
        assert_usage_error(&["merge", g, bad], reason);
        assert_usage_error(&["merge", g, bad], &format!("merge '{bad}'"));
    }
}
