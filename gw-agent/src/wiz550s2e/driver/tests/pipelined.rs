//! Pipelined AT+NSEND against the scripted module: the next line is read
//! by the script before it answers the record in front of it, so a driver
//! that waited for `[S,0]` first would stall these scripts.

use super::*;

/// A stream of chunks for `send_pipelined`.
fn chunks(list: &[&[u8]]) -> impl FnMut() -> Option<Bytes> + use<> {
    let mut list: std::collections::VecDeque<Bytes> =
        list.iter().map(|c| Bytes::copy_from_slice(c)).collect();
    move || list.pop_front()
}

#[tokio::test]
async fn two_records_go_out_with_the_second_line_behind_the_first_data() {
    let (driver, mut events, module) = scripted(vec![
        expect(b"AT+NSEND=0,5\r\n", b"[W,0]\r\n"),
        Step::Swallow(b"first".to_vec()),
        expect(b"AT+NSEND=0,6\r\n", b"[S,0]\r\n[R,0,3]\r\n[W]\r\n[W,0]\r\n"),
        Step::Swallow(b"second".to_vec()),
        Step::Say(b"[S,0]\r\n".to_vec()),
        expect(b"AT\r\n", b"[S]\r\n"),
    ]);
    let sent = driver
        .send_pipelined(0, chunks(&[b"first", b"", b"second"]))
        .await
        .unwrap();
    assert_eq!(sent, 2, "the empty chunk needs no AT+NSEND");
    assert_eq!(
        events.recv().await.unwrap(),
        Event::Data {
            sock: 0,
            data: Bytes::from_static(b"[W]")
        },
        "received data between the answers is data, not a go-ahead"
    );
    driver.at().await.unwrap();
    module.await.unwrap();
}

#[tokio::test]
async fn a_failed_record_with_the_next_line_queued_fills_that_line_with_nuls() {
    let (driver, _events, module) = scripted(vec![
        expect(b"AT+NSEND=0,5\r\n", b"[W,0]\r\n"),
        Step::Swallow(b"first".to_vec()),
        expect(b"AT+NSEND=0,6\r\n", b"[F,,13]\r\n[W,0]\r\n"),
        // Not "second": that record's frames must not follow a lost one.
        Step::Swallow(vec![0; 6]),
        Step::Say(b"[F,,13]\r\n".to_vec()),
        expect(b"AT\r\n", b"[S]\r\n"),
    ]);
    let result = driver
        .send_pipelined(0, chunks(&[b"first", b"second", b"third"]))
        .await;
    match result {
        Err(Error::Module {
            command,
            code: ErrorCode::NotConnected,
            param: None,
        }) => assert_eq!(command, "AT+NSEND=0,5", "the failed record is reported"),
        other => panic!("{other:?}"),
    }
    driver.at().await.unwrap();
    module.await.unwrap();
}

#[tokio::test]
async fn a_failed_record_whose_queued_line_is_refused_writes_nothing_more() {
    let (driver, _events, module) = scripted(vec![
        expect(b"AT+NSEND=0,5\r\n", b"[W,0]\r\n"),
        Step::Swallow(b"first".to_vec()),
        expect(b"AT+NSEND=0,6\r\n", b"[F,,13]\r\n[F,,11]\r\n"),
        expect(b"AT\r\n", b"[S]\r\n"),
    ]);
    let result = driver
        .send_pipelined(0, chunks(&[b"first", b"second"]))
        .await;
    assert_eq!(module_error(result), (ErrorCode::NotConnected, None));
    driver.at().await.unwrap();
    module.await.unwrap();
}

#[tokio::test]
async fn a_busy_queued_line_is_written_again_after_the_record() {
    let (driver, _events, module) = scripted(vec![
        expect(b"AT+NSEND=0,5\r\n", b"[W,0]\r\n"),
        Step::Swallow(b"first".to_vec()),
        expect(b"AT+NSEND=0,6\r\n", b"[S,0]\r\n[F,,7,3]\r\n"),
        expect(b"AT+NSEND=0,6\r\n", b"[F,,7,3]\r\n"),
        expect(b"AT+NSEND=0,6\r\n", b"[W,0]\r\n"),
        Step::Swallow(b"second".to_vec()),
        expect(b"AT+NSEND=0,5\r\n", b"[S,0]\r\n[W,0]\r\n"),
        Step::Swallow(b"third".to_vec()),
        Step::Say(b"[S,0]\r\n".to_vec()),
    ]);
    let sent = driver
        .send_pipelined(0, chunks(&[b"first", b"second", b"third"]))
        .await
        .unwrap();
    assert_eq!(sent, 3);
    module.await.unwrap();
}

