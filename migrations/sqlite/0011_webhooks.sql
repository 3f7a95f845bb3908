-- Webhooks: receivers the server POSTs the outbox (table `events`) to, one
-- event at a time, in id order. Each keeps its own cursor, like any reader
-- of the outbox: `cursor` is the last event id delivered (answered 2xx) or
-- passed over by the filters, written after each 2xx, so a restarted
-- server goes on from it (at least once: an event delivered but not yet
-- recorded is sent again).
CREATE TABLE webhooks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    url             TEXT NOT NULL,
    secret          TEXT NOT NULL,       -- HMAC-SHA256 key of X-OMP-Signature
    kinds           TEXT CHECK (kinds IS NULL OR json_valid(kinds)), -- JSON array; NULL = every kind
    gw_id           TEXT,                -- only this gateway's events, if set
    enabled         INTEGER NOT NULL DEFAULT 1,
    cursor          INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,    -- Unix ms
    failing_since   INTEGER,             -- Unix ms of the first failure of the current run
    disabled_reason TEXT,
    last_error      TEXT
);
