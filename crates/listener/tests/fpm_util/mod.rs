//! Real PHP-FPM for the tests: find the binary (skipping, saying so, where it is not
//! installed), write a `php-fpm.conf` with one pool listening on a unix socket in a
//! tempdir, run the master in the foreground, wait (bounded) for its readiness line in the
//! error log, talk to it over FastCGI ([`fastcgi`]), read what it did from its debug log
//! ([`log`]) and status page ([`status`]), and stop it in `Drop`, master and children
//! reaped. The reference that `epoll-listen-fork`'s PHP-FPM models are compared against
//! (issue 8).

#![allow(dead_code)] // each test file uses a different subset

pub mod fastcgi;
pub mod log;
pub mod status;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use listenlab_common::testing::{children_of, is_root, wait_bounded};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The longest any single wait on PHP-FPM may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// The names tried, on `PATH` and then in `/usr/sbin` (Debian's place for it).
const NAMES: [&str; 2] = ["php-fpm8.2", "php-fpm"];

/// The request script: sleeps `us` microseconds, then prints the pid that served it.
const SCRIPT: &str =
    "<?php\nusleep((int)($_GET['us'] ?? 0));\necho 'served by ', getmypid(), \"\\n\";\n";

/// One PHP-FPM pool at a time: the timing tests must not share the two cores with
/// another pool's children.
static ONE_POOL: Mutex<()> = Mutex::new(());

/// The PHP-FPM binary, or `None` after printing the one skip line.
pub fn php_fpm() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]);
    let found = dirs
        .flat_map(|dir| NAMES.map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        println!(
            "skipped: php-fpm8.2 is not installed (looked for {} on PATH and in /usr/sbin; \
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
    /// The request script ([`SCRIPT`]).
    pub script: PathBuf,
    dir: tempfile::TempDir,
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
            dir,
            _one_pool: one_pool,
        };
        fpm.wait_log("ready to handle connections", |w| *w == log::What::Ready);
        Some(fpm)
    }

    /// The master's pid.
    pub fn pid(&self) -> i32 {
        self.master.as_ref().expect("running").id() as i32
    }

    /// The log so far, parsed.
    pub fn log(&self) -> Vec<log::Line> {
        log::parse(&std::fs::read_to_string(&self.log_path).unwrap_or_default())
    }

    /// Polls the log (a file has no readiness notification; every 5 ms, bounded by
    /// [`WAIT`]) until a line satisfies `pred`; returns the log up to and including it.
    pub fn wait_log(&self, what: &str, pred: impl Fn(&log::What) -> bool) -> Vec<log::Line> {
        self.wait_log_from(0, what, pred)
    }

    /// As [`Fpm::wait_log`], for a line at index `from` or later (lines before it, e.g.
    /// those logged before a load, do not count).
    pub fn wait_log_from(
        &self,
        from: usize,
        what: &str,
        pred: impl Fn(&log::What) -> bool,
    ) -> Vec<log::Line> {
        let deadline = Instant::now() + WAIT;
        loop {
            let lines = self.log();
            if let Some(i) = lines.iter().skip(from).position(|l| pred(&l.what)) {
                return lines[..=from + i].to_vec();
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
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .ok()
            .and_then(|stat| stat.rsplit_once(") ")?.1.chars().next())
            .is_none_or(|state| state == 'Z')
    }

    /// The raw log, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// A request for the script, sleeping `sleep`.
    pub fn sleep_request(&self, sleep: Duration) -> fastcgi::Request {
        fastcgi::Request {
            script_filename: self.script.display().to_string(),
            script_name: "/sleep.php".into(),
            query: format!("us={}", sleep.as_micros()),
        }
    }

    /// Fetches `/status?json` (it takes a child like any request).
    pub fn status(&self) -> status::Status {
        let request = fastcgi::Request {
            script_filename: "/status".into(),
            script_name: "/status".into(),
            query: "json".into(),
        };
        let response = fastcgi::get(&self.socket, &request).expect("status request");
        serde_json::from_str(response.body())
            .unwrap_or_else(|e| panic!("status page ({e}): {}", response.body()))
    }

    /// The master's children now (from `/proc`: their parent pid).
    pub fn children(&self) -> Vec<i32> {
        children_of(self.pid())
    }

    /// Stops PHP-FPM as [`Drop`] does and returns the pids, from every `child N started`
    /// line, of children still alive afterwards (none, unless something is wrong).
    pub fn stop(mut self) -> Vec<i32> {
        let started = log::started(&self.log());
        self.shut_down();
        started.into_iter().filter(|&pid| alive(pid)).collect()
    }

    /// SIGTERM to the master: it sends SIGTERM to its children, SIGKILL after
    /// `process_control_timeout` (2 s here), reaps them and exits. If it has not exited
    /// within [`WAIT`], SIGKILL to its children and to it.
    fn shut_down(&mut self) {
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

/// True while a PHP-FPM process `pid` exists (zombie or not). A reused pid running
/// something else counts as gone.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.starts_with("php-fpm"))
}
