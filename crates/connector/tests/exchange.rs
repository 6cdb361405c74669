//! The exchange after each connect (issue 7): `--fastcgi` sends a well-formed FastCGI
//! request that a responder written here parses and answers, `--read close` counts the
//! answer, and `no_response`, `read_timeout` and `reset` are each provoked by a peer
//! that behaves so and counted.

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use util::{run, run_json};

/// Serves `n` connections on a thread with `serve`, each on its own accepted stream
/// (blocking, with a bounded read timeout so that a test that goes wrong ends).
fn serve_n(n: usize, serve: impl Fn(TcpStream) + Send + 'static) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        for _ in 0..n {
            let (stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(util::WAIT)).unwrap();
            serve(stream);
        }
    });
    (addr, handle)
}

/// One FastCGI record as read: its type and content (FastCGI 1.0, section 3.3).
fn read_record(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut header = [0u8; 8];
    s.read_exact(&mut header).unwrap();
    assert_eq!(header[0], 1, "FastCGI version 1");
    assert_eq!(u16::from_be_bytes([header[2], header[3]]), 1, "request id");
    let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let mut content = vec![0u8; len + usize::from(header[6])];
    s.read_exact(&mut content).unwrap();
    content.truncate(len);
    (header[1], content)
}

/// Name-value pairs of a PARAMS stream (section 3.4).
fn params(mut body: &[u8]) -> Vec<(String, String)> {
    fn length(b: &mut &[u8]) -> usize {
        if b[0] < 128 {
            let n = usize::from(b[0]);
            *b = &b[1..];
            n
        } else {
            let n = u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]) as usize;
            *b = &b[4..];
            n
        }
    }
    let mut out = Vec::new();
    while !body.is_empty() {
        let (name_len, value_len) = (length(&mut body), length(&mut body));
        let name = String::from_utf8(body[..name_len].to_vec()).unwrap();
        let value = String::from_utf8(body[name_len..name_len + value_len].to_vec()).unwrap();
        body = &body[name_len + value_len..];
        out.push((name, value));
    }
    out
}

const ANSWER: &[u8] = b"Content-type: text/plain\r\n\r\nhello from the responder";

/// A FastCGI responder for one request: checks the request record by record, then
/// answers with FCGI_STDOUT, the empty FCGI_STDOUT and FCGI_END_REQUEST, and closes.
/// Returns the bytes it wrote.
fn respond(mut s: TcpStream) -> usize {
    let (kind, begin) = read_record(&mut s);
    assert_eq!(kind, 1, "FCGI_BEGIN_REQUEST first");
    assert_eq!(&begin[..3], &[0, 1, 0], "role responder, no keep-conn");
    let mut stream = Vec::new();
    loop {
        let (kind, content) = read_record(&mut s);
        assert_eq!(kind, 4, "FCGI_PARAMS");
        if content.is_empty() {
            break;
        }
        stream.extend(content);
    }
    let got = params(&stream);
    let want = [
        ("SCRIPT_FILENAME", "/srv/www/sleep.php"),
        ("SCRIPT_NAME", "/srv/www/sleep.php"),
        ("REQUEST_METHOD", "GET"),
        ("QUERY_STRING", "s=1&x=2"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
    ];
    for (name, value) in want {
        assert!(
            got.iter().any(|(n, v)| n == name && v == value),
            "{name}={value} missing from {got:?}"
        );
    }
    let (kind, stdin) = read_record(&mut s);
    assert_eq!(
        (kind, stdin.len()),
        (5, 0),
        "the empty FCGI_STDIN ends the request"
    );
    let mut answer = Vec::new();
    let mut record = |kind: u8, content: &[u8]| {
        let len = u16::try_from(content.len()).unwrap().to_be_bytes();
        answer.extend_from_slice(&[1, kind, 0, 1, len[0], len[1], 0, 0]);
        answer.extend_from_slice(content);
    };
    record(6, ANSWER); // FCGI_STDOUT
    record(6, &[]);
    record(3, &[0, 0, 0, 0, 0, 0, 0, 0]); // FCGI_END_REQUEST: app status 0, complete
    s.write_all(&answer).unwrap();
    answer.len()
}

#[test]
fn fastcgi_request_is_well_formed_and_read_close_counts_the_answer() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (addr, server) = serve_n(3, move |s| tx.send(respond(s)).unwrap());
    let (report, done) = run_json(&[
        "-n",
        "3",
        "--inet",
        &addr,
        "--fastcgi",
        "/srv/www/sleep.php?s=1&x=2",
        "--read",
        "close",
    ]);
    server.join().expect("the responder's checks passed");
    let per_connection = rx.recv().unwrap() as u64;
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert_eq!(
        (report.connected, report.exchange_failed),
        (3, 0),
        "{report:?}"
    );
    assert_eq!(report.response_bytes, 3 * per_connection, "{report:?}");
    assert_eq!(report.response_bytes_max, per_connection);
    assert!(report.request_bytes > 0);
    let first = report.first_byte_latency_us.as_ref().unwrap();
    let complete = report.complete_latency_us.as_ref().unwrap();
    assert_eq!((first.count, complete.count), (3, 3), "{report:?}");
    assert!(report.connect_latency_us.min <= first.min && first.min <= complete.max);
    // Read to the close: nothing is left to hold, so there is no holding line.
    assert_eq!(util::split_intervals(&done).1.len(), 1, "{:?}", done.stdout);
}

