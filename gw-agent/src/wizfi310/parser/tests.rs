//! Parser tests: every item kind, binary payloads, every split point.

use super::*;
use std::net::Ipv4Addr;

fn parse_all(chunks: &[&[u8]]) -> Vec<Item> {
    let mut parser = Parser::default();
    let mut items = Vec::new();
    for chunk in chunks {
        parser.feed(chunk);
        while let Some(item) = parser.next_item() {
            items.push(item);
        }
    }
    items
}

fn text(s: &str) -> Item {
    Item::Response(ResponseLine::Text(s.into()))
}

const OK: Item = Item::Response(ResponseLine::Ok);

/// A payload with every troublesome byte: CR LF, braces, brackets, NUL, 0xFF.
fn nasty_payload() -> Vec<u8> {
    let mut payload = b"\r\n{0,1.2.3.4,5,6}[OK]\r\n[ERROR]\r\n}{[\0\xff\r\r\n\n".to_vec();
    payload.extend((0..=255u8).collect::<Vec<_>>());
    payload
}

fn data_frame(sid: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = format!("{{{sid},127.0.0.1,40000,{}}}", payload.len()).into_bytes();
    bytes.extend_from_slice(payload);
    bytes.extend_from_slice(b"\r\n");
    bytes
}

/// A stream with one of everything, and the items it must give.
fn everything() -> (Vec<u8>, Vec<Item>) {
    let payload = nasty_payload();
    let mut stream = Vec::new();
    let mut items = Vec::new();
    stream.extend_from_slice(b"AT+MMAC=?\r\n00:08:DC:1E:32:22\r\n[OK]\r\n");
    items.extend([
        Item::Response(ResponseLine::Echo("AT+MMAC=?".into())),
        text("00:08:DC:1E:32:22"),
        OK,
    ]);
    stream.extend_from_slice(&data_frame(2, &payload));
    items.push(Item::Event(Event::Data(SocketData {
        sid: 2,
        remote_ip: "127.0.0.1".parse().unwrap(),
        remote_port: 40000,
        payload: payload.clone().into(),
    })));
    stream.extend_from_slice(
        b"\r\n[CONNECT 1]\r\n\r\n[DISCONNECT 1]\r\n[LISTEN 3]\r\n\
          \r\n[Link-Up Event]\r\n\r\n    IP Addr    : 192.168.1.4\r\n    Gateway    : 192.168.1.1\r\n\r\n\
          [Link-Down Event]\r\n[Reset Event]\r\n[TCP Send Error]\r\n[GMMP CONNECT]\r\n[GMMP Disconnect]\r\n\
          [GMMP Control 5]\r\nGMMP Trace :  T-ID =55\r\n<OMP><Marker:OPE>\r\n",
    );
    items.extend([
        Item::Event(Event::Connect { sid: 1 }),
        Item::Event(Event::Disconnect { sid: 1 }),
        Item::Event(Event::Listen { sid: 3 }),
        Item::Event(Event::LinkUp {
            ip: Some(Ipv4Addr::new(192, 168, 1, 4)),
            gateway: Some(Ipv4Addr::new(192, 168, 1, 1)),
        }),
        Item::Event(Event::LinkDown),
        Item::Event(Event::Reset),
        Item::Event(Event::TcpSendError),
        Item::Event(Event::GmmpConnect),
        Item::Event(Event::GmmpDisconnect),
        Item::Event(Event::GmmpControl { control_type: 5 }),
        Item::Event(Event::Trace("GMMP Trace :  T-ID =55".into())),
        Item::Event(Event::Trace("<OMP><Marker:OPE>".into())),
    ]);
    stream.extend_from_slice(b"[0,,,5]\r\n[ERROR: INVALID SCID]\r\n");
    items.extend([
        Item::Response(ResponseLine::SendPrompt { sid: 0, len: 5 }),
        Item::Response(ResponseLine::Error("[ERROR: INVALID SCID]".into())),
    ]);
    (stream, items)
}

#[test]
fn every_item_kind_is_parsed_in_order() {
    let (stream, items) = everything();
    assert_eq!(parse_all(&[&stream]), items);
}

#[test]
fn splitting_at_every_byte_boundary_gives_the_same_items() {
    let (stream, items) = everything();
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        assert_eq!(parse_all(&[a, b]), items, "split at {cut}");
    }
}

#[test]
fn byte_by_byte_feeding_gives_the_same_items() {
    let (stream, items) = everything();
    let chunks: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(parse_all(&chunks), items);
}

#[test]
fn a_2048_byte_payload_of_line_ends_and_braces_is_taken_by_length() {
    let payload: Vec<u8> = b"\r\n{}[]".iter().copied().cycle().take(2048).collect();
    let mut stream = data_frame(0, &payload);
    stream.extend_from_slice(b"[OK]\r\n");
    let items = parse_all(&[&stream]);
    assert_eq!(items.len(), 2);
    let Item::Event(Event::Data(data)) = &items[0] else {
        panic!("not data: {:?}", items[0]);
    };
    assert_eq!(&data.payload[..], &payload[..]);
    assert_eq!(items[1], OK);
}

#[test]
fn echo_with_bare_cr_is_split_from_the_reply() {
    let items = parse_all(&[b"AT\r[OK]\r\n"]);
    assert_eq!(
        items,
        vec![Item::Response(ResponseLine::Echo("AT".into())), OK]
    );
}

#[test]
fn garbage_lines_and_false_headers_are_text() {
    let items = parse_all(&[b"\x01\x02zz\r\n{not a header}\r\n{0,1.2.3.4,5}\r\n{\r\n[OK]\r\n"]);
    assert_eq!(
        items,
        vec![
            text("\u{1}\u{2}zz"),
            text("{not a header}"),
            text("{0,1.2.3.4,5}"),
            text("{"),
            OK
        ]
    );
}

#[test]
fn an_endless_line_is_cut_rather_than_buffered_forever() {
    let junk = vec![b'x'; MAX_LINE * 2 + 10];
    let items = parse_all(&[&junk]);
    assert_eq!(items.len(), 2);
}

#[test]
fn link_up_without_address_lines_is_delivered_at_the_next_line() {
    let items = parse_all(&[b"[Link-Up Event]\r\n[OK]\r\n"]);
    assert_eq!(
        items,
        vec![
            Item::Event(Event::LinkUp {
                ip: None,
                gateway: None
            }),
            OK
        ]
    );
}

#[test]
fn data_mode_passes_everything_through_after_the_ok() {
    let mut parser = Parser::default();
    parser.enter_data_mode_after_ok();
    parser.feed(b"[OK]\r\n[CONNECT 0]\r\n{raw}");
    assert_eq!(parser.next_item(), Some(OK));
    assert!(parser.in_data_mode());
    assert_eq!(
        parser.next_item(),
        Some(Item::Event(Event::RawData(
            b"[CONNECT 0]\r\n{raw}".as_slice().into()
        )))
    );
    assert_eq!(parser.next_item(), None);
    parser.enter_command_mode();
    parser.feed(b"\r\n[OK]\r\n");
    assert_eq!(parser.next_item(), Some(OK));
}

#[test]
fn a_non_default_form_is_read() {
    let form = DataForm {
        start: b'<',
        delim: b';',
        end: b'>',
        trailer: vec![],
    };
    let mut parser = Parser::new(form);
    parser.feed(b"<1;10.0.0.1;80;3>a\r\n[OK]\r\n");
    let Some(Item::Event(Event::Data(data))) = parser.next_item() else {
        panic!("no data");
    };
    assert_eq!(&data.payload[..], b"a\r\n");
    assert_eq!(parser.next_item(), Some(OK));
}
