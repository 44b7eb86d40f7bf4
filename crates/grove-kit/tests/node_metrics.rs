//! With the `node` feature, `/metrics` serves the running node's distribution counters: here a
//! failed handshake shows as `grove_node_handshakes_failed_total`.
#![cfg(feature = "node")]

use std::time::Duration;

use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_counters_are_served_with_the_other_metrics() {
    // No node yet: no node counters.
    assert!(!grove_kit::metrics::render().contains("grove_node_"));
    let node = grove_node::NodeBuilder::new("metrics@127.0.0.1")
        .listen("127.0.0.1:0".parse().expect("address"))
        .secret("metrics test secret")
        .secret_only()
        .start()
        .await
        .expect("the node starts");
    // Something that is not a Grove handshake.
    let mut stream = tokio::net::TcpStream::connect(node.listen_addr())
        .await
        .expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    tokio::time::timeout(Duration::from_secs(10), async {
        while node.stats().handshakes_failed == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the failure is counted");
    let text = grove_kit::metrics::render();
    assert!(
        text.contains("grove_node_handshakes_failed_total 1"),
        "{text}"
    );
    assert!(text.contains("# HELP grove_node_handshakes_failed Handshakes that failed"));
    assert!(text.contains("grove_node_messages_out_total 0"));
}
