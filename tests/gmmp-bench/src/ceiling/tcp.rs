//! `tcp-ceiling`: loopback request/response round trips with GMMP's
//! delivery sizes, the bound any GMMP server on this machine works under.
//!
//! An in-process server reads each request of `request_size` bytes (194 =
//! a delivery with a 100-byte payload) and answers `response_size` bytes
//! (93 = a delivery response); N client connections each keep one request
//! in flight, like GMMP gateways. Neither side parses anything: this is
//! the cost of the sockets and the runtime alone.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::error::BenchError;
use crate::latency::Latency;
use test_support::gmmp_client::payload_of;
use test_support::report::Report;

/// What `tcp-ceiling` needs.
#[derive(Debug, Clone)]
pub struct TcpCeilingOptions {
    /// Client connections.
    pub connections: usize,
    /// Bytes per request.
    pub request_size: usize,
    /// Bytes per response.
    pub response_size: usize,
    /// How long to run.
    pub duration: Duration,
}

/// Runs the server and the clients; reports round trips/s.
pub async fn run(opts: &TcpCeilingOptions) -> Result<Report, BenchError> {
    if opts.request_size == 0 || opts.response_size == 0 {
        return Err(BenchError::Config {
            option: "--request-size/--response-size",
            detail: "must be at least 1 byte".into(),
        });
    }
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::io("bind echo server", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BenchError::io("echo server address", e))?;
    let (request_size, response_size) = (opts.request_size, opts.response_size);
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, request_size, response_size));
        }
    });

    let start = Instant::now();
    let deadline = start + opts.duration;
    let mut clients = Vec::new();
    for _ in 0..opts.connections.max(1) {
        clients.push(tokio::spawn(client(
            addr,
            request_size,
            response_size,
            deadline,
        )));
    }
    let mut latency = Latency::new();
    let mut round_trips = 0u64;
    let mut first_error = None;
    for c in clients {
        match c.await {
            Ok(Ok((n, l))) => {
                round_trips += n;
                latency.merge(&l);
            }
            Ok(Err(e)) => {
                first_error.get_or_insert_with(|| e.to_string());
            }
            Err(e) => {
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let elapsed = start.elapsed();
    server.abort();

    let mut report = Report::new("tcp-ceiling");
    report
        .set("connections", opts.connections)
        .set("request_bytes", opts.request_size)
        .set("response_bytes", opts.response_size)
        .set("round_trips", round_trips)
        .set_f64("elapsed_secs", elapsed.as_secs_f64(), 3)
        .set_f64(
            "round_trips_per_sec",
            round_trips as f64 / elapsed.as_secs_f64().max(1e-9),
            1,
        );
    latency.add_to(&mut report, "");
    if let Some(e) = first_error {
        report.set("first_error", e);
    }
    Ok(report)
}

async fn serve(mut stream: TcpStream, request_size: usize, response_size: usize) {
    let _ = stream.set_nodelay(true);
    let mut request = vec![0u8; request_size];
    let response = payload_of(response_size);
    while stream.read_exact(&mut request).await.is_ok() {
        if stream.write_all(&response).await.is_err() {
            break;
        }
    }
}

async fn client(
    addr: SocketAddr,
    request_size: usize,
    response_size: usize,
    deadline: Instant,
) -> Result<(u64, Latency), BenchError> {
    let mut stream = test_support::gmmp_client::connect(addr, None).await?;
    let request = payload_of(request_size);
    let mut response = vec![0u8; response_size];
    let mut latency = Latency::new();
    let mut n = 0u64;
    while Instant::now() < deadline {
        let sent = Instant::now();
        stream
            .write_all(&request)
            .await
            .map_err(|e| BenchError::io("write request", e))?;
        stream
            .read_exact(&mut response)
            .await
            .map_err(|e| BenchError::io("read response", e))?;
        latency.record(sent.elapsed());
        n += 1;
    }
    Ok((n, latency))
}
