-- A gateway's registration lock (set and cleared over the HTTP API): while
-- it is set, a registration of the gateway's auth ID must carry the
-- gateway's current auth key in its header, so that knowing the auth ID
-- (a MAC printed on the module) is not enough to take the gateway over.
ALTER TABLE gateways ADD COLUMN registration_lock INTEGER NOT NULL DEFAULT 0;
