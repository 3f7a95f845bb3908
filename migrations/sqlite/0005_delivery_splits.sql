-- Split deliveries (0x0B with total_count > 1), held part by part until
-- whole. Every part answered STATUS_OK is a committed row of
-- delivery_parts; when the last part arrives the writer assembles the
-- delivery into `deliveries` and removes the split and its parts in the
-- same transaction. A split that never completes stays here, state
-- 'abandoned' with the reason, so what its parts carried stays visible.
CREATE TABLE delivery_splits (
    id               INTEGER PRIMARY KEY,     -- given by the writer's tracker
    gw_id            TEXT NOT NULL,
    device_id        TEXT NOT NULL,           -- '' for the GW itself
    report_type      INTEGER NOT NULL,
    media_type       INTEGER NOT NULL,
    encryption_flag  INTEGER NOT NULL,        -- part 1's header byte 48
    keyed            INTEGER NOT NULL,        -- part 1 was keyed
    total_count      INTEGER NOT NULL,
    origin_timestamp INTEGER NOT NULL,        -- part 1's header, Unix seconds
    last_tid         INTEGER NOT NULL,        -- T-ID of the last part seen
    state            TEXT NOT NULL CHECK (state IN ('open', 'abandoned')),
    reason           TEXT,                    -- why abandoned
    peer             TEXT NOT NULL,           -- address of the last part's sender
    started_at       INTEGER NOT NULL,        -- Unix ms of part 1
    last_part_at     INTEGER NOT NULL,        -- Unix ms of the last part seen
    closed_at        INTEGER                  -- Unix ms it was abandoned
);
CREATE INDEX delivery_splits_gw_id ON delivery_splits (gw_id, id);
CREATE INDEX delivery_splits_open ON delivery_splits (id) WHERE state = 'open';

CREATE TABLE delivery_parts (
    split_id      INTEGER NOT NULL REFERENCES delivery_splits (id) ON DELETE CASCADE,
    current_count INTEGER NOT NULL,
    tid           INTEGER NOT NULL,
    received_at   INTEGER NOT NULL,           -- Unix ms
    payload       BLOB NOT NULL,
    PRIMARY KEY (split_id, current_count)
);