#[tokio::test]
async fn a_queued_line_stays_busy_beyond_busy_attempts() {
    let (driver, _events, module) = scripted(vec![
        expect(b"AT+NSEND=0,5\r\n", b"[W,0]\r\n"),
        Step::Swallow(b"first".to_vec()),
        expect(b"AT+NSEND=0,6\r\n", b"[S,0]\r\n[F,,7,0]\r\n"),
        expect(b"AT+NSEND=0,6\r\n", b"[F,,7,0]\r\n"),
        expect(b"AT+NSEND=0,6\r\n", b"[F,,7,0]\r\n"),
        expect(b"AT+NSEND=0,6\r\n", b"[F,,7,0]\r\n"),
    ]);
    let result = driver
        .send_pipelined(0, chunks(&[b"first", b"second"]))
        .await;
    assert_eq!(module_error(result), (ErrorCode::Busy, Some(0)));
    module.await.unwrap();
}

#[tokio::test]
async fn an_unanswered_record_with_the_next_line_queued_is_completed_then_resynced() {
    let (driver, _events, module) = scripted(vec![
        expect(b"AT+NSEND=0,5\r\n", b"[W,0]\r\n"),
        Step::Swallow(b"first".to_vec()),
        Step::Swallow(b"AT+NSEND=0,6\r\n".to_vec()),
        // The module may be waiting for the queued record's bytes.
        Step::Swallow(vec![0; 6]),
        expect(b"AT\r\n", b"[S,0]\r\n[S]\r\n"),
        expect(b"AT+MSTAT\r\n", b"[S,,1.3.1]\r\n"),
    ]);
    let result = driver
        .send_pipelined(0, chunks(&[b"first", b"second"]))
        .await;
    match result {
        Err(Error::Timeout { command, .. }) => assert_eq!(command, "AT+NSEND=0,5"),
        other => panic!("{other:?}"),
    }
    assert_eq!(driver.firmware_version().await.unwrap(), "1.3.1");
    module.await.unwrap();
}

#[tokio::test]
async fn a_lost_go_ahead_of_a_queued_line_is_completed_with_nuls() {
    let (driver, _events, module) = scripted(vec![
        expect(b"AT+NSEND=0,5\r\n", b"[W,0]\r\n"),
        Step::Swallow(b"first".to_vec()),
        expect(b"AT+NSEND=0,6\r\n", b"[S,0]\r\n"),
        Step::Swallow(vec![0; 6]),
        expect(b"AT\r\n", b"[S]\r\n"),
    ]);
    let result = driver
        .send_pipelined(0, chunks(&[b"first", b"second"]))
        .await;
    match result {
        Err(Error::Timeout { command, .. }) => assert_eq!(command, "AT+NSEND=0,6"),
        other => panic!("{other:?}"),
    }
    module.await.unwrap();
}

#[tokio::test]
async fn a_waiting_call_gets_its_turn_once_the_chunk_begun_is_out() {
    let chunk = vec![9u8; 1500];
    let (driver, _events, module) = scripted(vec![
        expect(b"AT+NSEND=0,1007\r\n", b"[W,0]\r\n"),
        Step::Swallow(chunk[..1007].to_vec()),
        // The chunk's second record still follows, pipelined.
        expect(b"AT+NSEND=0,493\r\n", b"[S,0]\r\n[W,0]\r\n"),
        // Nothing queued behind it: another call waits.
        Step::Swallow(chunk[1007..].to_vec()),
        Step::Say(b"[S,0]\r\n".to_vec()),
        expect(b"AT+NSEND=0,6\r\n", b"[W,0]\r\n"),
        Step::Swallow(b"second".to_vec()),
        Step::Say(b"[S,0]\r\n".to_vec()),
    ]);
    let mut list = chunks(&[&chunk, b"second"]);
    let mut asked = 0;
    let waiting = WaitingGuard::new(&driver.inner.waiting);
    let sent = driver
        .send_pipelined(0, || {
            asked += 1;
            list()
        })
        .await
        .unwrap();
    assert_eq!((sent, asked), (1, 1), "no chunk taken while a call waits");
    drop(waiting);
    assert_eq!(driver.send_pipelined(0, list).await.unwrap(), 1);
    module.await.unwrap();
}
