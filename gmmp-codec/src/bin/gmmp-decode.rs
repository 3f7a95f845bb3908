//! `gmmp-decode`: prints the WizFi310-style trace of GMMP frames given as
//! hex, from the arguments or, with none, from standard input. Whitespace
//! (and `0x` prefixes, `:` and `,` separators) are ignored, so a dump pasted
//! from a capture works. Several frames back to back are decoded in turn.
//! Bad input prints the codec's error and exits with status 1.
//!
//! ```text
//! $ gmmp-decode 21004c0f5e96bf00…
//! <OMP><Marker:OPS> [GW->OMP]GMMP_SetHB Start
//! …
//! ```

use std::io::Read;
use std::process::ExitCode;

use bytes::BytesMut;
use gmmp_codec::GmmpCodec;
use tokio_util::codec::Decoder;

fn clean_hex(text: &str) -> String {
    text.replace("0x", "")
        .replace("0X", "")
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':' && *c != ',')
        .collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "usage: gmmp-decode [HEX…]\n\
             Prints each GMMP frame in the hex input (arguments, or stdin when none)\n\
             as the WizFi310 traces it. Exits 1 on input that is not valid GMMP."
        );
        return ExitCode::SUCCESS;
    }
    let input = if args.is_empty() {
        let mut text = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut text) {
            eprintln!("gmmp-decode: cannot read standard input: {e}");
            return ExitCode::FAILURE;
        }
        text
    } else {
        args.join(" ")
    };
    let hex_text = clean_hex(&input);
    let bytes = match hex::decode(&hex_text) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("gmmp-decode: input is not hex: {e}");
            return ExitCode::FAILURE;
        }
    };
    if bytes.is_empty() {
        eprintln!("gmmp-decode: no input");
        return ExitCode::FAILURE;
    }
    let mut buf = BytesMut::from(&bytes[..]);
    let mut offset = 0usize;
    let mut index = 0usize;
    loop {
        let before = buf.len();
        match GmmpCodec.decode(&mut buf) {
            Ok(Some(frame)) => {
                if index > 0 {
                    println!();
                }
                println!(
                    "# frame {} at byte {offset}: {} bytes, type 0x{:02x} {}",
                    index + 1,
                    before - buf.len(),
                    frame.header.message_type,
                    frame.message_type().description()
                );
                print!("{}", frame.trace());
                offset += before - buf.len();
                index += 1;
                if buf.is_empty() {
                    return ExitCode::SUCCESS;
                }
            }
            Ok(None) => {
                eprintln!(
                    "gmmp-decode: frame at byte {offset} is incomplete: {} bytes given",
                    buf.len()
                );
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("gmmp-decode: frame at byte {offset}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
}
