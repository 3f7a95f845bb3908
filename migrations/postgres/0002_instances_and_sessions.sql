-- The instances sharing this database and which one holds each live
-- session (omp-server/src/cluster/). PostgreSQL only: on SQLite one
-- process holds every session, and `omp-server migrate` copies neither
-- table (what they hold is about running processes, not data).
--
-- Times are BIGINT Unix milliseconds, as in 0001.

-- One row per running instance: its id is random, made at each start.
-- `heartbeat_at` is refreshed every `instance_heartbeat`; a clean stop
-- removes the row and the instance's sessions.
CREATE TABLE instances (
    id           TEXT PRIMARY KEY NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- The live session of each GW ID ('gmmp') and MQTT client id ('mqtt'):
-- the instance that claimed it last. `epoch` grows by one at each claim
-- of the key, whichever instance makes it, so "this instance's row with
-- this epoch" names one session: an ending session removes the row only
-- while it is still its own, and an instance whose session has a lower
-- epoch than another instance's row closes it. Not a foreign key to
-- `instances`: a killed instance's rows stay behind, and a claim must
-- not depend on them.
CREATE TABLE sessions (
    kind         TEXT NOT NULL CHECK (kind IN ('gmmp', 'mqtt')),
    key          TEXT NOT NULL,
    instance_id  TEXT NOT NULL,
    epoch        BIGINT NOT NULL,
    peer         TEXT NOT NULL,
    connected_at BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL,
    PRIMARY KEY (kind, key)
);

-- An instance's sessions: removed with it at its clean stop, and their
-- last_seen refreshed at its heartbeat.
CREATE INDEX sessions_instance_id ON sessions (instance_id);
