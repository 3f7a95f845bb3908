//! What SK Telecom's GMMP client library reads from each answer: the body
//! structs it reads them into (`Operation/*/Struct_*.h`, `#pragma pack(1)`)
//! and the checks an answer must pass for the library to take it as the
//! server meant it.
//!
//! How the library reads (facts from its source, `GMMP_Operation.c`,
//! `GMMP_Reg.c`, `GMMP_Delivery.c`, …): the 50-byte header first, then
//! `message_length − 50` bytes straight into the body struct. It never
//! checks that count against the struct's size, so a longer body
//! overflows it; a shorter one leaves the struct's tail as zeroed memory.
//! It does not check the message type or the T-ID in Always-Off mode (the
//! next frame on the socket is taken as the answer), and in Always-On mode
//! it only dispatches on the message type. Its application reads the
//! result code, the IDs and (registration) the auth key, a C string.

use crate::real_client::capture::{self, HEADER_LEN};

/// One body struct of the library, with the offsets of the fields its
/// callers read.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// The struct's name in the library.
    pub name: &'static str,
    /// `sizeof` the struct: the most the library can take.
    pub size: usize,
    /// Bodies the server must send exactly `size` bytes of.
    pub fixed: bool,
    pub gw_id: Option<usize>,
    pub device_id: Option<usize>,
    pub control_type: Option<usize>,
    pub result_code: Option<usize>,
}

const fn layout(name: &'static str, size: usize, fixed: bool) -> Layout {
    Layout {
        name,
        size,
        fixed,
        gw_id: Some(10),
        device_id: None,
        control_type: None,
        result_code: None,
    }
}

/// The library's body struct for answers (and the pushed control) of
/// `message_type`.
pub fn layout_of(message_type: u8) -> Layout {
    let with_device = |l: Layout| Layout {
        device_id: Some(26),
        ..l
    };
    match message_type {
        // domain_code[10] gw_id[16] ucResultCode
        0x02 => Layout {
            result_code: Some(26),
            ..layout("stGwRegistrationRspHdr", 27, true)
        },
        0x04 => Layout {
            result_code: Some(26),
            ..layout("stGwDeRegistrationRspHdr", 27, true)
        },
        // … device_id[16] ucResultCode, then four u32 and the version strings
        0x06 => with_device(Layout {
            result_code: Some(42),
            ..layout("stProfileRspHdr", 139, true)
        }),
        0x08 => with_device(Layout {
            result_code: Some(42),
            ..layout("stDeviceRegistrationRspHdr", 43, true)
        }),
        0x0A => with_device(Layout {
            result_code: Some(42),
            ..layout("stDeviceDeRegistrationRspHdr", 43, true)
        }),
        // … ucResultCode unBackOffTime[4]: 43 bytes read, or all 47
        0x0C => with_device(Layout {
            result_code: Some(42),
            ..layout("stPacketDeliveryRspHdr", 47, false)
        }),
        // … ucControlType usMessageBody[2048]
        0x0D => with_device(Layout {
            control_type: Some(42),
            ..layout("stControlReqHdr", 43 + 2048, false)
        }),
        // domain_code[10] gw_id[16]
        0x10 => layout("stHeartBeatMsgRspHdr", 26, true),
        // … ucControlType ucResultCode usMessageBody[2048]
        0x12 => with_device(Layout {
            control_type: Some(42),
            result_code: Some(43),
            ..layout("stLSentenceRspHdr", 44 + 2048, false)
        }),
        0x18 => with_device(Layout {
            control_type: Some(42),
            result_code: Some(43),
            ..layout("stNotificationRspHdr", 44, true)
        }),
        other => panic!("the flow has no answer of type 0x{other:02x}"),
    }
}

/// The library keeps the key of a GW registration answer the way its
/// `SetAuthKey` does: `memcpy(g_szAuthKey, key, strlen(key))` into
/// `char g_szAuthKey[16]`, where `key` points at the header's 16-byte key
/// field and `strlen` runs on into the T-ID bytes that follow it. Every
/// later call checks `strlen(g_szAuthKey) <= 16`, which needs a NUL inside
/// those 16 bytes. Returns the buffer when the key fits it with its NUL,
/// `None` when the library would go silent (LIB_PARAM_ERROR on every call).
pub fn keep_auth_key(answer_header: &[u8]) -> Option<[u8; 16]> {
    let from_key = &answer_header[28..HEADER_LEN];
    let strlen = from_key
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(from_key.len());
    if strlen >= 16 {
        return None;
    }
    let mut buffer = [0u8; 16];
    buffer[..strlen].copy_from_slice(&from_key[..strlen]);
    Some(buffer)
}

/// The library's next request header gets the kept key as its `SetHeader`
/// writes it: `memcpy(usAuthKey, key, strlen(key))` over a zeroed field.
pub fn with_kept_key(request: &[u8], kept: [u8; 16]) -> Vec<u8> {
    let strlen = kept.iter().position(|&b| b == 0).unwrap_or(16);
    let mut out = request.to_vec();
    out[28..44].fill(0);
    out[28..28 + strlen].copy_from_slice(&kept[..strlen]);
    out
}

/// Checks `answer` (to `request`, `None` for a pushed control request)
/// field by field as the library reads it; `gw_id` is the live GW ID.
/// Returns the answer's body.
pub fn check_answer<'a>(answer: &'a [u8], request: Option<&[u8]>, gw_id: [u8; 16]) -> &'a [u8] {
    let message_type = answer[3];
    let l = layout_of(message_type);
    let what = format!("0x{message_type:02x} ({})", l.name);
    assert_eq!(answer[0], 0x21, "{what}: version");
    let length = usize::from(u16::from_be_bytes([answer[1], answer[2]]));
    assert_eq!(length, answer.len(), "{what}: message_length");
    let body = &answer[HEADER_LEN..];
    assert!(
        body.len() <= l.size,
        "{what}: {} body bytes overflow the library's {}-byte struct",
        body.len(),
        l.size
    );
    if l.fixed {
        assert_eq!(body.len(), l.size, "{what}: body length");
    }
    if let Some(at) = l.result_code {
        assert!(body.len() > at, "{what}: the result code is on the wire");
        assert_eq!(body[at], 0x00, "{what}: result code");
    }
    if let Some(at) = l.gw_id {
        assert_eq!(
            capture::text(&body[at..at + 16]),
            capture::text(&gw_id),
            "{what}: GW ID"
        );
    }
    if let Some(request) = request {
        assert_eq!(
            capture::tid(answer),
            capture::tid(request),
            "{what}: T-ID echoed"
        );
        // A long sentence answer has counts of its own (its parts).
        if message_type != 0x12 {
            assert_eq!(
                capture::counts(answer),
                capture::counts(request),
                "{what}: total/current count echoed"
            );
        }
        if let Some(at) = l.device_id
            && request[3] != 0x07
        {
            assert_eq!(
                &body[at..at + 16],
                &request[HEADER_LEN + 26..HEADER_LEN + 42],
                "{what}: device ID echoed"
            );
        }
        if let Some(at) = l.control_type {
            assert_eq!(
                body[at],
                request[HEADER_LEN + 42],
                "{what}: control type echoed"
            );
        }
    }
    if message_type == 0x02 {
        assert!(
            keep_auth_key(&answer[..HEADER_LEN]).is_some(),
            "{what}: auth key {:?} leaves no NUL in the library's 16-byte buffer",
            capture::text(&capture::auth_key(answer))
        );
    }
    body
}

/// The payload of a long sentence answer (0x12).
pub fn long_sentence_payload(answer: &[u8]) -> &[u8] {
    &answer[HEADER_LEN + 44..]
}
