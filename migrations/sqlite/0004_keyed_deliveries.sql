-- Keyed deliveries (this project's GMMP extension, gmmp_codec::KEYED_DELIVERY):
-- a sender that marks a delivery keyed re-sends it under the same
-- (device, T-ID, origin_timestamp) until it sees STATUS_OK, so the writer
-- can acknowledge a resend of a stored delivery without storing it twice.
-- Unkeyed deliveries (every real module's) are never looked up.
ALTER TABLE deliveries ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0;
-- Only keyed rows are indexed: the unkeyed ingest path pays nothing.
CREATE INDEX deliveries_key ON deliveries (gw_id, tid, origin_timestamp)
    WHERE keyed = 1;
