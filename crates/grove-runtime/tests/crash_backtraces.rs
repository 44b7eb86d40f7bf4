//! A crash site's backtrace is printed once, not once per crash (its own test binary: it sets
//! `RUST_BACKTRACE` and the global subscriber).

use std::io::Write;
use std::sync::{Arc, Mutex};

use grove_runtime::{spawn, Context, ExitReason};

/// Log output collected in memory.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<u8>>>);

impl Write for Collected {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn crash_here() -> ExitReason {
    panic!("the same bug again")
}

#[test]
fn a_crash_sites_backtrace_is_printed_once() {
    // Edition 2021: setting the variable is safe; nothing else runs in this binary yet.
    std::env::set_var("RUST_BACKTRACE", "1");
    let collected = Collected::default();
    let writer = collected.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    grove_runtime::run(|_: Context<()>| async {
        for _ in 0..5 {
            let crasher = spawn(|mut ctx: Context<()>| async move {
                let _ = ctx.recv().await;
                crash_here()
            });
            let exited = grove_runtime::watch_exit(crasher.pid()).expect("alive");
            grove_runtime::send(crasher, ());
            assert!(matches!(exited.await, ExitReason::Panic(_)));
        }
    });
    let output = String::from_utf8_lossy(&collected.0.lock().unwrap()).to_string();
    let reports = output.matches("process panicked").count();
    let backtraces = output.matches("crash_here").count();
    assert_eq!(reports, 5, "{output}");
    // The function's name appears in the one backtrace only (the report names the location as a
    // file and line).
    assert_eq!(backtraces, 1, "{output}");
}
