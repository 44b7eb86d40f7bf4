//! Readiness turns false while the application stops (its own binary: "stopping" is
//! process-wide, and would make other tests' probes fail).

mod http_support;

use std::time::Duration;

use grove_kit::health::HealthServer;
use grove_otp::application::{Application, ApplicationExit};
use grove_otp::prelude::*;
use grove_otp::supervisor::Shutdown;
use grove_runtime::Context;
use http_support::{get, listener};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_turns_false_while_the_application_stops() {
    let (socket, port) = listener();
    let (stop, stop_requested) = tokio::sync::oneshot::channel::<()>();
    let application = tokio::spawn(Application::new("http_shutdown").serve_until(
        move |_: &()| {
            Supervisor::one_for_one()
                .child(HealthServer::from_listener(socket).child_spec())
                // Started after the health server, so stopped before it: it takes a second
                // to finish its work, and the health server answers all along.
                .child(
                    ChildSpec::process("slow_worker", |mut ctx: Context<()>| async move {
                        ctx.trap_exit(true);
                        while ctx.recv().await.into_user().is_some() {}
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    })
                    .shutdown(Shutdown::Timeout(Duration::from_secs(5))),
                )
        },
        async move {
            let _ = stop_requested.await;
        },
    ));
    let mut ready = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
            && get(port, "/readyz").await.0 == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ready, "the application became ready");
    let _ = stop.send(());
    let mut saw_stopping = false;
    for _ in 0..100 {
        let (status, body) = get(port, "/readyz").await;
        if status == 503 {
            assert!(body.contains("the application is stopping"), "{body}");
            saw_stopping = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(saw_stopping, "readiness turned false during the shutdown");
    assert!(matches!(
        application.await.unwrap(),
        ApplicationExit::Stopped(_)
    ));
}
