//! Holding: released by a stdin line, by stdin EOF, by `--hold`, by SIGTERM; peer closes
//! and resets counted while holding; the holding line comes first in JSON mode.

mod util;

use std::io::Write;
use std::time::{Duration, Instant};

use util::{Connector, Holding, drain_tcp, parse_report, tcp_listener};

fn holding(c: &mut Connector) -> Holding {
    let line = c.next_event_line();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a holding line {line}: {e}"))
}

#[test]
fn a_stdin_line_releases_the_hold() {
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let mut c = Connector::spawn(&["-n", "10", "--inet", &addr, "--format", "json"]);
    let h = holding(&mut c);
    assert_eq!((h.event.as_str(), h.open), ("holding", 10));
    c.send_line(); // stdin stays open: only the line can release it
    let done = c.finish();
    assert!(done.status.success(), "{done:?}");
    let report = parse_report(&done);
    assert_eq!(report.connected, 10);
    assert!(
        done.stderr.contains("10 open; press Enter"),
        "{}",
        done.stderr
    );
}

#[test]
fn stdin_eof_releases_the_hold() {
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let mut c = Connector::spawn(&["-n", "3", "--inet", &addr, "--format", "json"]);
    assert_eq!(holding(&mut c).open, 3);
    c.close_stdin();
    let done = c.finish();
    assert!(done.status.success(), "{done:?}");
    assert_eq!(parse_report(&done).connected, 3);
}

#[test]
fn hold_duration_ignores_stdin() {
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let mut c = Connector::spawn(&[
        "-n", "3", "--inet", &addr, "--format", "json", "--hold", "300ms",
    ]);
    assert_eq!(holding(&mut c).open, 3);
    c.close_stdin(); // EOF must not end a timed hold
    let done = c.finish();
    assert!(started.elapsed() >= Duration::from_millis(300));
    let report = parse_report(&done);
    assert!(report.held_ms >= 300, "{report:?}");
    assert!(
        done.stderr.contains("3 open; holding for 300ms"),
        "{}",
        done.stderr
    );
}

#[test]
fn hold_zero_closes_at_once_without_a_holding_line() {
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let c = Connector::spawn(&[
        "-n", "3", "--inet", &addr, "--format", "json", "--hold", "0",
    ]);
    // stdin stays open: the run must not wait for it.
    let done = c.finish();
    assert_eq!(util::split_intervals(&done).1.len(), 1, "{:?}", done.stdout);
    let report = parse_report(&done);
    assert_eq!((report.connected, report.held_ms), (3, 0));
    // The connections are closed: every accepted one reads EOF.
    for (mut stream, _) in drain_tcp(&listener) {
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(util::WAIT)).unwrap();
        assert_eq!(std::io::Read::read(&mut stream, &mut [0u8; 8]).unwrap(), 0);
    }
}

