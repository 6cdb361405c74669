//! `listen-watch --pid` on this test process, which holds exactly two listeners (a TCP and
//! a unix one): a test binary of its own, so no other test's listener is held meanwhile.

mod util;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_listen-watch");

#[test]
fn pid_finds_both_listeners_of_a_process_with_two() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.sock");
    let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let _u = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let tcp = t.local_addr().unwrap();
    let me = std::process::id().to_string();
    let out = util::run_to_end(BIN, &["--once", "--format", "json", "--pid", &me]);
    assert!(out.status.success(), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut addresses: Vec<String> = report["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["owners"][0]["pid"], std::process::id(), "{l}");
            l["address"].as_str().unwrap().to_owned()
        })
        .collect();
    addresses.sort();
    let mut want = vec![tcp.to_string(), path.display().to_string()];
    want.sort();
    assert_eq!(addresses, want, "{report:#}");
}

#[test]
fn pid_of_a_process_without_listeners_is_a_usage_error() {
    // A `sleep` child of ours exists and holds no listener.
    let sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = sleeper.id().to_string();
    let out = util::run_to_end(BIN, &["--once", "--pid", &pid]);
    let mut sleeper = sleeper;
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "--pid {pid}: that process holds no listening socket"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}
