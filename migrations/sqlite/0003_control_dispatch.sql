-- The control dispatcher (issue 5) reads the open controls often: the
-- QUEUED ones of one gateway in creation order (on every connect and after
-- every completion), the next expiry, and at start-up the SENT/PROGRESS
-- ones. Partial indexes keep those reads proportional to the open
-- controls, not to the whole history.
CREATE INDEX controls_queued ON controls (gw_id, id) WHERE state = 'QUEUED';
CREATE INDEX controls_queued_expiry ON controls (expires_at) WHERE state = 'QUEUED';
CREATE INDEX controls_in_flight ON controls (gw_id, id) WHERE state IN ('SENT', 'PROGRESS');

-- The timeline is written by the database itself: every control inserted
-- or changing state gets its control_events row in the same statement, so
-- a transition is one UPDATE (one round trip, atomic without an explicit
-- transaction) and no writer can forget the timeline. `changed_at` is the
-- time of the latest change, which every UPDATE of `state` sets.
ALTER TABLE controls ADD COLUMN changed_at INTEGER;

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
