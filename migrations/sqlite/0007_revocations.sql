-- Removals of approvals that ended a gateway's registration, in order.
-- Written in the same transaction as the removal (by the HTTP API or by
-- `omp-server provision remove`, which may run beside the server); the
-- running server reads the rows after the last one it has acted on and
-- closes the sessions of those gateways.
CREATE TABLE revocations (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    auth_id    TEXT    NOT NULL,
    gw_id      TEXT,
    revoked_at INTEGER NOT NULL
);
