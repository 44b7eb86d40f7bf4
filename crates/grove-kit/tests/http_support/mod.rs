//! An HTTP client for the health server tests.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Body = Empty<axum::body::Bytes>;

/// GETs `path` on 127.0.0.1:`port`: the status and the body.
pub async fn get(port: u16, path: &str) -> (u16, String) {
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
    let uri: axum::http::Uri = format!("http://127.0.0.1:{port}{path}").parse().unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), client.get(uri))
        .await
        .expect("an answer within 5 s")
        .expect("a response");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// A listener on a free loopback port.
pub fn listener() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}
