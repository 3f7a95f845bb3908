//! The SIM7600 seed's packets (SIMCom AT+CMQTT*), byte for byte.

/// SIM7600 CONNECT (3.1.1): client "client test0", keep-alive 60, clean,
/// will "0123456789"/"qwerty" QoS 1, no credentials.
pub const SIM_CONNECT_311: &str = "10 2c 00 04 4d 51 54 54 04 0e 00 3c 00 0c 63 6c 69 65 6e 74 20 74 \
                               65 73 74 30 00 0a 30 31 32 33 34 35 36 37 38 39 00 06 71 77 65 72 74 79";
/// The same as MQTT 3.1 (`MQIsdp`, level 3), the SIMCom default.
pub const SIM_CONNECT_31: &str = "10 2e 00 06 4d 51 49 73 64 70 03 0e 00 3c 00 0c 63 6c 69 65 6e 74 20 \
                              74 65 73 74 30 00 0a 30 31 32 33 34 35 36 37 38 39 00 06 71 77 65 72 74 79";
/// SIM7600 PUBLISH on dddrrrggghhhk, QoS 1, packet id 1, 60 bytes.
pub const SIM_PUBLISH: &str = "32 4d 00 0d 64 64 64 72 72 72 67 67 67 68 68 68 6b 00 01 \
    30 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 \
    30 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39";
/// CONNACK, session not present, accepted.
pub const CONNACK_OK: &str = "20 02 00 00";
