//! `--plot FILE.svg` (issue 11): real runs against loopback peers draw a picture whose
//! plotted points (read back from its `<metadata>` with an XML parser) match the report,
//! and a path that cannot be written is refused before the run.

mod util;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::FileTypeExt;

use listenlab_common::plot::read::PlotFile;
use util::{Latency, run, run_json, tcp_listener};

/// The report's value in the unit the picture chose (ms from 10 ms up).
fn in_plot_unit(us: u64, max_us: u64) -> f64 {
    if max_us >= 10_000 {
        us as f64 / 1000.0
    } else {
        us as f64
    }
}

/// The spectrum series `name` of the panel whose caption starts with `title` runs from
/// the report's min to its max, in x order. The panel's unit follows the largest value it
/// shows, `unit_max_us` (under `--rate`, the corrected max: the raw series shares its unit).
fn check_spectrum(plot: &PlotFile, title: &str, name: &str, report: &Latency, unit_max_us: u64) {
    let panel = plot.panel(title);
    let points = PlotFile::points(panel, name);
    let first = points.first().expect("a spectrum point");
    let last = points.last().unwrap();
    assert_eq!(first[0], 1.0, "{title}: starts at 0%");
    assert_eq!(
        first[1],
        in_plot_unit(report.min, unit_max_us),
        "{title} {name} min"
    );
    assert_eq!(
        last[1],
        in_plot_unit(report.max, unit_max_us),
        "{title} {name} max"
    );
    assert_eq!(Some(last[0]), panel["x"]["percentile"]["top"].as_f64());
    assert!(
        points
            .windows(2)
            .all(|w| w[0][0] < w[1][0] && w[0][1] <= w[1][1])
    );
}

#[test]
fn the_spectrum_of_a_paced_run_ends_at_the_reports_max_corrected_and_raw() {
    let listener = tcp_listener(1024);
    let addr = listener.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("connect.svg");
    let args = [
        "-n",
        "200",
        "--rate",
        "2000",
        "--inet",
        &addr,
        "--hold",
        "0",
        "--plot",
        file.to_str().unwrap(),
    ];
    let (report, done) = run_json(&args);
    assert!(done.status.success(), "{}", done.stderr);
    assert_eq!(report.connected, 200);
    let plot = PlotFile::read(&file);
    let title = plot.figure["title"].as_str().unwrap();
    assert!(
        title.contains(&addr) && title.contains("200 of 200"),
        "{title}"
    );
    let subtitle = plot.figure["subtitle"].as_str().unwrap();
    assert!(
        subtitle.contains(" · socket-connect --format json -n 200 --rate 2000"),
        "{subtitle}"
    );
    check_spectrum(
        &plot,
        "connect latency",
        "corrected",
        &report.connect_latency_us,
        report.connect_latency_us.max,
    );
    check_spectrum(
        &plot,
        "connect latency",
        "raw",
        report.connect_latency_raw_us.as_ref().unwrap(),
        report.connect_latency_us.max,
    );
    for label in [
        "percentile (log scale of 1/(1-p))",
        "90%",
        "99%",
        "max",
        "corrected",
        "raw",
    ] {
        assert!(plot.has_text(label), "{label}: {:?}", plot.texts);
    }
    assert!(
        plot.texts
            .iter()
            .any(|t| t.starts_with("connect latency (")),
        "{:?}",
        plot.texts
    );
    // The run's intervals: the connects per interval add up to the report's.
    let connected = PlotFile::points(
        plot.panel("socket-connect: connects and failures per interval"),
        "connected",
    );
    let total: f64 = connected.iter().map(|p| p[1]).sum();
    assert_eq!(total, report.connected as f64, "{connected:?}");
}

#[test]
fn every_measured_phase_gets_a_spectrum() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let peer = std::thread::spawn(move || {
        for _ in 0..20 {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(util::WAIT)).unwrap();
            let mut byte = [0u8; 1];
            s.read_exact(&mut byte).unwrap();
            s.write_all(b"hello").unwrap();
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("phases.svg");
    let args = [
        "-n",
        "20",
        "-c",
        "4",
        "--inet",
        &addr,
        "--send",
        "x",
        "--read",
        "close",
        "--plot",
        file.to_str().unwrap(),
    ];
    let (report, done) = run_json(&args);
    peer.join().unwrap();
    assert!(done.status.success(), "{}", done.stderr);
    let plot = PlotFile::read(&file);
    check_spectrum(
        &plot,
        "connect latency",
        "latency",
        &report.connect_latency_us,
        report.connect_latency_us.max,
    );
    let first_byte = report.first_byte_latency_us.as_ref().unwrap();
    check_spectrum(
        &plot,
        "first byte latency",
        "latency",
        first_byte,
        first_byte.max,
    );
    let complete = report.complete_latency_us.as_ref().unwrap();
    assert_eq!(complete.count, 20);
    check_spectrum(&plot, "complete latency", "latency", complete, complete.max);
}

#[test]
fn a_run_with_no_connect_still_draws_a_picture_that_says_so() {
    let closed = util::closed_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("none.svg");
    let (report, done) = run_json(&[
        "-n",
        "3",
        "--inet",
        &closed,
        "--plot",
        file.to_str().unwrap(),
    ]);
    assert!(done.status.success(), "{}", done.stderr);
    assert_eq!(report.connected, 0);
    let plot = PlotFile::read(&file);
    assert!(PlotFile::points(plot.panel("connect latency"), "latency").is_empty());
    assert!(plot.has_text("no connect sample"), "{:?}", plot.texts);
}

#[test]
fn plot_paths_that_cannot_be_written_are_refused_before_the_run() {
    let listener = tcp_listener(16);
    let addr = listener.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir.svg");
    let fifo = dir.path().join("fifo.svg");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let cases = [
        (missing.to_str().unwrap(), "does not exist"),
        (dir.path().to_str().unwrap(), "not a regular file"),
        (fifo.to_str().unwrap(), "not a regular file"),
        ("/dev/null", "not a regular file"),
    ];
    for (path, why) in cases {
        let done = run(&["-n", "1", "--inet", &addr, "--plot", path]);
        assert_eq!(done.status.code(), Some(2), "{path}: {}", done.stderr);
        assert!(done.stdout.is_empty(), "{path}: {:?}", done.stdout);
        let stderr = done.stderr.trim_end();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("'--plot <FILE.svg>'") && stderr.contains(why),
            "{stderr}"
        );
    }
    // Nothing connected: the check came before the run.
    assert!(util::drain_tcp(&listener).is_empty());
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn sigint_while_holding_still_writes_the_picture() {
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("held.svg");
    let args = [
        "--format",
        "json",
        "-n",
        "5",
        "--inet",
        &addr,
        "--plot",
        file.to_str().unwrap(),
    ];
    let mut c = util::Connector::spawn(&args);
    let holding: util::Holding = serde_json::from_str(&c.next_event_line()).unwrap();
    assert_eq!(holding.open, 5);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c.pid() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let done = c.finish();
    assert!(done.status.success(), "{}", done.stderr);
    let report = util::parse_report(&done);
    let plot = PlotFile::read(&file);
    let points = PlotFile::points(plot.panel("connect latency"), "latency");
    assert_eq!(
        points.last().unwrap()[1],
        in_plot_unit(report.connect_latency_us.max, report.connect_latency_us.max)
    );
}
