-- Initial schema of the OMP server (GMMP side).
-- Times are INTEGER Unix milliseconds. IDs are TEXT as they appear on the wire.

-- auth_ids approved ahead of time (provisioning mode `approved`), like
-- ThingPlug's portal step. A NULL domain / manufacture_id accepts any.
CREATE TABLE provisioning (
    auth_id        TEXT PRIMARY KEY NOT NULL,
    domain         TEXT,
    manufacture_id TEXT,
    created_at     INTEGER NOT NULL
);

-- Registered gateways. `seq` numbers the GW IDs (SC + 8 digits).
-- A deregistered gateway keeps its row (and GW ID) with deregistered_at set.
CREATE TABLE gateways (
    seq                  INTEGER PRIMARY KEY,
    gw_id                TEXT NOT NULL UNIQUE,
    auth_id              TEXT NOT NULL UNIQUE,
    auth_key             TEXT NOT NULL,
    domain               TEXT NOT NULL,
    manufacture_id       TEXT NOT NULL,
    registered_at        INTEGER NOT NULL,
    deregistered_at      INTEGER,
    last_seen            INTEGER,
    last_peer            TEXT,
    -- encryption info (0x19/0x1A): 0x00 off, 0x01 on; algorithm per GMMP.md §5
    encryption_enabled   INTEGER NOT NULL DEFAULT 0,
    encryption_algorithm INTEGER NOT NULL DEFAULT 0,
    -- key set by the GW with 0x1B, raw bytes as received (trailing 0x00 trimmed)
    encryption_key       BLOB
);

-- Devices under a gateway. Registration is idempotent per (gw_id, manufacture_id).
CREATE TABLE devices (
    seq             INTEGER PRIMARY KEY,
    device_id       TEXT NOT NULL UNIQUE,
    gw_id           TEXT NOT NULL REFERENCES gateways (gw_id),
    manufacture_id  TEXT NOT NULL,
    registered_at   INTEGER NOT NULL,
    deregistered_at INTEGER,
    UNIQUE (gw_id, manufacture_id)
);

-- Profile (0x06 fields) per gateway (device_id = '') or device. A missing
-- row means the server's configured defaults.
CREATE TABLE profiles (
    gw_id            TEXT NOT NULL REFERENCES gateways (gw_id),
    device_id        TEXT NOT NULL DEFAULT '',
    heartbeat_period INTEGER NOT NULL, -- minutes
    report_period    INTEGER NOT NULL, -- minutes
    report_offset    INTEGER NOT NULL, -- seconds
    response_timeout INTEGER NOT NULL, -- seconds
    model            TEXT NOT NULL DEFAULT '',
    firmware_version TEXT NOT NULL DEFAULT '',
    software_version TEXT NOT NULL DEFAULT '',
    hardware_version TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (gw_id, device_id)
);

-- Deliveries (0x0B), the hot table: written only by the group-commit writer.
-- One index, for history / latest per gateway newest-first by id. No foreign
-- key here on purpose: the writer must not pay a lookup per row.
CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY,
    gw_id            TEXT NOT NULL,
    device_id        TEXT NOT NULL,          -- '' for the GW itself
    report_type      INTEGER NOT NULL,
    media_type       INTEGER NOT NULL,
    tid              INTEGER NOT NULL,
    origin_timestamp INTEGER NOT NULL,       -- header, Unix seconds as sent
    received_at      INTEGER NOT NULL,       -- Unix milliseconds
    encryption_flag  INTEGER NOT NULL,       -- header byte 48 as received
    payload          BLOB NOT NULL           -- byte-exact, reassembled if split
);
CREATE INDEX deliveries_gw_id ON deliveries (gw_id, id);
