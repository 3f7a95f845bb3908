//! The MQTT test client's login: a TCP connection, CONNECT (3.1.1, clean
//! session) and its CONNACK, for the load generator's idle sessions and
//! the fault harness's flood.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use mqtt_codec::{Connect, ConnectReturnCode, MqttCodec, Packet, Protocol};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// Connects to `target` as `client_id` with `keep_alive` seconds and waits
/// up to `answer_timeout` for an accepting CONNACK; the error in words.
pub async fn connect(
    target: SocketAddr,
    client_id: String,
    keep_alive: u16,
    answer_timeout: Duration,
) -> Result<Framed<TcpStream, MqttCodec>, String> {
    let stream = TcpStream::connect(target)
        .await
        .map_err(|e| format!("connect {target}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut framed = Framed::new(stream, MqttCodec::new());
    framed
        .send(Packet::Connect(Connect {
            protocol: Protocol::V311,
            clean_session: true,
            keep_alive,
            client_id,
            will: None,
            username: None,
            password: None,
        }))
        .await
        .map_err(|e| format!("CONNECT: {e}"))?;
    match tokio::time::timeout(answer_timeout, framed.next()).await {
        Ok(Some(Ok(Packet::ConnAck(ack)))) if ack.code == ConnectReturnCode::Accepted => Ok(framed),
        Ok(Some(Ok(Packet::ConnAck(ack)))) => Err(format!("CONNACK refused: {:?}", ack.code)),
        Ok(Some(Ok(other))) => Err(format!("{:?} before CONNACK", other.packet_type())),
        Ok(Some(Err(e))) => Err(format!("reading CONNACK: {e}")),
        Ok(None) => Err("closed before CONNACK".into()),
        Err(_) => Err("no CONNACK".into()),
    }
}
