//! Failed handshakes under attack are counted, not each logged: thousands of connect-and-close
//! cycles give a handful of warnings (the first, then one at each power of two), while the
//! counter keeps the exact number. Its own binary: it installs the process's log subscriber.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Collects every formatted log line.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn warnings(&self) -> usize {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|line| line.contains("WARN"))
            .count()
    }
}

#[test]
fn thousands_of_failed_handshakes_give_a_handful_of_warnings() {
    let lines = Lines::default();
    let writer = lines.clone();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .init();
    let node = test_node("quiet@127.0.0.1", |builder| {
        builder
            .secret_only()
            .handshake_timeout(Duration::from_secs(2))
    });
    const CYCLES: u64 = 2_000;
    runtime().block_on(async {
        for i in 0..CYCLES {
            let mut stream = TcpStream::connect(node.listen_addr())
                .await
                .expect("connect");
            // Half say something that is not a handshake, half nothing at all.
            if i % 2 == 0 {
                let _ = stream.write_all(b"GET / HTTP/1.1\r\n\r\n").await;
            }
            drop(stream);
        }
        let failed = || {
            let stats = node.stats();
            stats.handshakes_failed
                + stats.connections_refused_flood
                + stats.connections_refused_address
        };
        tokio::time::timeout(LONG, async {
            while failed() < CYCLES {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("every cycle is counted");
    });
    // 2,000 failures: the first and each power of two up to 1,024 is 11 lines per counter
    // (failed, refused in a flood, refused for the address's share).
    let warnings = lines.warnings();
    assert!(
        warnings <= 33,
        "{warnings} warnings for {CYCLES} failed handshakes"
    );
    assert!(warnings >= 1, "the first failure is logged");
}
