//! Test support for the integration tests of both binary crates (feature `testing`, a
//! dev-dependency only): run a binary with every wait bounded, and read a child's output
//! line by line from a helper thread, find a process's children in `/proc`, and run a
//! real PHP-FPM pool ([`fpm`]). Kept here so that the listener's and the connector's test
//! helpers share one implementation.

pub mod fpm;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// Forwards the lines of `from` (a child's stdout or stderr) over a channel, read on a
/// helper thread; the channel disconnects at end of stream.
pub fn pump_lines(from: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits up to `within` for `child` to exit. A bounded poll: an exit has no readiness line.
pub fn wait_bounded(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait on a child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Collects `child`'s whole output (its stdout and stderr must be piped) and exit status.
/// If it has not exited within `within` it is killed with SIGKILL and the test panics.
/// Output is read while the child runs, so a child that prints a lot cannot block.
pub fn output_within(child: Child, within: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(out) => out.expect("waiting for the child's output"),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("pid {pid} did not finish within {within:?}");
        }
    }
}

/// Makes the process `cmd` starts begin with `limit` as both its soft and hard open-file
/// limit, set in the child between fork and exec, so that a test can run a binary under a
/// hard `RLIMIT_NOFILE` it cannot raise.
pub fn limit_open_files(cmd: &mut Command, limit: u64) -> &mut Command {
    use nix::sys::resource::{Resource, setrlimit};
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls
    // setrlimit(2), which is async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            setrlimit(Resource::RLIMIT_NOFILE, limit, limit).map_err(std::io::Error::from)
        })
    }
}

/// The state letter and parent pid of `pid`, from `/proc/<pid>/stat`; `None` once it is
/// gone (reaped).
pub fn state_and_parent(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything: fields follow the last ')'.
    let mut rest = stat.rsplit_once(')')?.1.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let parent = rest.next()?.parse().ok()?;
    Some((state, parent))
}

/// The processes whose parent is `parent` right now, zombies (exited, not reaped yet)
/// included.
pub fn children_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| matches!(state_and_parent(pid), Some((_, p)) if p == parent))
        .collect()
}

/// True when the tests run as root: `/proc/self` belongs to the effective uid.
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn output_and_lines_of_a_real_child() {
        let child = Command::new("sh")
            .args(["-c", "echo one; echo two >&2; exit 3"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = output_within(child, Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"one\n");
        assert_eq!(out.stderr, b"two\n");

        let mut child = Command::new("sh")
            .args(["-c", "echo a; echo b"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = pump_lines(child.stdout.take().unwrap());
        assert!(wait_bounded(&mut child, Duration::from_secs(10)).is_some());
        assert_eq!(lines.iter().collect::<Vec<_>>(), ["a", "b"]);
    }
}
