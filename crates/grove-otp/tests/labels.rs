//! Processes carry a label people can read (`gen_server Kv`, `supervisor root`), and a server's
//! crash report names its label, the reason, and the kind of the last message it handled (its
//! own test binary: it sets the global subscriber).

use std::io::Write;
use std::sync::{Arc, Mutex};

use grove_otp::gen_server::{Call, GenServer, ReplyTo, Server, ServerContext, StartOptions};
use grove_otp::prelude::*;
use grove_runtime::{process_info, Context};

/// Log output collected in memory.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<u8>>>);

impl Write for Collected {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Kv;
struct Explode;

impl GenServer for Kv {}

impl Call<Explode> for Kv {
    type Reply = ();
    async fn handle_call(&mut self, _: Explode, _: ReplyTo<()>, _: &mut ServerContext<Self>) {
        panic!("the kv blew up");
    }
}

#[test]
fn labels_name_the_behaviour_and_a_crash_report_names_the_last_message() {
    let collected = Collected::default();
    let writer = collected.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    grove_runtime::run(|_: Context<()>| async {
        let unnamed = Server::start(Kv).await.expect("starts");
        let named = Server::start_opt(Kv, StartOptions::new().name("labels_kv"))
            .await
            .expect("starts");
        let worker = ChildSpec::process("worker_3", |mut ctx: Context<()>| async move {
            let _ = ctx.recv().await;
        });
        let tree = Supervisor::one_for_one()
            .child(worker)
            .start_opt(StartOptions::new().link().name("labels_root"))
            .await
            .expect("starts");
        let label = |pid| {
            process_info(pid)
                .and_then(|info| info.label)
                .map(|l| l.to_string())
        };
        assert_eq!(label(unnamed.pid()).as_deref(), Some("gen_server Kv"));
        assert_eq!(label(named.pid()).as_deref(), Some("gen_server labels_kv"));
        assert_eq!(label(tree.pid()).as_deref(), Some("supervisor labels_root"));
        let children = tree.which_children().await.expect("answers");
        let grove_otp::supervisor::ChildStatus::Running(worker) = children[0].status else {
            panic!("the worker runs: {children:?}")
        };
        assert_eq!(label(worker).as_deref(), Some("child worker_3"));
        // The snapshot is a serde type.
        let info = process_info(named.pid()).expect("alive");
        let json = serde_json::to_string(&info).expect("serializes");
        let back: grove_runtime::ProcessInfo = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back.label.as_deref(), Some("gen_server labels_kv"));

        assert!(named.call(Explode).await.is_err());
        tree.stop(ExitReason::Normal).await.expect("stops");
    });
    let logs =
        String::from_utf8_lossy(&collected.0.lock().unwrap_or_else(|e| e.into_inner())).to_string();
    let report = logs
        .lines()
        .find(|line| line.contains("process panicked"))
        .unwrap_or_else(|| panic!("no crash report in:\n{logs}"));
    assert!(report.contains("gen_server labels_kv"), "{report}");
    assert!(report.contains("labels::Explode"), "{report}");
    assert!(report.contains("the kv blew up"), "{report}");
}
