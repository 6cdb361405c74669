//! Real PHP-FPM for the integration tests of both crates: find the binary (skipping,
//! saying so, where it is not installed), write a `php-fpm.conf` with one pool listening
//! on a unix socket in a tempdir, run the master in the foreground (`-F`; `-R` as root),
//! wait (bounded) for its readiness line in the error log, and stop it in `Drop`, master
//! and children reaped.
//!
//! What each crate reads from it stays with that crate's tests: the listener's
//! `fpm_util` parses the debug log and the status page; the connector's tests only send
//! FastCGI requests with `socket-connect --fastcgi`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{children_of, is_root, wait_bounded};

/// The longest any single wait on PHP-FPM may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// The names tried, on `PATH` and then in `/usr/sbin` (Debian's place for it).
const NAMES: [&str; 2] = ["php-fpm8.2", "php-fpm"];

/// The request script, `sleep.php` in the pool's tempdir: sleeps `us` microseconds (the
/// query `us=1000000`), then prints the pid that served it.
const SCRIPT: &str =
    "<?php\nusleep((int)($_GET['us'] ?? 0));\necho 'served by ', getmypid(), \"\\n\";\n";

/// The readiness message: the master entered its event loop (php-src 8.2
/// `fpm_events.c`).
const READY: &str = "ready to handle connections";

/// One PHP-FPM pool at a time in a test binary: the timing tests must not share the two
/// cores with another pool's children.
static ONE_POOL: Mutex<()> = Mutex::new(());

/// The PHP-FPM binary, or `None` after printing the one skip line
/// (`skipped: php-fpm8.2 not installed ...`).
pub fn php_fpm() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]);
    let found = dirs
        .flat_map(|dir| NAMES.map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        println!(
            "skipped: php-fpm8.2 not installed (looked for {} on PATH and in /usr/sbin; \
             .ci/run installs it with apt-get install php8.2-fpm)",
            NAMES.join(", ")
        );
    }
    found
}

/// A pool's process-manager settings, written as `pm = ...` and `pm.* = ...` lines.
#[derive(Debug, Clone)]
pub struct Pool {
    lines: Vec<(String, String)>,
}

impl Pool {
    /// `pm = static` with `n` children.
    pub fn static_(n: u32) -> Pool {
        Pool::new("static").set("pm.max_children", n)
    }

    /// `pm = ondemand` with at most `max_children`.
    pub fn ondemand(max_children: u32) -> Pool {
        Pool::new("ondemand").set("pm.max_children", max_children)
    }

    /// `pm = dynamic`.
    pub fn dynamic(max_children: u32, start: u32, min_spare: u32, max_spare: u32) -> Pool {
        Pool::new("dynamic")
            .set("pm.max_children", max_children)
            .set("pm.start_servers", start)
            .set("pm.min_spare_servers", min_spare)
            .set("pm.max_spare_servers", max_spare)
    }

    fn new(pm: &str) -> Pool {
        Pool {
            lines: vec![("pm".into(), pm.into())],
        }
    }

    /// Adds `key = value` to the pool section (e.g. `pm.process_idle_timeout`, `10s`).
    pub fn set(mut self, key: &str, value: impl ToString) -> Pool {
        self.lines.push((key.into(), value.to_string()));
        self
    }
}

/// The pool's name in the configuration, the log and the status page.
pub const POOL: &str = "t";

/// A running PHP-FPM master; stopped, with its children, on drop.
pub struct Fpm {
    master: Option<Child>,
    /// The pool's unix socket.
    pub socket: PathBuf,
    /// The error log (`log_level = debug`).
    pub log_path: PathBuf,
    /// The request script ([`SCRIPT`]: sleeps `?us=N` microseconds).
    pub script: PathBuf,
    _dir: tempfile::TempDir,
    _one_pool: MutexGuard<'static, ()>,
}

