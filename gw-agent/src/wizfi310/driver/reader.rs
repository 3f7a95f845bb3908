//! The reader task: port bytes → parser → events, and replies to the
//! command in flight.

use super::*;

/// The reader task: port bytes → parser → events / replies.
pub(super) async fn read_loop<R: AsyncRead + Unpin>(
    mut reader: R,
    mut parser: Parser,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<Event>,
    replies: mpsc::UnboundedSender<Incoming>,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "serial read failed; driver stops");
                break;
            }
        };
        parser.feed(&buf[..n]);
        loop {
            if shared.request_command_mode.swap(false, Ordering::SeqCst) {
                parser.enter_command_mode();
            }
            if shared.request_data_after_ok.swap(false, Ordering::SeqCst) {
                parser.enter_data_mode_after_ok();
            }
            let Some(item) = parser.next_item() else {
                break;
            };
            shared
                .data_mode
                .store(parser.in_data_mode(), Ordering::SeqCst);
            let pending = shared.pending.load(Ordering::SeqCst);
            match item {
                Item::Event(event) => {
                    if pending
                        && matches!(
                            event,
                            Event::Connect { .. }
                                | Event::Disconnect { .. }
                                | Event::LinkUp { .. }
                                | Event::LinkDown
                        )
                    {
                        let _ = replies.send(Incoming::Event(event.clone()));
                    }
                    let _ = events.send(event);
                }
                Item::Response(line) if pending => {
                    let _ = replies.send(Incoming::Line(line));
                }
                Item::Response(line) => tracing::debug!(?line, "unsolicited line"),
            }
        }
    }
}
