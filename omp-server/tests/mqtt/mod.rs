//! Helpers of the MQTT tests: a server with MQTT on 127.0.0.1:0, a raw
//! byte client, and reads of the stored rows.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use mqtt_codec::{MqttCodec, Packet};
use omp_server::mqtt::secret;
use omp_server::store::mqtt_provisioning::{self, LoginProfile, MqttProvision};
use omp_server::{Config, ProvisioningMode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

use crate::common::{self, GUARD, TestServer};

pub mod mosquitto;
pub mod sim7600;

/// Hex text (whitespace ignored) to bytes.
pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A server with MQTT on an ephemeral port, in `mode`.
pub async fn start(dir: &Path, mode: ProvisioningMode) -> TestServer {
    common::start(dir, |c: &mut Config| {
        c.mqtt_listen = Some("127.0.0.1:0".parse().unwrap());
        c.provisioning = mode;
    })
    .await
}

/// Approves a client.
pub async fn provision(
    server: &TestServer,
    profile: LoginProfile,
    client_id: Option<&str>,
    username: Option<&str>,
    password: Option<&str>,
) {
    let p = MqttProvision {
        profile,
        client_id: client_id.map(str::to_owned),
        username: username.map(str::to_owned),
        secret_hash: password.map(|p| secret::hash(p.as_bytes()).unwrap()),
        created_at: 0,
    };
    mqtt_provisioning::add(&server.state.db, &p).await.unwrap();
}

/// A client speaking raw bytes, over TCP or TLS.
pub struct Raw<S = TcpStream> {
    pub stream: S,
    buf: BytesMut,
}

impl Raw {
    pub async fn connect(server: &TestServer) -> Raw {
        Raw::connect_to(server.mqtt_addr.unwrap()).await
    }

    pub async fn connect_to(addr: SocketAddr) -> Raw {
        Raw::over(TcpStream::connect(addr).await.unwrap())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    pub fn over(stream: S) -> Raw<S> {
        Raw {
            stream,
            buf: BytesMut::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Exactly `n` bytes.
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill().await.expect("connection open");
        }
        self.buf.split_to(n).to_vec()
    }

    /// The next packet the server sends.
    pub async fn packet(&mut self) -> Packet {
        loop {
            if let Some(p) = MqttCodec::new().decode(&mut self.buf).unwrap() {
                return p;
            }
            self.fill().await.expect("connection open");
        }
    }

    /// True once the server has closed the connection (after any bytes).
    pub async fn closed(&mut self) -> bool {
        loop {
            match self.fill().await {
                None => return true,
                Some(_) => self.buf.clear(),
            }
        }
    }

    async fn fill(&mut self) -> Option<usize> {
        let mut chunk = [0u8; 512];
        let n = tokio::time::timeout(GUARD, self.stream.read(&mut chunk))
            .await
            .expect("server answers within the guard")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Some(n)
    }
}

/// Messages of `client_id`, oldest first.
pub async fn messages(
    server: &TestServer,
    client_id: &str,
) -> Vec<omp_server::store::mqtt_messages::StoredMessage> {
    let mut m =
        omp_server::store::mqtt_messages::page(&server.state.db, client_id, None, None, 1000)
            .await
            .unwrap();
    m.reverse();
    m
}

/// Waits (within the guard) until `client_id` has `n` messages.
pub async fn wait_for_messages(
    server: &TestServer,
    client_id: &str,
    n: usize,
) -> Vec<omp_server::store::mqtt_messages::StoredMessage> {
    tokio::time::timeout(GUARD, async {
        loop {
            let m = messages(server, client_id).await;
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("messages stored within the guard")
}

/// A certificate for `localhost` and its key, written to `dir` as the
/// PEM files `mqtts_cert` / `mqtts_key` name (ECDSA P-256: quick to make,
/// so that tests not about the generated RSA pair skip its key generation).
pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: rustls::pki_types::CertificateDer<'static>,
}

pub fn test_cert(dir: &Path) -> TestCert {
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.self_signed(&key_pair).unwrap();
    let paths = TestCert {
        cert: dir.join("test-cert.pem"),
        key: dir.join("test-key.pem"),
        der: cert.der().clone(),
    };
    std::fs::write(&paths.cert, cert.pem()).unwrap();
    std::fs::write(&paths.key, key_pair.serialize_pem()).unwrap();
    paths
}

/// A server with MQTT and MQTTS on ephemeral ports, in `mode`, with
/// `cert` (its files outside the data directory `dir`).
pub async fn start_mqtts(
    dir: &Path,
    mode: ProvisioningMode,
    cert: &TestCert,
    tweak: impl FnOnce(&mut Config),
) -> TestServer {
    common::start(dir, |c: &mut Config| {
        c.mqtt_listen = Some("127.0.0.1:0".parse().unwrap());
        c.mqtts_listen = Some("127.0.0.1:0".parse().unwrap());
        c.mqtts_cert = Some(cert.cert.clone());
        c.mqtts_key = Some(cert.key.clone());
        c.provisioning = mode;
        tweak(c);
    })
    .await
}

/// A TLS client of `addr` trusting `trusted` alone, as `localhost`.
pub async fn tls_connect(
    addr: SocketAddr,
    trusted: &rustls::pki_types::CertificateDer<'static>,
) -> Raw<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio::time::timeout(GUARD, connector.connect(name, tcp))
        .await
        .expect("handshake within the guard")
        .expect("handshake succeeds");
    Raw::over(tls)
}