/// Runs 2 connections that each send one byte against a peer that reads it and then
/// does `then`; returns the report.
fn provoke(then: fn(TcpStream), extra: &[&str]) -> util::Report {
    let (addr, server) = serve_n(2, move |mut s| {
        let mut byte = [0u8; 1];
        s.read_exact(&mut byte).unwrap();
        then(s);
    });
    let mut args = vec!["-n", "2", "--inet", &addr, "--send", r"\x01", "--hold", "0"];
    args.extend_from_slice(extra);
    let (report, done) = run_json(&args);
    server.join().unwrap();
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert_eq!((report.connected, report.failed), (2, 0), "{report:?}");
    assert_eq!((report.request_bytes, report.response_bytes), (1, 0));
    report
}

#[test]
fn a_peer_that_closes_without_answering_is_no_response() {
    let report = provoke(drop, &["--read", "first-byte"]);
    assert_eq!(report.exchange_errors.no_response, 2, "{report:?}");
    assert_eq!(report.exchange_failed, 2);
    assert_eq!(report.first_byte_latency_us.unwrap().count, 0);
    assert!(
        report.complete_latency_us.is_none(),
        "first-byte never completes"
    );
}

#[test]
fn a_peer_that_resets_is_reset() {
    let report = provoke(
        |s| {
            // SO_LINGER 0: close sends RST instead of FIN.
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        },
        &["--read", "close"],
    );
    assert_eq!(report.exchange_errors.reset, 2, "{report:?}");
    assert_eq!(report.exchange_failed, 2);
}

#[test]
fn a_peer_that_stays_silent_is_read_timeout() {
    let report = provoke(
        // Silent past the connector's --read-timeout, then closed (bounded).
        |s| {
            let mut s = s;
            let _ = s.read(&mut [0u8; 1]);
        },
        &["--read", "close", "--read-timeout", "200ms"],
    );
    assert_eq!(report.exchange_errors.read_timeout, 2, "{report:?}");
    assert_eq!(report.complete_latency_us.unwrap().count, 0);
}

#[test]
fn send_without_read_sends_and_holds() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (addr, server) = serve_n(2, move |mut s| {
        let mut got = [0u8; 6];
        s.read_exact(&mut got).unwrap();
        tx.send(got).unwrap();
    });
    let (report, done) = run_json(&[
        "-n",
        "2",
        "--inet",
        &addr,
        "--send",
        r"hi\r\n\0\t",
        "--hold",
        "0",
    ]);
    server.join().unwrap();
    assert!(done.status.success(), "{done:?}");
    assert_eq!(&rx.recv().unwrap(), b"hi\r\n\0\t");
    assert_eq!((report.connected, report.exchange_failed), (2, 0));
    assert!(report.first_byte_latency_us.is_none() && report.complete_latency_us.is_none());
}

#[test]
fn send_file_sends_the_bytes_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("req.bin");
    std::fs::write(&file, b"\\x41\r\n\xff").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (addr, server) = serve_n(1, move |mut s| {
        let mut got = [0u8; 7];
        s.read_exact(&mut got).unwrap();
        tx.send(got).unwrap();
        s.write_all(b"ok").unwrap();
    });
    let file = file.to_str().unwrap();
    let done = run(&[
        "-n",
        "1",
        "--inet",
        &addr,
        "--send-file",
        file,
        "--read",
        "close",
    ]);
    server.join().unwrap();
    assert!(done.status.success(), "{done:?}");
    assert_eq!(
        &rx.recv().unwrap(),
        b"\\x41\r\n\xff",
        "no escapes in a file"
    );
    let text = done.stdout.join("\n");
    for want in [
        "first byte     min ",
        "complete       min ",
        "exchange       sent 7 bytes each, read 2 bytes (at most 2 per connection), failed none",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn sigint_while_waiting_for_answers_ends_the_run_with_a_report() {
    // The peer accepts and never answers; the read timeout is far away. SIGINT must end
    // the wait at once with a report, not after --read-timeout.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let args = [
        "-n",
        "2",
        "--inet",
        &addr,
        "--read",
        "first-byte",
        "--read-timeout",
        "60s",
        "--format",
        "json",
    ];
    let c = util::Connector::spawn(&args);
    // Both connects are complete once both are accepted; the run is then (or soon) in the
    // wait for answers, and a signal in either phase must end it with a report.
    let _accepted: Vec<_> = (0..2).map(|_| listener.accept().unwrap().0).collect();
    let pid = nix::unistd::Pid::from_raw(c.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let started = std::time::Instant::now();
    let done = c.finish();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "ended by the signal"
    );
    assert!(done.status.success(), "{done:?}");
    let report = util::parse_report(&done);
    report.check_invariants();
    assert!(report.interrupted, "{report:?}");
    assert_eq!(
        report.exchange_failed, 0,
        "abandoned answers are not failures"
    );
}
