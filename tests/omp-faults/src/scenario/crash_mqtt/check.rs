//! The flood's promise checked against `mqtt_messages`, without IO:
//! every PUBACKed message stored; a message stored twice only if it was
//! published twice (QoS 1 is at least once: a PUBLISH whose PUBACK a
//! kill took is sent again); nothing stored that no client sent.

use std::collections::HashMap;

use super::client::{ClientLedger, client_id, payload};

/// What [`check`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FloodVerdict {
    /// Messages PUBACKed.
    pub acknowledged: u64,
    /// Rows in the table.
    pub rows: u64,
    /// PUBACKed, not stored.
    pub lost: u64,
    /// Stored more than once though published once.
    pub duplicated: u64,
    /// Stored more than once after being published again (allowed).
    pub retry_duplicates: u64,
    /// Stored though never published, or never PUBACKed and published
    /// once (allowed: the kill took the PUBACK), counted apart.
    pub stored_unacked: u64,
    /// Rows no client sent.
    pub foreign: u64,
}

/// Checks `ledgers` against the stored `(client id, payload)` rows.
pub fn check(ledgers: &[ClientLedger], rows: &[(String, Vec<u8>)]) -> FloodVerdict {
    let mut copies: HashMap<(&str, &[u8]), u64> = HashMap::new();
    for (client, body) in rows {
        *copies
            .entry((client.as_str(), body.as_slice()))
            .or_default() += 1;
    }
    let mut verdict = FloodVerdict {
        rows: rows.len() as u64,
        ..FloodVerdict::default()
    };
    let mut known = 0u64;
    for ledger in ledgers {
        let id = client_id(ledger.index);
        for (seq, m) in ledger.messages.iter().enumerate() {
            let body = payload(ledger.index, seq as u64);
            let n = copies
                .get(&(id.as_str(), body.as_bytes()))
                .copied()
                .unwrap_or(0);
            known += n;
            if m.acked {
                verdict.acknowledged += 1;
                if n == 0 {
                    verdict.lost += 1;
                }
            } else if n > 0 {
                verdict.stored_unacked += 1;
            }
            if n > 1 {
                if m.attempts > 1 {
                    verdict.retry_duplicates += 1;
                } else {
                    verdict.duplicated += 1;
                }
            }
        }
    }
    verdict.foreign = verdict.rows - known.min(verdict.rows);
    verdict
}

impl FloodVerdict {
    /// The broken promises in words.
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.lost > 0 {
            v.push(format!("{} PUBACKed messages are not stored", self.lost));
        }
        if self.duplicated > 0 {
            v.push(format!(
                "{} messages published once are stored more than once",
                self.duplicated
            ));
        }
        if self.foreign > 0 {
            v.push(format!("{} stored messages were never sent", self.foreign));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::super::client::MessageRecord;
    use super::*;

    fn ledger(index: u32, messages: &[(u32, bool)]) -> ClientLedger {
        ClientLedger {
            index,
            messages: messages
                .iter()
                .map(|&(attempts, acked)| MessageRecord { attempts, acked })
                .collect(),
            ..ClientLedger::default()
        }
    }

    fn row(index: u32, seq: u64) -> (String, Vec<u8>) {
        (client_id(index), payload(index, seq).into_bytes())
    }

    #[test]
    fn an_exact_run_and_a_resend_stored_twice_break_nothing() {
        let ledgers = [ledger(0, &[(1, true), (2, true)]), ledger(1, &[(1, false)])];
        let rows = [row(0, 0), row(0, 1), row(0, 1)];
        let v = check(&ledgers, &rows);
        assert_eq!(v.violations(), Vec::<String>::new());
        assert_eq!((v.acknowledged, v.retry_duplicates, v.rows), (2, 1, 3));
    }

    #[test]
    fn lost_duplicated_and_foreign_rows_are_named() {
        let ledgers = [ledger(0, &[(1, true), (1, true), (1, false)])];
        let rows = [row(0, 1), row(0, 1), row(0, 2), row(7, 0)];
        let v = check(&ledgers, &rows);
        assert_eq!(
            (v.lost, v.duplicated, v.foreign, v.stored_unacked),
            (1, 1, 1, 1)
        );
        assert_eq!(v.violations().len(), 3);
    }
}
