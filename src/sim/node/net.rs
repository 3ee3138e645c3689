//! Listening helpers shared by the node processes.

use crate::sim::wire::{Conn, Reply, Request};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Binds `address:port`, retrying briefly while the port is still held (a quick restart).
pub fn bind(address: &str, port: u16) -> std::io::Result<TcpListener> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind((address, port)) {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Accepts connections forever, one thread each, handing each connection to `handle`.
pub fn accept_forever(listener: TcpListener, handle: Arc<dyn Fn(Conn) + Send + Sync>) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let Ok(conn) = Conn::from_stream(stream, Duration::from_secs(120)) else { continue };
            let h = Arc::clone(&handle);
            std::thread::spawn(move || h(conn));
        }
    });
}

/// Answers requests on one connection until it closes.
pub fn request_loop(mut conn: Conn, answer: impl Fn(Request) -> Reply) {
    loop {
        let req = match conn.recv::<Request>() {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(crate::sim::wire::WireError::Garbled(e)) => {
                let _ = conn.send(&Reply::err(format!("not a request of the simulator protocol: {e}")));
                return;
            }
            Err(_) => return,
        };
        if conn.send(&answer(req)).is_err() {
            return;
        }
    }
}
