//! The guard against real sockets on this machine: what reaches a listener, and what does not.

use helpdesk_outbound::{client, Destinations};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A listener on loopback that counts the connections it accepts and the bytes it is sent, and
/// answers every request with `answer`.
struct Listener {
    port: u16,
    connections: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
}

async fn listener(answer: String) -> Listener {
    let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let (connections, bytes) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (c, b) = (connections.clone(), bytes.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = socket.accept().await else { return };
            c.fetch_add(1, Ordering::SeqCst);
            let (b, answer) = (b.clone(), answer.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                // A request's head arrives whole in one read on loopback; one answer per connection.
                if let Ok(n) = stream.read(&mut buf).await {
                    b.fetch_add(n, Ordering::SeqCst);
                    if n > 0 {
                        let _ = stream.write_all(answer.as_bytes()).await;
                    }
                }
            });
        }
    });
    Listener { port, connections, bytes }
}

fn ok() -> String {
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_string()
}

#[tokio::test]
async fn no_redirect_is_followed_whatever_the_destination() {
    let target = listener(ok()).await;
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{}/\r\ncontent-length: 0\r\n\r\n",
        target.port
    );
    let provider = listener(redirect).await;
    let response = client(Destinations::Any)
        .post(format!("http://127.0.0.1:{}/v1", provider.port))
        .body("prompt")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 307, "the redirect is the answer");
    assert_eq!(target.connections.load(Ordering::SeqCst), 0, "nothing went where it pointed");
}

#[tokio::test]
async fn private_destinations_are_refused_at_connect_time_in_every_spelling() {
    let server = listener(ok()).await;
    let port = server.port;
    let guarded = client(Destinations::PublicOnly);
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        // A name: refused by what it resolves to, before any connection.
        format!("http://localhost:{port}/"),
    ] {
        let error = guarded.post(&url).body("the organisation's prompt").send().await.unwrap_err();
        assert!(error.is_connect(), "{url}: {error:?}");
        let chain = std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source())
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(": ");
        assert!(chain.contains("not public") || chain.contains("no public address"), "{url}: {chain}");
    }
    assert_eq!(server.bytes.load(Ordering::SeqCst), 0, "not a byte of any request was sent");
    // The same listener answers a client that may reach private addresses.
    let open = client(Destinations::Any).get(format!("http://127.0.0.1:{port}/")).send().await.unwrap();
    assert_eq!(open.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn tcp_peers_resolve_to_public_addresses_only() {
    use helpdesk_outbound::resolve;
    let refused = resolve("localhost", 993, Destinations::PublicOnly).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(resolve("127.0.0.1", 993, Destinations::PublicOnly).await.is_err());
    assert!(resolve("::1", 993, Destinations::PublicOnly).await.is_err());
    assert_eq!(resolve("127.0.0.1", 993, Destinations::Any).await.unwrap(), vec!["127.0.0.1:993".parse().unwrap()]);
}
