//! Same-machine reference points the OMP's figures are divided by:
//! [`sqlite`] (batched-insert ceiling for the deliveries row shape),
//! [`tcp`] (loopback request/response with GMMP's sizes), [`mqtt`]
//! (Mosquitto's QoS 1 publish rate).

pub mod mqtt;
pub mod sqlite;
pub mod tcp;
