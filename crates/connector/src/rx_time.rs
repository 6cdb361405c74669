//! When the first byte of an answer arrived, from the kernel rather than from our read:
//! `SO_TIMESTAMPNS` makes `recvmsg(2)` return, as an `SCM_TIMESTAMPNS` control message,
//! the time the data reached the socket (socket(7), "SO_TIMESTAMP";
//! Documentation/networking/timestamping.rst).
//!
//! Why: the collector reads every answer, and it runs when the runtime gets to it, after
//! the outcomes of the connects before. With 2000 greeting connects at `-c 1` the read
//! came 3-5 ms after the byte (first-byte p50 4.6 ms where a blocking C client, reading at
//! once, saw 37 µs): that was the tool's own lateness, counted as the server's. The kernel's
//! stamp is taken where the byte is received, whatever the reader does.
//!
//! TCP sockets carry the stamp (observed on Linux 6.18); unix stream sockets do not: there
//! the read's own time is used, as before. The stamp is `CLOCK_REALTIME`; it is turned
//! into a time since the connect's start by its age at the read, so a clock step during a
//! run can only make it fall back to the read time, never go negative.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, SystemTime};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};
use nix::sys::time::TimeSpec;
use tokio::time::Instant;

/// Asks the kernel to stamp what `fd` receives. Best effort: a socket that refuses is
/// timed at the read.
pub fn enable(fd: &impl AsFd) {
    let _ = setsockopt(fd, sockopt::ReceiveTimestampns, &true);
}

/// Keeps the kernel stamping arriving data while it lives. Incoming data is stamped on
/// arrival only while some socket in the system asks for stamps, and the first such
/// socket turns that on later, from a work queue (`net_enable_timestamp`, net/core/dev.c):
/// the first answers of a run would go unstamped. An unbound unix datagram socket that
/// asks, made before the first connect, turns it on in time; it sends nothing.
#[derive(Debug)]
pub struct Stamping {
    _asking: socket2::Socket,
}

impl Stamping {
    /// Turns stamping on for as long as the value lives; `None` if the socket cannot be
    /// made (answers are then timed at the read where unstamped).
    pub fn on() -> Option<Self> {
        let socket =
            socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::DGRAM, None).ok()?;
        setsockopt(&socket, sockopt::ReceiveTimestampns, &true).ok()?;
        Some(Self { _asking: socket })
    }
}

/// Reads once into `buf`; returns the byte count and, when the kernel stamped the data
/// (see [`enable`]), when it arrived.
pub fn read_stamped(fd: &impl AsFd, buf: &mut [u8]) -> io::Result<(usize, Option<SystemTime>)> {
    let mut cmsg = nix::cmsg_space!(TimeSpec);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        fd.as_fd().as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let arrived = msg.cmsgs().ok().and_then(|mut cmsgs| {
        cmsgs.find_map(|c| match c {
            ControlMessageOwned::ScmTimestampns(ts) => {
                Some(SystemTime::UNIX_EPOCH + Duration::from(ts))
            }
            _ => None,
        })
    });
    Ok((msg.bytes, arrived))
}

/// The time from `started` to the data's arrival: now, less how long ago it `arrived`;
/// the read's own time (now) without a stamp or with one that does not fit (a clock step).
pub fn since(started: Instant, arrived: Option<SystemTime>) -> Duration {
    let read_at = started.elapsed();
    let age = arrived.and_then(|at| SystemTime::now().duration_since(at).ok());
    match age {
        Some(age) if age <= read_at => read_at - age,
        _ => read_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_tcp_byte_is_timed_when_it_arrived_not_when_it_was_read() {
        let _stamping = Stamping::on().expect("a unix datagram socket");
        // The kernel turns stamping on from a work queue: until then bytes come unstamped
        // (timed at the read). Bounded: 100 tries of 50 ms.
        for _ in 0..100 {
            let (fd, mut server) = crate::exchange::test_pair();
            enable(&fd);
            let started = Instant::now();
            server.write_all(b"g").unwrap();
            // Not a wait for readiness: the byte is left unread so that the read is late.
            std::thread::sleep(Duration::from_millis(50));
            let mut buf = [0u8; 16];
            let (n, arrived) = read_stamped(&fd, &mut buf).unwrap();
            assert_eq!((n, buf[0]), (1, b'g'));
            if arrived.is_none() {
                continue;
            }
            let at = since(started, arrived);
            assert!(
                at < Duration::from_millis(40),
                "{at:?}: the read's time, not the arrival"
            );
            return;
        }
        panic!("no SCM_TIMESTAMPNS on a TCP read in 100 tries");
    }

    #[test]
    fn without_a_stamp_the_read_time_counts() {
        let started = Instant::now() - Duration::from_millis(5);
        assert!(since(started, None) >= Duration::from_millis(5));
        let future = SystemTime::now() + Duration::from_secs(60);
        assert!(since(started, Some(future)) >= Duration::from_millis(5));
    }
}
