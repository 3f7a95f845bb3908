//! The MQTTS port: the SIM7600 seed over TLS and in plain MQTT on the
//! same port (the first byte decides), acknowledgements after the
//! commit, a stray client or a stalled handshake closing its connection
//! alone, the self-signed certificate made once and reused, and the
//! `mqtts_cert` / `mqtts_key` settings' errors.

mod common;
mod mqtt;

use std::time::Duration;

use mqtt::sim7600::{CONNACK_OK, SIM_CONNECT_31, SIM_CONNECT_311, SIM_PUBLISH};
use mqtt::{Raw, TestCert, hex};
use omp_server::ProvisioningMode;
use omp_server::store::mqtt_provisioning::LoginProfile;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

async fn sim7600_server(dir: &std::path::Path, cert: &TestCert) -> common::TestServer {
    let server = mqtt::start_mqtts(dir, ProvisioningMode::Approved, cert, |_| {}).await;
    mqtt::provision(
        &server,
        LoginProfile::ClientId,
        Some("client test0"),
        None,
        None,
    )
    .await;
    server
}

/// The seed's CONNECT and QoS 1 PUBLISH over `c`; asserts the PUBACK
/// comes with the row already committed, the `n`th of the client.
async fn connect_and_publish<S>(
    server: &common::TestServer,
    c: &mut Raw<S>,
    connect: &str,
    n: usize,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    c.send(&hex(connect)).await;
    assert_eq!(c.read_exact(4).await, hex(CONNACK_OK));
    c.send(&hex(SIM_PUBLISH)).await;
    assert_eq!(c.read_exact(4).await, hex("40 02 00 01"), "PUBACK");
    // PUBACK came: the row is committed, read at once.
    let stored = mqtt::messages(server, "client test0").await;
    assert_eq!(stored.len(), n);
    let m = &stored[n - 1];
    assert_eq!(m.payload, hex(SIM_PUBLISH)[19..].to_vec());
    assert_eq!(
        (m.topic.as_str(), m.qos, m.kind.as_str()),
        ("dddrrrggghhhk", 1, "publish")
    );
}

#[tokio::test]
async fn seed_003_over_tls_and_in_plain_mqtt_on_the_mqtts_port() {
    let dir = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let cert = mqtt::test_cert(certs.path());
    let server = sim7600_server(dir.path(), &cert).await;
    let mqtts = server.mqtts_addr.expect("MQTTS listens");

    // TLS, trusting the configured certificate: 3.1.1, then DISCONNECT.
    let mut tls = mqtt::tls_connect(mqtts, &cert.der).await;
    connect_and_publish(&server, &mut tls, SIM_CONNECT_311, 1).await;
    tls.send(&hex("c0 00")).await;
    assert_eq!(tls.read_exact(2).await, hex("d0 00"), "PINGRESP");
    tls.send(&hex("e0 00")).await;
    assert!(tls.closed().await);

    // Plain MQTT on the same port, as a SIM7600 without its SSL context
    // sends it: 3.1, the SIMCom default.
    let mut plain = Raw::connect_to(mqtts).await;
    connect_and_publish(&server, &mut plain, SIM_CONNECT_31, 2).await;
    plain.send(&hex("e0 00")).await;
    assert!(plain.closed().await);

    // Port 1883 is unchanged beside it.
    let mut mqtt = Raw::connect(&server).await;
    connect_and_publish(&server, &mut mqtt, SIM_CONNECT_311, 3).await;
    server.stop().await;
}

#[tokio::test]
async fn a_stray_first_byte_or_a_failed_handshake_closes_only_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let cert = mqtt::test_cert(certs.path());
    let server = sim7600_server(dir.path(), &cert).await;
    let mqtts = server.mqtts_addr.unwrap();
    let mut logged_in = mqtt::tls_connect(mqtts, &cert.der).await;
    logged_in.send(&hex(SIM_CONNECT_311)).await;
    assert_eq!(logged_in.read_exact(4).await, hex(CONNACK_OK));

    // Neither TLS nor MQTT: an HTTP request.
    let mut stray = Raw::connect_to(mqtts).await;
    stray.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(stray.closed().await);
    // A TLS record header with a body that is no ClientHello.
    let mut broken = Raw::connect_to(mqtts).await;
    broken.send(&hex("16 03 01 00 05 ff ff ff ff ff")).await;
    assert!(broken.closed().await);
    // A TLS client that trusts another certificate gives up the
    // handshake itself.
    let other = mqtt::test_cert(dir.path());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(other.der.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(mqtts).await.unwrap();
    let refused = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await;
    assert!(refused.is_err(), "an untrusted certificate is refused");

    // The logged-in client goes on.
    logged_in.send(&hex(SIM_PUBLISH)).await;
    assert_eq!(logged_in.read_exact(4).await, hex("40 02 00 01"));
    logged_in.send(&hex("c0 00")).await;
    assert_eq!(logged_in.read_exact(2).await, hex("d0 00"));
    server.stop().await;
}

