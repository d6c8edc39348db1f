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
                let mac = decode(value.value()).and_then(|r| r.mac);
                stale.push((seq.value(), mac));
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
