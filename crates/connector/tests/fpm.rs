//! Against real PHP-FPM (`php-fpm8.2 -F`, a static pool of 3 children on a temp unix
//! socket, the launcher shared with the listener's tests): 9 FastCGI requests for a
//! script that sleeps 1 s, sent at once, complete in three waves of 3, at about 1, 2 and
//! 3 s: the wait for a free worker, which the connect latency does not show. Skips,
//! saying so, where PHP-FPM is not installed.

mod util;

use std::time::Duration;

use listenlab_common::testing::fpm::{Fpm, Pool};
use util::{decode_histogram, run_json};

#[test]
fn nine_one_second_requests_on_three_workers_complete_in_three_waves() {
    let Some(fpm) = Fpm::start(&Pool::static_(3)) else {
        return;
    };
    let request = format!("{}?us=1000000", fpm.script.display());
    let socket = fpm.socket.to_str().unwrap();
    let (r, done) = run_json(&[
        "--count",
        "9",
        "--unix",
        socket,
        "--fastcgi",
        &request,
        "--read",
        "close",
        "--hold",
        "0",
    ]);
    assert_eq!(done.status.code(), Some(0), "{done:?}\n{}", fpm.log_text());
    r.check_invariants();
    assert_eq!((r.connected, r.exchange_failed), (9, 0), "{r:?}");
    assert!(r.response_bytes_max > 0, "{r:?}");
    // The kernel completes every handshake at once (the pool's backlog has room): the
    // connects take microseconds while the requests wait seconds.
    assert!(r.connect_latency_us.max < 200_000, "{r:?}");

    let complete = r.complete_latency_us.as_ref().expect("--read close");
    assert_eq!(complete.count, 9);
    let hist = decode_histogram(&complete.histogram);
    let mut samples: Vec<Duration> = hist
        .iter_recorded()
        .flat_map(|v| {
            let us = v.value_iterated_to();
            std::iter::repeat_n(Duration::from_micros(us), v.count_at_value() as usize)
        })
        .collect();
    samples.sort();
    assert_eq!(samples.len(), 9);
    let secs = |s: f64| Duration::from_secs_f64(s);
    // Loose bands (both cores may be busy): wave k ends after k seconds of sleeping, plus
    // whatever PHP and the scheduler add; consecutive waves at least 0.6 s apart.
    let bands = [(0.95, 2.0), (1.9, 3.3), (2.85, 4.8)];
    for (wave, (lo, hi)) in bands.into_iter().enumerate() {
        for &t in &samples[wave * 3..wave * 3 + 3] {
            assert!(
                secs(lo) <= t && t < secs(hi),
                "wave {} sample {t:?} outside [{lo}, {hi}) s: {samples:?}",
                wave + 1
            );
        }
    }
    assert!(samples[3] - samples[2] > secs(0.6), "{samples:?}");
    assert!(samples[6] - samples[5] > secs(0.6), "{samples:?}");
    // The summary says the same: the median is in the second wave, the max in the third.
    assert!(
        secs(1.9) <= Duration::from_micros(complete.p50),
        "{complete:?}"
    );
    assert!(
        Duration::from_micros(complete.max) >= secs(2.85),
        "{complete:?}"
    );
}
