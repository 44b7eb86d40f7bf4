//! Spans exported over OTLP/HTTP to a collector on loopback: a call's span in the caller is the
//! parent of `handle_call` in the server, across processes and through nested calls, and a
//! supervisor's restart is a span. Its own test binary: the subscriber is global.
//!
//! Run it: `cargo test -p grove-kit --features otel --test otlp`
#![cfg(feature = "otel")]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use grove_kit::telemetry::Telemetry;
use grove_otp::gen_server::{Call, GenServer, ReplyTo, Server, ServerContext, StartOptions};
use grove_otp::supervisor::{ChildSpec, Supervisor};
use grove_runtime::{Context, ExitReason};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use parking_lot::Mutex;
use prost::Message;

/// What the collector received: each span with the service it came from.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
}

/// An OTLP/HTTP collector on a loopback port, on a thread and runtime of its own.
fn collector() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let store = received.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new()
                .route("/v1/traces", post(export))
                .with_state(store);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (port, received)
}

async fn export(State(store): State<Arc<Mutex<Vec<Received>>>>, body: Bytes) -> &'static str {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf request");
    let mut store = store.lock();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(name) => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                store.push(Received {
                    service: service.clone(),
                    name: span.name,
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_span_id: span.parent_span_id,
                });
            }
        }
    }
    ""
}

/// Answers by calling the next server down the chain, if any.
struct Hop {
    next: Option<Server<Hop>>,
}

impl GenServer for Hop {}

impl Call<u32> for Hop {
    type Reply = u32;

    async fn handle_call(&mut self, n: u32, from: ReplyTo<u32>, _: &mut ServerContext<Self>) {
        let answer = match self.next {
            Some(next) => next.call(n + 1).await.unwrap_or(0),
            None => n,
        };
        from.reply(answer);
    }
}

#[test]
fn calls_and_restarts_are_exported_as_linked_spans() {
    let (port, received) = collector();
    let telemetry = Telemetry::new()
        .log_filter("off")
        .otlp("grove-otlp-test")
        .otlp_endpoint(&format!("http://127.0.0.1:{port}/v1/traces"))
        .init()
        .expect("telemetry is set up");

    let reason = grove_runtime::run(|_: Context<()>| async {
        let back = Server::start_opt(Hop { next: None }, StartOptions::new().link())
            .await
            .unwrap();
        let front = Server::start_opt(Hop { next: Some(back) }, StartOptions::new().link())
            .await
            .unwrap();
        assert_eq!(front.call(1).await.unwrap(), 2);

        // A child that crashes once, and is restarted.
        let crashed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tree = Supervisor::one_for_one()
            .child(ChildSpec::process("flaky", move |_: Context<()>| {
                let crashed = crashed.clone();
                async move {
                    if !crashed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        return Err(ExitReason::error("first run crashes"));
                    }
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(())
                }
            }))
            .start()
            .await
            .unwrap();
        while grove_otp::supervisor::stats::snapshot().restarts == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tree.stop(ExitReason::Shutdown).await.unwrap();
    });
    assert!(reason.is_normal(), "{reason:?}");
    telemetry.flush().expect("the collector took the spans");

    let spans = received.lock().clone();
    assert!(spans.iter().all(|s| s.service == "grove-otlp-test"));
    let named =
        |name: &str| -> Vec<&Received> { spans.iter().filter(|s| s.name == name).collect() };
    let calls = named("grove.call");
    let handled = named("grove.handle_call");
    assert_eq!((calls.len(), handled.len()), (2, 2), "{spans:#?}");

    // The outer call is a root; its handle_call is its child; the nested call is made inside
    // that handle_call; the inner handle_call is the nested call's child. One trace.
    let outer = calls
        .iter()
        .find(|c| c.parent_span_id.is_empty())
        .expect("a root call");
    let parent_of = |span: &Received| {
        spans
            .iter()
            .find(|s| s.span_id == span.parent_span_id)
            .map(|s| s.name.as_str())
    };
    let outer_handled = handled
        .iter()
        .find(|h| h.parent_span_id == outer.span_id)
        .expect("the server's span is the caller's child");
    let inner = calls
        .iter()
        .find(|c| c.parent_span_id == outer_handled.span_id)
        .expect("the nested call is made inside the outer handle_call");
    let inner_handled = handled
        .iter()
        .find(|h| h.parent_span_id == inner.span_id)
        .expect("the back server's span is the nested call's child");
    assert_eq!(parent_of(inner_handled), Some("grove.call"));
    for span in [outer_handled, inner, inner_handled] {
        assert_eq!(span.trace_id, outer.trace_id, "one trace");
    }

    assert!(!named("grove.supervisor.restart").is_empty(), "{spans:#?}");
    assert!(named("grove.supervisor.start_child").len() >= 2);
    assert!(!named("grove.supervisor.shutdown").is_empty());
}
