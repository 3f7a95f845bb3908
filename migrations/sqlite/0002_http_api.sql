-- Schema of the HTTP API (issue 4): provisioning names and the control queue.
-- Times are INTEGER Unix milliseconds.

-- A label for people (the portal's device name); the GMMP side ignores it.
ALTER TABLE provisioning ADD COLUMN name TEXT;

-- Controls (GMMP 0x0D → 0x0E → 0x17) requested over the API. The API
-- inserts them QUEUED; the control dispatcher moves them on:
-- QUEUED → SENT → PROGRESS → SUCCESS | FAILED, or TIMEOUT, EXPIRED, CANCELLED.
CREATE TABLE controls (
    id              INTEGER PRIMARY KEY,
    gw_id           TEXT NOT NULL REFERENCES gateways (gw_id),
    device_id       TEXT NOT NULL DEFAULT '',   -- '' for the GW itself
    control_type    INTEGER NOT NULL,           -- GMMP ct, 0..=255
    data            BLOB,                       -- control body, NULL = none
    tid             INTEGER,                    -- OMP T-ID once sent
    state           TEXT NOT NULL,
    result_code     INTEGER,                    -- rc of the 0x0E or the 0x17
    result_data     BLOB,                       -- the 0x17 body as received
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    acknowledged_at INTEGER,
    completed_at    INTEGER,
    expires_at      INTEGER NOT NULL,
    idempotency_key TEXT                        -- the client's Idempotency-Key
);
-- Listing by gateway newest-first (and the dispatcher's oldest QUEUED first).
CREATE INDEX controls_gw_id ON controls (gw_id, id);
-- A retried POST with the same key for the same gateway finds its control.
CREATE UNIQUE INDEX controls_idempotency
    ON controls (gw_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Every state a control went through, in order (the API's `timeline`).
CREATE TABLE control_events (
    id         INTEGER PRIMARY KEY,
    control_id INTEGER NOT NULL REFERENCES controls (id),
    state      TEXT NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX control_events_control_id ON control_events (control_id, id);
