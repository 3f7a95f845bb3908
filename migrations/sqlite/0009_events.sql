-- The outbox: one row per thing that happened, written in the same
-- transaction as what it reports, so a reader that sees event N sees what
-- it is about, and an event is never visible for a write that rolled back.
--
-- `id` is AUTOINCREMENT: SQLite never reuses an id, and as every write
-- transaction holds the write lock from BEGIN IMMEDIATE to COMMIT (or is
-- one statement), ids increase in commit order. A reader that has seen
-- every id up to N has seen every event committed up to N: it keeps a
-- cursor (the last id it read) and reads `id > cursor` in pages.
--
-- `ref_id` is the row the event reports on where one exists (deliveries.id,
-- mqtt_messages.id, controls.id): a delivery's payload is stored once, in
-- `deliveries`, and joined when the event is read. `data` (JSON) holds
-- what is not kept elsewhere: a reason, a peer address, a state.
CREATE TABLE events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind      TEXT NOT NULL,
    gw_id     TEXT,               -- the gateway it is about, if any
    device_id TEXT,               -- the GMMP device or MQTT client, if any
    at        INTEGER NOT NULL,   -- Unix ms
    ref_id    INTEGER,
    data      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data))
);

-- Rows the database writes itself, like the control timeline (0003): no
-- writer can store a delivery, a message or a state change and forget
-- its event, and a rolled-back batch takes its events with it.
CREATE TRIGGER events_on_delivery AFTER INSERT ON deliveries
BEGIN
    INSERT INTO events (kind, gw_id, device_id, at, ref_id)
    VALUES ('delivery', NEW.gw_id, NULLIF(NEW.device_id, ''), NEW.received_at, NEW.id);
END;

CREATE TRIGGER events_on_mqtt_message AFTER INSERT ON mqtt_messages
BEGIN
    INSERT INTO events (kind, device_id, at, ref_id)
    VALUES ('mqtt_message', NEW.client_id, NEW.received_at, NEW.id);
END;

CREATE TRIGGER events_on_control_state AFTER INSERT ON control_events
BEGIN
    INSERT INTO events (kind, gw_id, device_id, at, ref_id, data)
    SELECT 'control_state', c.gw_id, COALESCE(c.mqtt_client_id, NULLIF(c.device_id, '')),
        NEW.at, c.id,
        json_object('control_id', c.id, 'state', NEW.state,
            'target', CASE WHEN c.gw_id IS NULL THEN 'mqtt' ELSE 'gmmp' END,
            'result_code', c.result_code)
    FROM controls AS c WHERE c.id = NEW.control_id;
END;