#[test]
fn sigterm_releases_the_hold_with_a_report() {
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let mut c = Connector::spawn(&["-n", "4", "--inet", &addr, "--format", "json"]);
    assert_eq!(holding(&mut c).open, 4);
    let pid = nix::unistd::Pid::from_raw(c.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let done = c.finish();
    assert!(done.status.success(), "{done:?}");
    let report = parse_report(&done);
    assert_eq!(report.connected, 4);
    assert!(!report.interrupted, "the connect phase had finished");
}

#[test]
fn peer_closes_and_resets_are_counted_while_holding() {
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let mut c = Connector::spawn(&["-n", "12", "--inet", &addr, "--format", "json"]);
    assert_eq!(holding(&mut c).open, 12);
    let mut accepted = drain_tcp(&listener);
    assert_eq!(accepted.len(), 12);
    let server = listener.local_addr().unwrap();
    let peers: Vec<_> = accepted.iter().map(|(_, peer)| *peer).collect();
    // The wait below reads /proc/net/tcp; it must see these connections to mean anything.
    assert_eq!(util::established(&peers, server).len(), 12);
    // Data alone is not a close.
    accepted[0].0.write_all(b"hello").unwrap();
    // Three reset (SO_LINGER 0 makes close send RST), five closed with FIN, four kept.
    let mut reset = Vec::new();
    for (stream, peer) in accepted.drain(..3) {
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        reset.push(peer);
    }
    let closed: Vec<_> = accepted.drain(..5).map(|(_, peer)| peer).collect();
    // Release only once the connector's kernel side has seen all eight FINs and RSTs.
    util::wait_until_not_established(&[reset, closed].concat(), server);
    c.send_line();
    let done = c.finish();
    let report = parse_report(&done);
    assert_eq!(report.closed_by_peer, 8, "{report:?}");
    drop(accepted);
}

/// Starts `-n 6` against a listener with backlog 1, which holds two connections and
/// drops the SYNs of the others, so those connects hang (for up to --timeout 30s); sends
/// SIGINT once dialing has begun, and returns the finished run.
fn interrupted_run(extra: &[&str]) -> util::Finished {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let listener = tcp_listener(1);
    let addr = listener.local_addr().unwrap().to_string();
    let mut args = vec![
        "-n",
        "6",
        "--inet",
        &addr,
        "--timeout",
        "30s",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let c = Connector::spawn(&args);
    // A queued connection means dialing has begun (the handlers are installed before).
    let mut ready = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    assert_eq!(poll(&mut ready, PollTimeout::from(20_000u16)).unwrap(), 1);
    let pid = nix::unistd::Pid::from_raw(c.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    c.finish()
}

#[test]
fn issue_12_require_all_names_the_connects_an_interruption_left_unmade() {
    let done = interrupted_run(&["--require-all"]);
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    let report = parse_report(&done);
    let unmade = 6 - report.attempted;
    let want = format!(
        "socket-connect: --require-all: {} of 6 connected; {unmade} not made (SIGINT/SIGTERM \
         interrupted the connect phase)\n",
        report.connected
    );
    assert_eq!(done.stderr, want);
}

#[test]
fn sigint_during_the_connect_phase_reports_what_was_done() {
    let started = Instant::now();
    let done = interrupted_run(&[]);
    assert!(done.status.success(), "{done:?}");
    assert_eq!(
        util::split_intervals(&done).1.len(),
        1,
        "no holding line: {:?}",
        done.stdout
    );
    let report = parse_report(&done);
    report.check_invariants();
    assert!(report.interrupted, "{report:?}");
    assert!(report.connected >= 1 && report.connected < 6, "{report:?}");
    assert_eq!(
        report.failed, 0,
        "in-flight connects are cancelled, not failed"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn issue_12_a_handshake_the_peer_resets_at_once_counts_as_connected() {
    // A server that accepts and resets at once: the RST can reach our socket before the
    // confirming connect(), which then reports ECONNRESET for a handshake that completed.
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    const N: usize = 500;
    let listener = tcp_listener(1024);
    let server = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let resetter = std::thread::spawn(move || {
        let deadline = Instant::now() + util::WAIT;
        let mut peers = Vec::with_capacity(N);
        while peers.len() < N && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, peer)) => {
                    // SO_LINGER 0: close() sends RST instead of FIN.
                    socket2::SockRef::from(&stream)
                        .set_linger(Some(Duration::ZERO))
                        .unwrap();
                    drop(stream);
                    peers.push(peer);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let mut ready = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
                    poll(&mut ready, PollTimeout::from(100u16)).unwrap();
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        peers
    });
    let addr = server.to_string();
    let n = N.to_string();
    let mut c = Connector::spawn(&["-n", &n, "--inet", &addr, "--format", "json", "-q"]);
    let peers = resetter.join().unwrap();
    assert_eq!(peers.len(), N, "the listener accepted every handshake");
    // Release only once the connector's kernel side has seen every RST.
    util::wait_until_not_established(&peers, server);
    c.close_stdin();
    let done = c.finish();
    let report = parse_report(&done);
    report.check_invariants();
    assert_eq!(
        (report.connected, report.failed, report.closed_by_peer),
        (500, 0, 500),
        "{report:?}"
    );
}
