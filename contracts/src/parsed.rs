//! Ratesheets a peer has parsed, by key and the exact bytes it read. Every batch rates its
//! records with the payee's sheet in force, and parsing it (a CSV of thousands of rows) for
//! each of a month's thousands of batches was a measurable share of a batch's endorsement.
//!
//! A sheet is reused only when the bytes the transaction just read under its key are the
//! bytes it was parsed from, so the sheet is the one parsing them would give: the result
//! is the same on every peer, cached or not, and the read is recorded as any other.

use std::sync::{Arc, Mutex};

use ledger::contract::{Context, ContractError};
use settlement::carrier::CarrierId;
use settlement::ratesheet::Ratesheet;
use settlement::service::Service;

use crate::ratesheet::{StoredSheet, stored_sheet_for};

/// Sheets kept: one per payee, service and scope a peer rates with, a few at a time.
const KEPT: usize = 8;

/// The sheets a peer has parsed, most recently used last.
#[derive(Default)]
pub struct ParsedSheets(Mutex<Vec<Parsed>>);

struct Parsed {
    key: String,
    bytes: Vec<u8>,
    sheet: Arc<Ratesheet>,
}

impl std::fmt::Debug for ParsedSheets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<String> = self
            .0
            .lock()
            .map(|kept| kept.iter().map(|p| p.key.clone()).collect())
            .unwrap_or_default();
        f.debug_tuple("ParsedSheets").field(&keys).finish()
    }
}

impl ParsedSheets {
    /// SPEC §3.2: the payee's sheet for the payer as named counterparty if there is one,
    /// else its general one, as [`crate::ratesheet::sheet_for`] reads it.
    pub async fn sheet_for(
        &self,
        ctx: &mut Context<'_>,
        payee: CarrierId,
        payer: CarrierId,
        service: Service,
    ) -> Result<Option<Arc<Ratesheet>>, ContractError> {
        let Some((key, bytes)) = stored_sheet_for(ctx, payee, payer, service).await? else {
            return Ok(None);
        };
        if let Some(sheet) = self.find(&key, &bytes) {
            return Ok(Some(sheet));
        }
        let sheet = Arc::new(StoredSheet::parse(&key, &bytes)?);
        self.keep(key, bytes, Arc::clone(&sheet));
        Ok(Some(sheet))
    }

    /// The sheet parsed from exactly `bytes` under `key`, if kept. A lock poisoned by a
    /// panic keeps nothing: the sheet is parsed again.
    fn find(&self, key: &str, bytes: &[u8]) -> Option<Arc<Ratesheet>> {
        let mut kept = self.0.lock().ok()?;
        let at = kept.iter().position(|p| p.key == key && p.bytes == bytes)?;
        let parsed = kept.remove(at);
        let sheet = Arc::clone(&parsed.sheet);
        kept.push(parsed);
        Some(sheet)
    }

