//! The graceful-shutdown demo as an operator meets it: a real process, real signals. Each test
//! starts `shutdown-demo`, waits until its tree is up (its `started readiness` line) or is
//! starting, signals it with `kill(2)`, and checks what it printed and the status it exited with.
//!
//! No test depends on timing: every wait is for a line of output or for the process's exit, and
//! the only timeouts are generous bounds that stop a broken test from hanging.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Demo {
    /// Starts the demo and waits until its whole tree is up.
    fn start(args: &[&str]) -> Demo {
        let mut demo = Demo::spawn(args);
        demo.wait_for("started readiness");
        demo
    }

    /// Starts the demo without waiting for anything.
    fn spawn(args: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shutdown-demo"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the demo binary starts");
        let stdout: ChildStdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Demo {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until `wanted` appears; panics if the output ends or stalls first.
    fn wait_for(&mut self, wanted: &str) {
        loop {
            match self.lines.recv_timeout(LONG) {
                Ok(line) => {
                    let found = line == wanted;
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(error) => panic!("no line {wanted:?} ({error}); saw {:?}", self.seen),
            }
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) with a pid this test spawned and still owns (not yet waited for).
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill failed");
    }

    /// Waits for the exit and returns its status code and every line printed.
    fn finish(mut self) -> (Option<i32>, Vec<String>) {
        let status = self.child.wait().expect("the demo exits");
        // The reader thread ends with the output; collect what is left.
        while let Ok(line) = self.lines.recv_timeout(LONG) {
            self.seen.push(line);
        }
        (status.code(), self.seen)
    }
}

fn stops(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .filter(|line| line.starts_with("stopped "))
        .map(String::as_str)
        .collect()
}

#[test]
fn sigterm_stops_the_tree_in_reverse_start_order_and_exits_0() {
    let demo = Demo::start(&[]);
    demo.signal(libc::SIGTERM);
    let (status, lines) = demo.finish();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("started "))
            .collect::<Vec<_>>(),
        [
            "started config",
            "started repo",
            "started endpoint",
            "started readiness"
        ]
    );
    assert_eq!(
        stops(&lines),
        [
            "stopped readiness (shutdown)",
            "stopped endpoint (shutdown)",
            "stopped repo (shutdown)",
        ]
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("exit Stopped(Signal(Terminate)) (status 0)")
    );
    assert_eq!(status, Some(0));
}

#[test]
fn sigint_stops_it_the_same_way() {
    let demo = Demo::start(&[]);
    demo.signal(libc::SIGINT);
    let (status, lines) = demo.finish();
    assert_eq!(stops(&lines).len(), 3, "{lines:?}");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("exit Stopped(Signal(Interrupt)) (status 0)")
    );
    assert_eq!(status, Some(0));
}

#[test]
fn a_second_signal_while_stopping_exits_at_once_with_128_plus_the_signal() {
    // The repo would take ten minutes to close.
    let mut demo = Demo::start(&[
        "--stop-delay-ms",
        "600000",
        "--shutdown-timeout-ms",
        "900000",
    ]);
    demo.signal(libc::SIGTERM);
    demo.wait_for("stopping repo");
    demo.signal(libc::SIGTERM);
    let (status, lines) = demo.finish();
    assert_eq!(status, Some(128 + libc::SIGTERM), "{lines:?}");
    assert!(!lines.iter().any(|l| l == "stopped repo (shutdown)"));
}

#[test]
fn a_part_that_ignores_shutdown_is_killed_at_the_deadline_and_the_status_says_so() {
    let demo = Demo::start(&["--stubborn", "--shutdown-timeout-ms", "3000"]);
    demo.signal(libc::SIGTERM);
    let (status, lines) = demo.finish();
    assert!(lines.iter().any(|l| l == "stopping endpoint"), "{lines:?}");
    assert!(!lines.iter().any(|l| l.starts_with("stopped endpoint")));
    assert_eq!(
        lines.last().map(String::as_str),
        Some("exit DeadlineExceeded(3s) (status 2)")
    );
    assert_eq!(status, Some(2));
}

#[test]
fn a_signal_while_starting_stops_the_tree_in_order_once_it_has_started() {
    // The repo takes two seconds to start; the signal arrives during them (were the machine so
    // slow that it arrived later, the outcome asserted would be the same).
    let mut demo = Demo::spawn(&["--start-delay-ms", "2000"]);
    demo.wait_for("starting repo");
    demo.signal(libc::SIGTERM);
    let (status, lines) = demo.finish();
    // The start is not cut short: every part starts, then all stop in reverse order.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("started ")).count(),
        4,
        "{lines:?}"
    );
    assert_eq!(
        stops(&lines),
        [
            "stopped readiness (shutdown)",
            "stopped endpoint (shutdown)",
            "stopped repo (shutdown)",
        ]
    );
    assert_eq!(status, Some(0));
}

#[test]
fn a_second_signal_while_starting_exits_at_once() {
    // The repo would take ten minutes to start. Two different signals, so the OS cannot merge
    // them into one as it may two of the same kind.
    let mut demo = Demo::spawn(&["--start-delay-ms", "600000"]);
    demo.wait_for("starting repo");
    demo.signal(libc::SIGTERM);
    demo.signal(libc::SIGINT);
    let (status, lines) = demo.finish();
    assert!(
        status == Some(128 + libc::SIGTERM) || status == Some(128 + libc::SIGINT),
        "{status:?} {lines:?}"
    );
    assert!(!lines.iter().any(|l| l == "started repo"), "{lines:?}");
}
