//! The boot history: `history`: sequence number → JSON [`HistoryRecord`], and
//! `history_by_mac`: (MAC, sequence number) → () to page one machine's history without a scan.
//! Bounded to the last [`crate::history::KEEP`] records.

use redb::{ReadableDatabase as _, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::error::err;
use super::{Store, StoreError};
use crate::history::BootRecord;

pub(super) const HISTORY: TableDefinition<u64, &[u8]> = TableDefinition::new("history");
pub(super) const BY_MAC: TableDefinition<(&str, u64), ()> = TableDefinition::new("history_by_mac");

/// The stored form, versioned apart from [`BootRecord`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "v")]
enum HistoryRecord {
    #[serde(rename = "1")]
    V1(BootRecord),
}

impl Store {
    /// Appends `records` (in increasing `seq`), then drops what is older than the last
    /// `keep`.
    ///
    /// # Errors
    /// Database failure.
    pub fn append_history(&self, records: &[BootRecord], keep: u64) -> Result<(), StoreError> {
        let Some(last) = records.last().map(|r| r.seq) else {
            return Ok(());
        };
        let txn = self.db()?.begin_write().map_err(err("save history"))?;
        {
            let mut history = txn.open_table(HISTORY).map_err(err("save history"))?;
            let mut by_mac = txn.open_table(BY_MAC).map_err(err("save history"))?;
            for r in records {
                let json = serde_json::to_vec(&HistoryRecord::V1(r.clone()))
                    .map_err(err("save history"))?;
                history
                    .insert(r.seq, json.as_slice())
                    .map_err(err("save history"))?;
                if let Some(mac) = &r.mac {
                    by_mac
                        .insert((mac.as_str(), r.seq), ())
                        .map_err(err("save history"))?;
                }
            }
            let oldest_kept = last.saturating_sub(keep.saturating_sub(1));
            let mut stale = Vec::new();
            for row in history.range(..oldest_kept).map_err(err("trim history"))? {
                let (seq, value) = row.map_err(err("trim history"))?;
                stale.push((seq.value(), mac_of(value.value())));
            }
            for (seq, mac) in stale {
                history.remove(seq).map_err(err("trim history"))?;
                if let Some(mac) = mac {
                    by_mac
                        .remove((mac.as_str(), seq))
                        .map_err(err("trim history"))?;
                }
            }
        }
        txn.commit().map_err(err("save history"))
    }

    /// Up to `limit` records older than `before` (all with `None`), newest first; only
    /// `mac`'s with `Some`.
    ///
    /// # Errors
    /// Database failure.
    pub fn history(
        &self,
        mac: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<BootRecord>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err("read history"))?;
        let history = match txn.open_table(HISTORY) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(err("read history")(e)),
        };
        let before = before.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        match mac {
            None => {
                for row in history.range(..before).map_err(err("read history"))?.rev() {
                    if out.len() == limit {
                        break;
                    }
                    let (_, value) = row.map_err(err("read history"))?;
                    out.extend(decode(value.value()));
                }
            }
            Some(mac) => {
                let by_mac = match txn.open_table(BY_MAC) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                    Err(e) => return Err(err("read history")(e)),
                };
                let range = by_mac
                    .range((mac, 0)..(mac, before))
                    .map_err(err("read history"))?;
                for row in range.rev() {
                    if out.len() == limit {
                        break;
                    }
                    let (key, _) = row.map_err(err("read history"))?;
                    let seq = key.value().1;
                    if let Some(value) = history.get(seq).map_err(err("read history"))? {
                        out.extend(decode(value.value()));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The last sequence number used, 0 for none.
    ///
    /// # Errors
    /// Database failure.
    pub fn last_history_seq(&self) -> Result<u64, StoreError> {
        let txn = self.db()?.begin_read().map_err(err("read history"))?;
        match txn.open_table(HISTORY) {
            Ok(t) => Ok(t
                .last()
                .map_err(err("read history"))?
                .map_or(0, |(k, _)| k.value())),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(err("read history")(e)),
        }
    }
}

/// The MAC of a stored record, all that trimming needs. Only that field is decoded: under a
/// DHCP storm past [`crate::history::KEEP`] records, every answer recorded drops one, and
/// decoding each dropped record whole (an internally tagged enum, buffered before it is
/// matched) showed in a profile of the coordinator at a few percent. Every version keeps
/// `mac`.
fn mac_of(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct MacOnly<'a> {
        #[serde(borrow)]
        mac: Option<std::borrow::Cow<'a, str>>,
    }
    match serde_json::from_slice::<MacOnly<'_>>(bytes) {
        Ok(r) => r.mac.map(std::borrow::Cow::into_owned),
        Err(e) => {
            tracing::error!(error = %e, "undecodable history record dropped");
            None
        }
    }
}

/// A record, or `None` (logged) when it does not decode.
fn decode(bytes: &[u8]) -> Option<BootRecord> {
    match serde_json::from_slice::<HistoryRecord>(bytes) {
        Ok(HistoryRecord::V1(r)) => Some(r),
        Err(e) => {
            tracing::error!(error = %e, "undecodable history record skipped");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, mac: Option<&str>) -> BootRecord {
        BootRecord {
            seq,
            time: seq,
            protocol: "dhcp".into(),
            client: "10.0.0.1:68".into(),
            mac: mac.map(String::from),
            object: "undionly.kpxe".into(),
            bytes: 0,
            duration_ms: 0,
            outcome: "complete".into(),
            detail: Some("bios".into()),
            image: None,
        }
    }

    #[test]
    fn trimming_keeps_the_newest_and_forgets_the_dropped_in_each_machines_index() {
        let dir = std::env::temp_dir().join(format!("fleetboot-history-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let (a, b) = ("52:54:00:00:00:0a", "52:54:00:00:00:0b");
        let first: Vec<_> = (1..=4)
            .map(|seq| record(seq, Some(if seq % 2 == 1 { a } else { b })))
            .collect();
        store.append_history(&first, 10).unwrap();
        store
            .append_history(&[record(5, None), record(6, Some(a))], 3)
            .unwrap();
        let seqs = |mac: Option<&str>| -> Vec<u64> {
            let all = store.history(mac, None, 100).unwrap();
            all.iter().map(|r| r.seq).collect()
        };
        assert_eq!(seqs(None), [6, 5, 4]);
        assert_eq!(seqs(Some(a)), [6]);
        assert_eq!(seqs(Some(b)), [4]);
        // The index holds no entry of a dropped record (a lookup would skip it, unseen).
        let txn = store.db().unwrap().begin_read().unwrap();
        let by_mac = txn.open_table(BY_MAC).unwrap();
        let indexed: Vec<(String, u64)> = by_mac
            .iter()
            .unwrap()
            .map(|row| {
                let (key, _) = row.unwrap();
                let (mac, seq) = key.value();
                (mac.to_owned(), seq)
            })
            .collect();
        assert_eq!(indexed, [(a.to_owned(), 6), (b.to_owned(), 4)]);
        drop((by_mac, txn));
        assert_eq!(mac_of(b"not json"), None);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