    /// Keeps a sheet parsed from `bytes`, in place of any other version under `key`, and
    /// lets the least recently used go past [`KEPT`].
    fn keep(&self, key: String, bytes: Vec<u8>, sheet: Arc<Ratesheet>) {
        let Ok(mut kept) = self.0.lock() else { return };
        kept.retain(|p| p.key != key);
        if kept.len() >= KEPT {
            kept.remove(0);
        }
        kept.push(Parsed { key, bytes, sheet });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().map(|kept| kept.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use ledger::contract::Creator;
    use ledger::identity::Role;
    use ledger::proto::Version;
    use ledger::state::{BlockUpdate, SqliteState, StateWrite, WorldState};
    use settlement::money::Rounding;

    use super::*;
    use crate::keys;
    use crate::ratesheet::Terms;

    fn carrier(name: &str) -> CarrierId {
        CarrierId::parse(name).unwrap()
    }

    /// beta's general voice sheet with one row for `destination`, as the state keeps it.
    fn stored(destination: &str) -> Vec<u8> {
        serde_json::to_vec(&StoredSheet {
            terms: Terms {
                owner: carrier("beta"),
                service: Service::Voice,
                currency: "EUR".parse().unwrap(),
                counterparty: None,
                decimals: 4,
                rounding: Rounding::default(),
            },
            csv: format!(
                "prefix,destination,rate,effective_from\n49,{destination},0.0100,2026-01-01\n"
            ),
            published_at: 0,
            version: 1,
            history: Vec::new(),
        })
        .unwrap()
    }

    async fn write(state: &SqliteState, block_num: u64, value: Vec<u8>) {
        state
            .commit(&BlockUpdate {
                block_num,
                writes: vec![StateWrite {
                    namespace: crate::CLEARING.into(),
                    key: keys::sheet("beta", "voice", "*"),
                    value: Some(value),
                    version: Version {
                        block_num,
                        tx_num: 0,
                    },
                }],
                claims: Vec::new(),
                claim_runs: Vec::new(),
            })
            .await
            .unwrap();
    }

    /// alpha's sheet from beta through `parsed`, and whether the transaction recorded the
    /// sheet's key as read.
    async fn sheet(parsed: &ParsedSheets, state: &SqliteState) -> (Arc<Ratesheet>, bool) {
        let creator = Creator {
            msp_id: "alpha".into(),
            role: Role::Client,
            name: "client".into(),
        };
        let mut ctx = Context::new(crate::CLEARING, state, creator, 0, "tx1");
        let sheet = parsed
            .sheet_for(&mut ctx, carrier("beta"), carrier("alpha"), Service::Voice)
            .await
            .unwrap()
            .unwrap();
        let key = keys::sheet("beta", "voice", "*");
        let read = ctx.into_results().0.ns_rwsets[0]
            .reads
            .iter()
            .any(|r| r.key == key);
        (sheet, read)
    }

    /// The same bytes give the same parsed sheet, read as any other value; other bytes
    /// under the key (a new version, or a tampered one) are parsed again.
    #[tokio::test]
    async fn a_sheet_is_parsed_again_only_when_its_bytes_change() {
        let state = SqliteState::in_memory().await.unwrap();
        let parsed = ParsedSheets::default();
        write(&state, 0, stored("Germany")).await;
        let (first, read) = sheet(&parsed, &state).await;
        assert!(read);
        assert_eq!(first.row(0).destination.to_string(), "Germany");
        let (again, read) = sheet(&parsed, &state).await;
        assert!(read && Arc::ptr_eq(&first, &again));
        write(&state, 1, stored("Deutschland")).await;
        let (changed, read) = sheet(&parsed, &state).await;
        assert!(read && !Arc::ptr_eq(&first, &changed));
        assert_eq!(changed.row(0).destination.to_string(), "Deutschland");
        // The older version is no longer kept beside it.
        assert_eq!(parsed.len(), 1);
        // A sheet that does not parse is corrupt state, cached or not.
        write(&state, 2, b"{".to_vec()).await;
        let creator = Creator {
            msp_id: "alpha".into(),
            role: Role::Client,
            name: "client".into(),
        };
        let mut ctx = Context::new(crate::CLEARING, &state, creator, 0, "tx1");
        let err = parsed
            .sheet_for(&mut ctx, carrier("beta"), carrier("alpha"), Service::Voice)
            .await
            .unwrap_err();
        let key = keys::sheet("beta", "voice", "*");
        assert!(
            err.to_string()
                .starts_with(&format!("corrupt world state at {key:?}")),
            "{err}"
        );
    }

    /// At most `KEPT` sheets are kept, the least recently used going first.
    #[test]
    fn the_least_recently_used_sheet_goes_first() {
        let parsed = ParsedSheets::default();
        let terms = settlement::ratesheet::SheetTerms::new(
            Service::Voice,
            "EUR".parse().unwrap(),
            4,
            Rounding::default(),
        )
        .unwrap();
        let sheet = Arc::new(
            Ratesheet::read(
                &b"prefix,destination,rate,effective_from\n49,Germany,0.0100,2026-01-01\n"[..],
                terms,
            )
            .unwrap(),
        );
        for i in 0..KEPT {
            parsed.keep(format!("k{i}"), vec![1], Arc::clone(&sheet));
        }
        // Using k0 makes k1 the least recently used.
        assert!(parsed.find("k0", &[1]).is_some());
        assert!(parsed.find("k0", &[2]).is_none());
        parsed.keep("new".into(), vec![1], sheet);
        assert_eq!(parsed.len(), KEPT);
        assert!(parsed.find("k1", &[1]).is_none());
        assert!(parsed.find("k0", &[1]).is_some() && parsed.find("new", &[1]).is_some());
    }
}
