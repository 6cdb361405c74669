//! `listen-watch` against real PHP-FPM (where `php-fpm8.2` is installed; otherwise the test
//! says it is skipped): a static pool of 3 children on a unix socket, loaded with 9
//! one-second FastCGI requests, read live as 3 workers, all 3 busy, and 6 connections
//! queued, owned by the PHP-FPM master. PHP-FPM's children wait for a connection blocked
//! in `accept(2)` on the pool socket (seen live: `/proc/<child>/syscall` starts with 43,
//! accept, and their wchan is the unix-accept place listen-watch observes at start-up),
//! so they are idle workers by the same rule as any other accepting server.

mod fpm_util;
mod util;

use std::os::unix::net::UnixStream;
use std::time::Duration;

use fpm_util::{Fpm, Pool, fastcgi};
use nix::sys::signal::Signal;

const BIN: &str = env!("CARGO_BIN_EXE_listen-watch");

/// Sends `n` requests for the sleep script (each connected and fully written before the
/// next), without reading any answer.
fn send(fpm: &Fpm, n: usize, sleep: Duration) -> Vec<UnixStream> {
    let request = fpm.sleep_request(sleep);
    (0..n)
        .map(|_| fastcgi::send(&fpm.socket, &request).expect("connect and send"))
        .collect()
}

/// Reads every answer (each read bounded by the client's timeout) and checks it.
fn read_all(streams: Vec<UnixStream>) {
    for mut stream in streams {
        let response = fastcgi::read_response(&mut stream).expect("a response");
        assert_eq!(response.protocol_status, 0, "{response:?}");
        assert!(response.body().starts_with("served by "), "{response:?}");
    }
}

#[test]
fn a_static_pool_of_three_under_nine_requests_shows_queue_six_and_three_busy_workers() {
    let Some(fpm) = Fpm::start(&Pool::static_(3)) else {
        return;
    };
    let socket = fpm.socket.to_str().unwrap().to_owned();
    let mut w = util::Running::spawn(
        BIN,
        &[
            "--format",
            "json",
            "--interval",
            "1ms",
            "--duration",
            "60s",
            "--unix",
            &socket,
        ],
        |_| {},
    );
    // The `listener` line is the readiness line: sampling has started. Before any
    // request, the three children are asleep in accept: idle workers.
    let found = w.wait_event("listener", |_| true);
    assert_eq!(found["state"], "found", "{found}");
    assert_eq!(found["workers"], 3, "{found}");
    let master = fpm.pid() as u32;
    assert_eq!(found["owners"][0]["pid"], master, "{found}");
    assert_eq!(found["owners"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(
        (
            found["idle"].as_u64(),
            found["busy"].as_u64(),
            found["queue"].as_u64()
        ),
        (Some(3), Some(0), Some(0)),
        "{found}"
    );

    // Three requests, one per child; once listen-watch sees all three busy and nothing
    // queued, six more at once, which wait in the queue for the first wave to end. Sent as
    // one burst of nine, the connects can outrun the children's wake-up from accept and
    // the queue is 7 for an instant (seen: max_queue 7 at 15 ms, at a 1 ms interval).
    let mut streams = send(&fpm, 3, Duration::from_secs(1));
    w.wait_for("3 busy workers", |v| {
        v["event"] == "sample" && v["busy"] == 3 && v["queue"] == 0
    });
    streams.extend(send(&fpm, 6, Duration::from_secs(1)));
    let queued = w.wait_for("6 queued", |v| v["event"] == "sample" && v["queue"] == 6);
    assert_eq!(queued["busy"], 3, "{queued}");
    read_all(streams);
    w.signal(Signal::SIGINT);
    let status = w.finish();
    assert_eq!(status.code(), Some(0), "{}", w.stderr_so_far());
    let summary = w.summary();
    let s = &summary["listeners"][0];
    let seen = |k: &str| s[k].as_u64();
    assert_eq!(
        (
            seen("max_queue"),
            seen("max_workers"),
            seen("max_busy_workers")
        ),
        (Some(6), Some(3), Some(3)),
        "{summary:#}"
    );
    assert_eq!(s["pid"], master, "{summary:#}");
    assert_eq!(s["process"].as_str(), Some("php-fpm8.2"), "{summary:#}");
    assert_eq!(seen("queue"), Some(0), "{summary:#}");
    drop(fpm);
}
