-- Commands to MQTT devices travel through the same control queue as GMMP
-- controls: one id space, one state machine, one timeline, one TTL sweep.
-- A control now targets either a GMMP gateway (gw_id, control_type) or an
-- MQTT client (mqtt_client_id, mqtt_topic, mqtt_qos), never both.
--
-- SQLite cannot drop a NOT NULL or add a CHECK in place, so `controls` and
-- `control_events` (whose foreign key names it) are rebuilt and copied,
-- the child dropped before its parent so no foreign key is ever dangling.

CREATE TABLE controls_rebuilt (
    id               INTEGER PRIMARY KEY,
    gw_id            TEXT REFERENCES gateways (gw_id),  -- NULL for an MQTT command
    device_id        TEXT NOT NULL DEFAULT '',          -- '' for the GW itself
    control_type     INTEGER,                           -- GMMP ct; NULL for MQTT
    data             BLOB,                              -- control body / MQTT payload
    tid              INTEGER,                           -- OMP T-ID once sent (GMMP)
    state            TEXT NOT NULL,
    result_code      INTEGER,                           -- rc of the 0x0E or the 0x17
    result_data      BLOB,                              -- 0x17 body / the device's reply payload
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    acknowledged_at  INTEGER,
    completed_at     INTEGER,
    expires_at       INTEGER NOT NULL,
    idempotency_key  TEXT,
    changed_at       INTEGER,
    mqtt_client_id   TEXT,                              -- the MQTT client commanded
    mqtt_topic       TEXT,                              -- topic published on ('$creq': OneNET command)
    mqtt_qos         INTEGER CHECK (mqtt_qos IN (0, 1, 2)),
    mqtt_reply_topic TEXT,                              -- the device's publish here ends it
    CHECK ((gw_id IS NULL) = (mqtt_client_id IS NOT NULL)),
    CHECK ((gw_id IS NULL) = (control_type IS NULL)),
    CHECK ((mqtt_client_id IS NULL) = (mqtt_topic IS NULL)),
    CHECK ((mqtt_client_id IS NULL) = (mqtt_qos IS NULL))
);
INSERT INTO controls_rebuilt (id, gw_id, device_id, control_type, data, tid, state,
    result_code, result_data, created_at, sent_at, acknowledged_at, completed_at,
    expires_at, idempotency_key, changed_at)
SELECT id, gw_id, device_id, control_type, data, tid, state, result_code, result_data,
    created_at, sent_at, acknowledged_at, completed_at, expires_at, idempotency_key,
    changed_at
FROM controls;

CREATE TABLE control_events_rebuilt (
    id         INTEGER PRIMARY KEY,
    control_id INTEGER NOT NULL REFERENCES controls_rebuilt (id),
    state      TEXT NOT NULL,
    at         INTEGER NOT NULL
);
INSERT INTO control_events_rebuilt (id, control_id, state, at)
SELECT id, control_id, state, at FROM control_events;

DROP TABLE control_events;
DROP TABLE controls;
-- Renaming rewrites the foreign key of control_events_rebuilt to `controls`.
ALTER TABLE controls_rebuilt RENAME TO controls;
ALTER TABLE control_events_rebuilt RENAME TO control_events;

CREATE INDEX control_events_control_id ON control_events (control_id, id);
CREATE INDEX controls_gw_id ON controls (gw_id, id);
CREATE UNIQUE INDEX controls_idempotency
    ON controls (gw_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX controls_queued ON controls (gw_id, id) WHERE state = 'QUEUED';
CREATE INDEX controls_queued_expiry ON controls (expires_at) WHERE state = 'QUEUED';
CREATE INDEX controls_in_flight ON controls (gw_id, id) WHERE state IN ('SENT', 'PROGRESS');

-- MQTT commands: listed per client newest first, pushed oldest first, and
-- a retried POST with the same key for the same client finds its command.
CREATE INDEX controls_mqtt_client ON controls (mqtt_client_id, id)
    WHERE mqtt_client_id IS NOT NULL;
CREATE INDEX controls_mqtt_queued ON controls (mqtt_client_id, id)
    WHERE mqtt_client_id IS NOT NULL AND state = 'QUEUED';
CREATE UNIQUE INDEX controls_mqtt_idempotency
    ON controls (mqtt_client_id, idempotency_key)
    WHERE mqtt_client_id IS NOT NULL AND idempotency_key IS NOT NULL;

CREATE TRIGGER control_events_on_insert AFTER INSERT ON controls
BEGIN
    INSERT INTO control_events (control_id, state, at)
    VALUES (NEW.id, NEW.state, COALESCE(NEW.changed_at, NEW.created_at));
END;

CREATE TRIGGER control_events_on_change AFTER UPDATE OF state ON controls
WHEN NEW.state IS NOT OLD.state
BEGIN
    INSERT INTO control_events (control_id, state, at)
    VALUES (NEW.id, NEW.state, COALESCE(NEW.changed_at, NEW.created_at));
END;
