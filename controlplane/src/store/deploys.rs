//! Deploys' table (see [`crate::deploy`]): `deploys`: id (decimal) → JSON
//! `{"v":"1","deploy":{…}}`. A deploy is rewritten whole on every change of one of its
//! machines: changes are a few per machine and deploy.

use redb::{ReadableDatabase as _, TableDefinition};
use serde::{Deserialize, Serialize};

use super::error::err;
use super::{json, read_all, Store, StoreError};
use crate::deploy::Deploy;

pub(super) const DEPLOYS: TableDefinition<&str, &[u8]> = TableDefinition::new("deploys");

#[derive(Serialize, Deserialize)]
#[serde(tag = "v")]
enum DeployRecord {
    #[serde(rename = "1")]
    V1 { deploy: Deploy },
}

impl Store {
    /// Every deploy, by id.
    ///
    /// # Errors
    /// Database failure.
    pub fn deploys(&self) -> Result<Vec<Deploy>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err("list deploys"))?;
        let records: Vec<DeployRecord> = read_all(&txn, DEPLOYS, "list deploys", json)?;
        let mut deploys: Vec<Deploy> = records
            .into_iter()
            .map(|DeployRecord::V1 { deploy }| deploy)
            .collect();
        deploys.sort_by_key(|d| d.id);
        Ok(deploys)
    }

    /// Stores `deploy`.
    ///
    /// # Errors
    /// Database failure.
    pub fn save_deploy(&self, deploy: &Deploy) -> Result<(), StoreError> {
        let record = DeployRecord::V1 {
            deploy: deploy.clone(),
        };
        self.put(
            DEPLOYS,
            &deploy.id.to_string(),
            Some(&record),
            "save deploy",
        )
    }
}