impl Fpm {
    /// Starts PHP-FPM with `pool` and waits (bounded by [`WAIT`]) for `ready to handle
    /// connections`; `None` (the skip line printed) where PHP-FPM is not installed.
    pub fn start(pool: &Pool) -> Option<Fpm> {
        let binary = php_fpm()?;
        let one_pool = ONE_POOL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("fpm.sock");
        let log_path = dir.path().join("error.log");
        let script = dir.path().join("sleep.php");
        std::fs::write(&script, SCRIPT).expect("write the script");
        let conf = dir.path().join("php-fpm.conf");
        std::fs::write(&conf, config(dir.path(), &socket, &log_path, pool)).expect("write conf");

        let mut command = Command::new(&binary);
        command.arg("-F").arg("-y").arg(&conf);
        // As root PHP-FPM refuses to start a pool without `user` unless told -R; its
        // children then run as root too, so they can read the tempdir (0700, ours).
        if is_root() {
            command.arg("-R");
        }
        // stderr: the line it prints before the log file is open, and nothing we need.
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: the hook runs in the forked child before exec and makes one raw syscall
        // (prctl): no allocation, no locks. If the test process dies without dropping
        // the `Fpm`, the master gets SIGTERM and stops its children itself.
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        let master = command.spawn().expect("spawn php-fpm");
        let fpm = Fpm {
            master: Some(master),
            socket,
            log_path,
            script,
            _dir: dir,
            _one_pool: one_pool,
        };
        fpm.wait_log(READY, |text| {
            text.lines()
                .any(|line| line.ends_with(&format!(": {READY}")))
                .then_some(())
        });
        Some(fpm)
    }

    /// The master's pid.
    pub fn pid(&self) -> i32 {
        self.master.as_ref().expect("running").id() as i32
    }

    /// Polls the log (a file has no readiness notification; every 5 ms, bounded by
    /// [`WAIT`]) until `found` finds `what` in its text; panics, with the log, after
    /// [`WAIT`] or if the master exits first.
    pub fn wait_log<T>(&self, what: &str, found: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(hit) = found(&self.log_text()) {
                return hit;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no {what} in PHP-FPM's log within {WAIT:?}:\n{}",
                    self.log_text()
                );
            }
            if self.master_exited() {
                panic!("PHP-FPM exited before {what}:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// True once the master is a zombie (`try_wait` would need `&mut self`; this does not
    /// reap it, `Drop` does).
    fn master_exited(&self) -> bool {
        super::state_and_parent(self.pid()).is_none_or(|(state, _)| state == 'Z')
    }

    /// The raw log.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The master's children now (from `/proc`: their parent pid).
    pub fn children(&self) -> Vec<i32> {
        children_of(self.pid())
    }

    /// SIGTERM to the master: it sends SIGTERM to its children, SIGKILL after
    /// `process_control_timeout` (2 s here), reaps them and exits. If it has not exited
    /// within [`WAIT`], SIGKILL to its children and to it. Does nothing the second time.
    pub fn shut_down(&mut self) {
        let Some(mut master) = self.master.take() else {
            return;
        };
        let pid = master.id() as i32;
        let children = children_of(pid);
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        if wait_bounded(&mut master, WAIT).is_none() {
            for child in children_of(pid).into_iter().chain(children) {
                let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
            }
            let _ = master.kill();
            let _ = master.wait();
        }
    }
}

impl Drop for Fpm {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The configuration: global settings, then pool [`POOL`] with `pool`'s lines.
fn config(dir: &Path, socket: &Path, log_path: &Path, pool: &Pool) -> String {
    let mut conf = format!(
        "[global]\n\
         pid = {pid}\n\
         error_log = {log}\n\
         log_level = debug\n\
         daemonize = no\n\
         process_control_timeout = 2s\n\
         [{POOL}]\n\
         listen = {socket}\n\
         pm.status_path = /status\n",
        pid = dir.join("php-fpm.pid").display(),
        log = log_path.display(),
        socket = socket.display(),
    );
    for (key, value) in &pool.lines {
        conf.push_str(&format!("{key} = {value}\n"));
    }
    conf
}
