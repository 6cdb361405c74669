//! `epoll-listen-fork --plot FILE.svg` (issue 11): real runs (real forks, real loopback
//! clients) draw a picture whose plotted points, read back from its `<metadata>` with an
//! XML parser, match the summary; a run with nothing to draw says so; bad paths exit 2
//! before the listener is bound.

mod util;

use std::net::TcpStream;

use listenlab_common::plot::read::PlotFile;
use nix::sys::signal::Signal;
use util::Running;
use util::report::ForkSummary;

const BIN: &str = env!("CARGO_BIN_EXE_epoll-listen-fork");

fn stop(run: &mut Running, signal: Signal) -> ForkSummary {
    run.signal(signal);
    assert!(run.finish().success());
    let s: ForkSummary = serde_json::from_value(run.summary()).expect("summary shape");
    assert_eq!(s.counts.check(), Ok(()), "{s:?}");
    s
}

#[test]
fn sigint_writes_a_timeline_whose_markers_and_counts_match_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fork.svg");
    let path = file.to_str().unwrap();
    let mut run = Running::ondemand(
        BIN,
        &["--max-children", "3", "--sleep", "60s", "--plot", path],
    );
    let mut clients = Vec::new();
    for n in 1..=3u64 {
        clients.push(TcpStream::connect(&run.addr).unwrap());
        run.wait_event("child_accepted", |v| v["total_accepted"] == n);
    }
    for _ in 0..2 {
        clients.push(TcpStream::connect(&run.addr).unwrap());
    }
    run.wait_event("max_children", |_| true);
    run.wait_event("queue", |v| v["len"] == 2);
    let s = stop(&mut run, Signal::SIGINT);
    assert_eq!((s.counts.forks, s.counts.accepted), (3, 3), "{s:?}");

    let plot = PlotFile::read(&file);
    let title = plot.figure["title"].as_str().unwrap();
    assert!(
        title.contains("ondemand model on") && title.contains(&run.addr),
        "{title}"
    );
    assert!(title.contains("stopped by SIGINT"), "{title}");
    let events = plot.panel("forks, warnings and idle kills");
    assert_eq!(
        PlotFile::markers(events, "fork").len() as u64,
        s.counts.forks
    );
    assert_eq!(
        PlotFile::markers(events, "max_children").len() as u64,
        s.counts.max_children_warnings
    );
    assert!(PlotFile::markers(events, "idle kill (SIGQUIT)").is_empty());

    let accepts = plot.panel("accepts per");
    let bins = PlotFile::points(accepts, "accepted");
    // The last point only holds the last bin's step to its end.
    let total: f64 = bins[..bins.len() - 1].iter().map(|p| p[1]).sum();
    assert_eq!(total as u64, s.counts.accepted);

    let queue = PlotFile::points(plot.panel("accept queue"), "accept queue");
    let longest = queue.iter().map(|p| p[1]).fold(0.0, f64::max);
    assert_eq!(longest as u64, s.max_listen_queue);

    let children = plot.panel("children");
    let busy = PlotFile::points(children, "busy or starting");
    let idle = PlotFile::points(children, "idle (in accept)");
    assert_eq!(busy.len(), idle.len());
    let most = busy
        .iter()
        .zip(&idle)
        .map(|(b, i)| b[1] + i[1])
        .fold(0.0, f64::max);
    assert_eq!(most as u64, s.counts.max_concurrent_children);
    // Every instant lies within the run.
    let end = s.elapsed_ms / 1000.0;
    assert!(busy.iter().all(|p| (0.0..=end).contains(&p[0])), "{busy:?}");

    for label in [
        "time since start (s)",
        "children (processes)",
        "queued (connections)",
        "fork",
        "max_children",
        "seems busy",
    ] {
        assert!(plot.has_text(label), "{label}: {:?}", plot.texts);
    }
    drop(clients);
}

#[test]
fn a_run_with_no_connection_draws_panels_that_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("empty.svg");
    let args = [
        "--format",
        "json",
        "--inet",
        "127.0.0.1:0",
        "--plot",
        file.to_str().unwrap(),
    ];
    let mut run = Running::start(BIN, &args);
    let s = stop(&mut run, Signal::SIGTERM);
    assert_eq!(s.counts.forks, 0);
    let plot = PlotFile::read(&file);
    for note in [
        "no child ran",
        "no connection was accepted",
        "no fork, warning or idle kill",
    ] {
        assert!(plot.has_text(note), "{note}: {:?}", plot.texts);
    }
    // Only the last sample, at the stop.
    let queue = PlotFile::points(plot.panel("accept queue"), "accept queue");
    assert!(queue.iter().all(|p| p[1] == 0.0), "{queue:?}");
}

#[test]
fn plot_paths_that_cannot_be_written_are_refused_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir.svg");
    let sock = dir.path().join("s.sock");
    for (path, why) in [
        (missing.to_str().unwrap(), "does not exist"),
        (dir.path().to_str().unwrap(), "not a regular file"),
        ("/dev/null", "not a regular file"),
    ] {
        let args = ["--unix", sock.to_str().unwrap(), "--plot", path];
        let out = util::run_to_end(BIN, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path}: {stderr}");
        assert!(out.stdout.is_empty(), "{path}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("'--plot <FILE.svg>'") && stderr.contains(why),
            "{stderr}"
        );
        assert!(!sock.exists(), "bound before the check");
    }
}
