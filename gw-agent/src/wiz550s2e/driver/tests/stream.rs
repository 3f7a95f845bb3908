//! Data mode: AT+MDATA, the connection's bytes both ways untouched,
//! `+++` back to command mode.

use super::*;

/// GMMP-like bytes that look like the module's own lines and records.
const BINARY: &[u8] = b"\x01\x02\r\n[R,0,3]\r\n[V,0,2]\r\n[S]\r\n\x00\xff";

#[tokio::test]
async fn the_bytes_behind_the_mdata_success_and_after_it_are_the_connections() {
    let mut behind = b"[S]\r\n".to_vec();
    behind.extend_from_slice(BINARY);
    let (driver, mut events, module) = scripted(vec![
        expect(b"AT+MMODE?\r\n", b"[S,,C,5000,127.0.0.1,31002]\r\n"),
        expect(b"AT+MDATA\r\n", &behind),
        Step::Swallow(BINARY.to_vec()),
        Step::Say(BINARY.to_vec()),
        expect(b"+++", b"\r\n\r\n\r\n[W,0]\r\n[S,0]\r\n"),
        expect(b"AT+MSTAT\r\n", b"[S,,1.3.1]\r\n"),
    ]);
    let mode = driver
        .execute(&crate::wiz550s2e::data_mode::GetWorkingMode)
        .await
        .unwrap();
    assert_eq!(mode.mode, 'C');
    assert!(!driver.in_data_mode());
    driver.enter_data_mode().await.unwrap();
    assert!(driver.in_data_mode());
    driver.write_stream(BINARY).await.unwrap();

    let mut got = Vec::new();
    while got.len() < 2 * BINARY.len() {
        match events.recv().await.unwrap() {
            Event::Stream(bytes) => got.extend_from_slice(&bytes),
            other => panic!("in data mode: {other:?}"),
        }
    }
    assert_eq!(got, [BINARY, BINARY].concat(), "byte-exact, nothing parsed");

    driver.escape().await.unwrap();
    assert!(!driver.in_data_mode());
    let refused = driver.write_stream(b"x").await;
    assert!(
        matches!(refused, Err(Error::InvalidArgument { .. })),
        "{refused:?}"
    );
    assert_eq!(driver.firmware_version().await.unwrap(), "1.3.1");
    module.await.unwrap();
}

#[tokio::test]
async fn a_refused_mdata_leaves_the_port_in_command_mode() {
    let (driver, mut events, module) = scripted(vec![
        expect(b"AT+MDATA\r\n", b"[F,,6]\r\n"),
        expect(b"AT+MSTAT\r\n", b"[S,,1.3.1]\r\n"),
        Step::Say(b"[V,0,2]\r\n".to_vec()),
    ]);
    assert_eq!(
        module_error(driver.enter_data_mode().await),
        (ErrorCode::NotAllowed, None)
    );
    assert!(!driver.in_data_mode());
    assert_eq!(driver.firmware_version().await.unwrap(), "1.3.1");
    assert!(
        matches!(events.recv().await, Some(Event::Socket { .. })),
        "still parsed as lines"
    );
    module.await.unwrap();
}
