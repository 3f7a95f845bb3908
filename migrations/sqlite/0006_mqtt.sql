-- MQTT devices: who may connect, every PUBLISH byte-exact, the OneNET
-- `$dp` data points decoded from them, and each client's online state.

-- Clients approved ahead of time (mode `approved`), one login profile
-- each: 'onenet' (client id = device id, username = product id, password
-- = auth info), 'password' (username/password, any client id) and
-- 'client-id' (credential-less, this client id only).
CREATE TABLE mqtt_provisioning (
    id          INTEGER PRIMARY KEY,
    profile     TEXT NOT NULL CHECK (profile IN ('onenet', 'password', 'client-id')),
    client_id   TEXT,                 -- NULL for 'password' (any client id)
    username    TEXT,                 -- 'onenet': product id; 'password': the user
    secret_hash TEXT,                 -- 'sha256$<salt hex>$<digest hex>'; NULL for 'client-id'
    created_at  INTEGER NOT NULL,
    CHECK ((profile = 'password') = (client_id IS NULL)),
    CHECK ((profile = 'client-id') = (secret_hash IS NULL)),
    CHECK (profile = 'client-id' OR username IS NOT NULL)
);
CREATE UNIQUE INDEX mqtt_provisioning_client_id ON mqtt_provisioning (client_id)
    WHERE client_id IS NOT NULL;
CREATE UNIQUE INDEX mqtt_provisioning_username ON mqtt_provisioning (username)
    WHERE profile = 'password';

-- Every PUBLISH received (kind 'publish') and every will published on a
-- session's end without DISCONNECT (kind 'will'), committed before its
-- PUBACK / PUBREC.
CREATE TABLE mqtt_messages (
    id             INTEGER PRIMARY KEY,
    client_id      TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('publish', 'will')),
    topic          TEXT NOT NULL,
    payload        BLOB NOT NULL,        -- byte-exact
    qos            INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),
    retain         INTEGER NOT NULL,
    dup            INTEGER NOT NULL,
    packet_id      INTEGER,              -- NULL at QoS 0 and for wills
    received_at    INTEGER NOT NULL,     -- Unix ms
    dp_undecodable INTEGER NOT NULL DEFAULT 0,  -- a `$dp` payload that did not decode
    dp_error       TEXT                  -- the decoder's reason, when it did not
);
CREATE INDEX mqtt_messages_client ON mqtt_messages (client_id, id);
CREATE INDEX mqtt_messages_retained ON mqtt_messages (topic, id) WHERE retain = 1;

-- Data points of `$dp` payloads, committed with their message.
CREATE TABLE mqtt_datapoints (
    id         INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES mqtt_messages (id),
    client_id  TEXT NOT NULL,
    stream     TEXT NOT NULL,
    at         TEXT,                     -- as the payload states it ('Z' when UTC)
    value      TEXT NOT NULL             -- JSON
);
CREATE INDEX mqtt_datapoints_client_stream ON mqtt_datapoints (client_id, stream, id);
CREATE INDEX mqtt_datapoints_message ON mqtt_datapoints (message_id);

-- Online state per client id: set at CONNACK 0, cleared at the session's end.
CREATE TABLE mqtt_presence (
    client_id    TEXT PRIMARY KEY,
    online       INTEGER NOT NULL,
    reason       TEXT,                   -- why the last session ended
    peer         TEXT NOT NULL,
    connected_at INTEGER NOT NULL,       -- Unix ms of the last CONNACK 0
    last_seen    INTEGER NOT NULL        -- Unix ms
);
