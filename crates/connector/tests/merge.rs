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
    Report, assert_refused, assert_usage_error, closed_port, decode_histogram, parse_report, run,
    run_json, run_with_stdin, tcp_listener,
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
        (
            &unix,
            &format!(": is a unix report and '{g}' a tcp one: unix and TCP latencies"),
        ),
        (
            &paced,
            &format!(
                ": measured connect_latency_raw_us, which '{g}' did not; only runs with the \
                 same --read and --rate (on or off) can be merged"
            ),
        ),
        (&missing, "cannot be read"),
    ];
    for (bad, reason) in cases {
        let bad = bad.to_str().unwrap();
        let line = assert_usage_error(&["merge", g, bad], reason);
        assert!(
            line.starts_with(&format!("socket-connect: error: merge '{bad}': ")),
            "{line}"
        );
        // The file at fault is named once, the first one (if at all) once too.
        assert_eq!(line.matches(bad).count(), 1, "{line}");
        assert!(line.matches(g).count() <= 1, "{line}");
    }
    // The same mismatch the other way round: named once, saying what it lacks.
    let p = paced.to_str().unwrap();
    let line = assert_usage_error(
        &["merge", p, g],
        &format!("merge '{g}': did not measure connect_latency_raw_us, which '{p}' did; only runs"),
    );
    assert_eq!((line.matches(g).count(), line.matches(p).count()), (1, 1));
    // Histograms of other settings: what they are and what was expected.
    assert_usage_error(
        &["merge", g, other_settings.to_str().unwrap()],
        &format!(
            "connect_latency_us.histogram tracks 1..60000000 us at 2 significant figures, \
             not 1..3600000000 us at 3 as in '{g}'"
        ),
    );
}

#[test]
fn merge_reads_one_report_from_stdin_and_writes_the_runs_hgrm() {
    let listener = tcp_listener(1024);
    let addr = listener.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run_hgrm = d.join("a.hgrm");
    let (a, a_file) = run_to_file(
        d,
        "a.json",
        &[
            "-n",
            "30",
            "--inet",
            &addr,
            "--hold",
            "0",
            "--hgrm",
            run_hgrm.to_str().unwrap(),
        ],
    );
    let (b, b_file) = run_to_file(d, "b.json", &["-n", "20", "--inet", &addr, "--hold", "0"]);
    let (a_path, b_path) = (a_file.to_str().unwrap(), b_file.to_str().unwrap());

    // One report alone: the merge's --hgrm is the run's, byte for byte.
    let merged_hgrm = d.join("m.hgrm");
    let m = merged_hgrm.to_str().unwrap();
    let done = run(&["merge", a_path, "--hgrm", m]);
    assert_eq!(done.status.code(), Some(0), "{done:?}");
    assert_eq!(
        std::fs::read_to_string(&merged_hgrm).unwrap(),
        std::fs::read_to_string(&run_hgrm).unwrap()
    );

    // `-` is b's report on stdin; the .hgrm holds both runs' samples.
    let stdin = std::fs::read(&b_file).unwrap();
    let args = ["merge", a_path, "-", "--format", "json", "--hgrm", m];
    let done = run_with_stdin(&args, &stdin);
    assert_eq!(done.status.code(), Some(0), "{done:?}");
    let merged = parse_report(&done);
    assert_eq!(
        (merged.runs, merged.connected),
        (2, a.connected + b.connected)
    );
    let hgrm = std::fs::read_to_string(&merged_hgrm).unwrap();
    let total = format!("Total count    = {:12}]", a.connected + b.connected);
    assert!(hgrm.contains(&total), "{hgrm}");
    let max = format!("#[Max     = {:12.3},", merged.connect_latency_us.max as f64);
    assert!(hgrm.contains(&max), "{hgrm}");

    // Bad stdin is named as such; `-` twice, and a --hgrm that cannot be written or is one
    // of the reports, are refused before any report is read (stdin left unread).
    let args = ["merge", a_path, "-"];
    let done = run_with_stdin(&args, b"target  127.0.0.1:1 (tcp)\n");
    assert_refused(
        &args,
        &done,
        "merge stdin: not a socket-connect report: line 1 is not a JSON object",
    );
    let args = ["merge", "-", b_path, "-"];
    let done = run_with_stdin(&args, &stdin);
    assert_refused(
        &args,
        &done,
        "merge '-' (stdin) is given 2 times; stdin holds one report, give the others as files",
    );
    let bad_dir = d.join("no-such-dir/m.hgrm");
    let bad_dir = bad_dir.to_str().unwrap();
    assert_usage_error(
        &["merge", a_path, "--hgrm", bad_dir],
        &format!("merge --hgrm '{bad_dir}': the directory '"),
    );
    assert_usage_error(
        &["merge", a_path, "--hgrm", "/dev/null"],
        "merge --hgrm '/dev/null': it is a special file, not a regular file",
    );
    assert_usage_error(
        &["merge", a_path, b_path, "--hgrm", b_path],
        &format!("merge --hgrm '{b_path}' is one of the reports to merge; give another file"),
    );
    let before = std::fs::read_to_string(&b_file).unwrap();
    let dotted = format!("{}/./b.json", d.display());
    assert_usage_error(
        &["merge", &dotted, "--hgrm", b_path],
        &format!("is one of the reports to merge (given as '{dotted}')"),
    );
    assert_eq!(
        std::fs::read_to_string(&b_file).unwrap(),
        before,
        "left alone"
    );
}
