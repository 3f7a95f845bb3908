use super::*;

fn items(parser: &mut Parser) -> Vec<Item> {
    std::iter::from_fn(|| parser.next_item()).collect()
}

fn all(bytes: &[u8]) -> Vec<Item> {
    let mut p = Parser::new();
    p.feed(bytes);
    items(&mut p)
}

fn success(id: Option<u8>, args: &[&str]) -> Item {
    Item::Line(ReplyLine::Success {
        id,
        args: args.iter().map(|a| a.to_string()).collect(),
    })
}

fn received(data: &[u8]) -> Item {
    Item::Received {
        sock: 0,
        from: None,
        data: Bytes::copy_from_slice(data),
    }
}

/// Every byte value, and the bytes a line-based reader trips over.
fn nasty_payload(len: usize) -> Vec<u8> {
    let mut pattern: Vec<u8> = b"[R,0,5]\r\n\0[V,0,2]]\r[S]\n[F,,3]\r\n".to_vec();
    pattern.extend(0..=255u8);
    pattern.into_iter().cycle().take(len).collect()
}

#[test]
fn replies_events_and_blank_lines() {
    assert_eq!(
        all(b"\r\n[S]\r\n[S,,1.3.1]\r\n[W,0]\r\n[S,0]\r\n[V,0,2]\r\n"),
        vec![
            success(None, &[]),
            success(None, &["1.3.1"]),
            Item::Line(ReplyLine::Wait { sock: Some(0) }),
            success(Some(0), &[]),
            Item::Event {
                sock: 0,
                event: SocketEvent::Closed
            },
        ]
    );
}

#[test]
fn a_receive_record_is_taken_by_length_whatever_it_holds() {
    let payload = nasty_payload(1024);
    let mut bytes = format!("[R,0,{}]\r\n", payload.len()).into_bytes();
    bytes.extend_from_slice(&payload);
    bytes.extend_from_slice(b"\r\n[S]\r\n");
    assert_eq!(all(&bytes), vec![received(&payload), success(None, &[])]);
}

#[test]
fn every_split_of_the_input_gives_the_same_items() {
    let payload = nasty_payload(300);
    let mut bytes = b"[S,,00:08:dc:1d:bb:8a]\r\n".to_vec();
    bytes.extend(format!("[R,0,{}]\r\n", payload.len()).into_bytes());
    bytes.extend_from_slice(&payload);
    bytes.extend_from_slice(b"\r\n[R,0,2]\r\n\r\n\r\n[V,0,2]\r\n");
    let want = vec![
        success(None, &["00:08:dc:1d:bb:8a"]),
        received(&payload),
        received(b"\r\n"),
        Item::Event {
            sock: 0,
            event: SocketEvent::Closed,
        },
    ];
    assert_eq!(all(&bytes), want);
    for cut in 1..bytes.len() {
        let mut p = Parser::new();
        p.feed(&bytes[..cut]);
        let mut got = items(&mut p);
        p.feed(&bytes[cut..]);
        got.extend(items(&mut p));
        assert_eq!(got, want, "split at {cut}");
    }
    // And one byte at a time.
    let mut p = Parser::new();
    let mut got = Vec::new();
    for b in &bytes {
        p.feed(std::slice::from_ref(b));
        got.extend(items(&mut p));
    }
    assert_eq!(got, want);
}

#[test]
fn records_back_to_back_and_a_missing_trailer() {
    let mut bytes = b"[R,0,3]\r\n]\r[".to_vec();
    bytes.extend_from_slice(b"\r\n[R,0,1]\r\n\xff[S]\r\n");
    assert_eq!(
        all(&bytes),
        vec![received(b"]\r["), received(b"\xff"), success(None, &[])]
    );
}

#[test]
fn dumps_are_taken_by_size() {
    assert_eq!(
        all(b"[D,,24]\r\n0,C,2000,127.0.0.1,31002\r\n[D,,0]\r\n[S]\r\n"),
        vec![
            Item::Dump {
                id: None,
                data: Bytes::from_static(b"0,C,2000,127.0.0.1,31002"),
            },
            Item::Dump {
                id: None,
                data: Bytes::new(),
            },
            success(None, &[]),
        ]
    );
}

#[test]
fn garbage_is_text_and_a_huge_header_is_not_obeyed() {
    let got = all(b"\xff]0,S[\r\n[R,0,99999999]\r\n[S]\r\n");
    assert!(matches!(&got[0], Item::Line(ReplyLine::Text(_))), "{got:?}");
    assert!(matches!(&got[1], Item::Line(ReplyLine::Text(_))), "{got:?}");
    assert_eq!(got[2], success(None, &[]));
    let long = vec![b'x'; MAX_LINE + 10];
    let got = all(&long);
    assert_eq!(got.len(), 1, "a line without an end is cut at MAX_LINE");
}
