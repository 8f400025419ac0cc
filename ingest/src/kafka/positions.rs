//! The positions the ledger holds for one partition, per pair channel of the reporter.

use std::collections::BTreeMap;

use contracts::api::StreamAt;
use contracts::client::{Clearing, ClientError};
use contracts::{StreamPosition, StreamQuery};
use settlement::carrier::CarrierId;

/// Each partner channel's position of `partition` (`None`: nothing committed there yet).
pub async fn load(
    client: &Clearing,
    topic: &str,
    partition: i32,
) -> Result<BTreeMap<CarrierId, Option<StreamPosition>>, ClientError> {
    let mut out = BTreeMap::new();
    for partner in client.partners() {
        let at = client
            .call::<StreamAt>(
                partner,
                StreamQuery {
                    topic: topic.to_string(),
                    partition,
                },
            )
            .await?;
        out.insert(partner, at);
    }
    Ok(out)
}

/// Where a partition resumes: the least position over the channels open for it (a
/// channel opens before any message is judged with it, so one without a position has
/// nothing counted); `None` when none is open (never consumed: read from the start).
pub fn resume_at(positions: &BTreeMap<CarrierId, Option<StreamPosition>>) -> Option<i64> {
    positions.values().flatten().map(|p| p.next).min()
}
