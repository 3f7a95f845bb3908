//! Seeds a running `omp-server` over GMMP for the HTTP contract check
//! (`scripts/contract-check.sh`): registers one gateway (auth ID
//! `0008dc1e3222`, as in the WizFi310 guide) and one device, then delivers
//! the guide's payload and a few more, waiting for each STATUS_OK.
//!
//! ```text
//! cargo run -p omp-server --example seed -- 127.0.0.1:31002 [deliveries]
//! ```
//!
//! Prints the assigned GW ID and device ID on stdout (`gw_id=… device_id=…`).

use std::error::Error;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use gmmp_codec::{
    DeliveryRequest, DeviceRegistrationRequest, FixedStr, Frame, GmmpCodec, GwRegistrationRequest,
    Header, Message, ReportType,
};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

const AUTH_ID: &str = "0008dc1e3222";
const DOMAIN: &str = "ThingPlug";
/// The WizFi310 guide's delivery payload.
const SEED_PAYLOAD: &[u8] = b"WizFi310 test data !@#$%^&*(/)";
/// How long one answer may take before the seed gives up.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

type Result<T> = std::result::Result<T, Box<dyn Error>>;

async fn exchange(conn: &mut Framed<TcpStream, GmmpCodec>, frame: Frame) -> Result<Frame> {
    conn.send(frame).await?;
    let answer = tokio::time::timeout(ANSWER_TIMEOUT, conn.next())
        .await
        .map_err(|_| "no answer from the OMP")?
        .ok_or("the OMP closed the connection")??;
    if let Some(rc) = answer.message.result_code()
        && !rc.is_ok()
    {
        return Err(format!("the OMP answered {rc:?}").into());
    }
    Ok(answer)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .ok_or("usage: seed <gmmp host:port> [deliveries]")?;
    let count: u32 = args.next().map_or(Ok(5), |n| n.parse())?;
    let mut conn = Framed::new(TcpStream::connect(&addr).await?, GmmpCodec);
    let auth_id = FixedStr::new("auth_id", AUTH_ID)?;
    let domain = FixedStr::new("domain_code", DOMAIN)?;

    let registration = GwRegistrationRequest {
        domain_code: domain,
        manufacture_id: FixedStr::new("manufacture_id", "WIZnet")?,
    };
    let header = Header::new(auth_id, FixedStr::new("auth_key", "")?, 1);
    let answer = exchange(&mut conn, Frame::new(header, registration)).await?;
    let Message::GwRegistrationResponse(reg) = answer.message else {
        return Err("unexpected answer to the registration".into());
    };
    let gw_id = reg.gw_id;
    // The auth key travels in the answer's header (docs/gmmp.md §6.1).
    let auth_key = answer.header.auth_key;

    let device = DeviceRegistrationRequest {
        domain_code: domain,
        gw_id,
        manufacture_id: FixedStr::new("manufacture_id", "sensor-1")?,
    };
    let header = Header::new(auth_id, auth_key, 2);
    let answer = exchange(&mut conn, Frame::new(header, device)).await?;
    let Message::DeviceRegistrationResponse(dev) = answer.message else {
        return Err("unexpected answer to the device registration".into());
    };
    let device_id = dev.device_id;

    let report_types = [
        ReportType::COLLECT_DATA,
        ReportType::ALARM,
        ReportType::EVENT,
        ReportType::ALARM_CLEAR,
    ];
    for n in 0..count {
        let (device, payload) = if n == 0 {
            (FixedStr::new("device_id", "")?, SEED_PAYLOAD.to_vec())
        } else if n % 2 == 0 {
            (device_id, format!("device reading {n}").into_bytes())
        } else {
            (
                FixedStr::new("device_id", "")?,
                format!("gateway reading {n}").into_bytes(),
            )
        };
        let delivery = DeliveryRequest {
            domain_code: domain,
            gw_id,
            device_id: device,
            report_type: report_types[n as usize % report_types.len()],
            media_type: 0x01,
            payload: payload.into(),
        };
        let header = Header::new(auth_id, auth_key, 100 + n);
        exchange(&mut conn, Frame::new(header, delivery)).await?;
    }
    println!(
        "gw_id={} device_id={}",
        gw_id.to_display_string(),
        device_id.to_display_string()
    );
    Ok(())
}