#[tokio::test]
async fn a_tls_client_stalled_in_its_handshake_is_closed_at_the_connect_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let cert = mqtt::test_cert(certs.path());
    let server = mqtt::start_mqtts(dir.path(), ProvisioningMode::Open, &cert, |c| {
        c.first_frame_timeout = Duration::from_secs(1);
    })
    .await;
    let mqtts = server.mqtts_addr.unwrap();
    // A record header announcing a 512-byte ClientHello, and 4 of its bytes.
    let mut stalled = Raw::connect_to(mqtts).await;
    stalled.send(&hex("16 03 01 02 00 01 00 01 fc")).await;
    assert!(stalled.closed().await, "closed before the guard runs out");
    // Silent after TCP connect: closed the same way.
    let mut silent = Raw::connect_to(mqtts).await;
    assert!(silent.closed().await);
    // Neither holds a place under the unauthenticated caps any more.
    tokio::time::timeout(common::GUARD, async {
        while server.state.unauthenticated.total() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the unauthenticated places are given back");
    server.stop().await;
}

/// The certificate in `path`, first of its PEM file.
fn cert_in(path: &std::path::Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path).unwrap()
}

#[tokio::test]
async fn the_self_signed_certificate_is_made_at_the_first_start_and_reused() {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::PublicKeyParts;

    let dir = tempfile::tempdir().unwrap();
    let start = || {
        common::start(dir.path(), |c| {
            c.mqtts_listen = Some("127.0.0.1:0".parse().unwrap());
        })
    };
    let cert_path = dir.path().join("mqtts-cert.pem");
    let key_path = dir.path().join("mqtts-key.pem");
    assert!(!cert_path.exists());

    let server = start().await;
    let first = std::fs::read(&cert_path).expect("certificate made at the first start");
    let key_pem = std::fs::read_to_string(&key_path).expect("key made beside it");
    let rustls::pki_types::PrivateKeyDer::Pkcs8(der) =
        rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap()
    else {
        panic!("a PKCS#8 key expected");
    };
    let key = rsa::RsaPrivateKey::from_pkcs8_der(der.secret_pkcs8_der()).expect("an RSA key");
    assert_eq!(key.size() * 8, 2048);
    #[cfg(unix)]
    for path in [&cert_path, &key_path] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
    let trusted = cert_in(&cert_path);
    let mut c = mqtt::tls_connect(server.mqtts_addr.unwrap(), &trusted).await;
    c.send(&hex(SIM_CONNECT_311)).await;
    assert_eq!(c.read_exact(4).await, hex(CONNACK_OK));
    drop(c);
    server.stop().await;

    // The second start serves the same certificate: a client that pinned
    // it still connects.
    let server = start().await;
    assert_eq!(std::fs::read(&cert_path).unwrap(), first);
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), key_pem);
    let mut c = mqtt::tls_connect(server.mqtts_addr.unwrap(), &trusted).await;
    c.send(&hex(SIM_CONNECT_311)).await;
    assert_eq!(c.read_exact(4).await, hex(CONNACK_OK));
    drop(c);
    server.stop().await;
}

/// The error `omp_server::run` stops with under `tweak`.
async fn start_up_error(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut omp_server::Config),
) -> String {
    let mut config = common::test_config(dir);
    config.mqtts_listen = Some("127.0.0.1:0".parse().unwrap());
    tweak(&mut config);
    let shutdown = tokio_util::sync::CancellationToken::new();
    omp_server::run(config, shutdown)
        .await
        .expect_err("start-up refused")
        .to_string()
}

#[tokio::test]
async fn a_certificate_without_its_key_or_an_unreadable_file_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let cert = mqtt::test_cert(certs.path());

    let err = start_up_error(dir.path(), |c| c.mqtts_cert = Some(cert.cert.clone())).await;
    assert!(err.contains("mqtts_key is missing"), "{err}");
    let err = start_up_error(dir.path(), |c| c.mqtts_key = Some(cert.key.clone())).await;
    assert!(err.contains("mqtts_cert is missing"), "{err}");

    let missing = certs.path().join("absent.pem");
    let err = start_up_error(dir.path(), |c| {
        c.mqtts_cert = Some(missing.clone());
        c.mqtts_key = Some(cert.key.clone());
    })
    .await;
    assert!(err.starts_with("mqtts_cert "), "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");

    let not_a_key = certs.path().join("not-a-key.pem");
    std::fs::write(
        &not_a_key,
        "-----BEGIN NOTHING-----\n-----END NOTHING-----\n",
    )
    .unwrap();
    let err = start_up_error(dir.path(), |c| {
        c.mqtts_cert = Some(cert.cert.clone());
        c.mqtts_key = Some(not_a_key.clone());
    })
    .await;
    assert!(err.starts_with("mqtts_key "), "{err}");
    assert!(err.contains(&not_a_key.display().to_string()), "{err}");

    // None of these made a certificate of its own.
    assert!(!dir.path().join("mqtts-cert.pem").exists());
}
