//! A stored block's transactions, each decoded once: who proposed it (organisation and
//! certificate name), when, which contract function, its validation code, and for a valid
//! contract transaction its events and read-write set. Read-only decoding of what
//! validation already judged; it decides nothing. The audit trail, the outcomes a peer
//! streams when it commits a block, and the read models all read stored blocks here.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use openssl::x509::X509;
use prost::Message;

use crate::proto::view::{EndorserTransactionView, ProposalView};
use crate::proto::{Block, ContractEvent, KvWrite, TxType};
use crate::validate::{ValidationCode, stored_transactions, takes_effect};

/// One transaction of a block as an auditor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxAudit {
    /// Its position in the block.
    pub index: usize,
    /// Transaction id (empty when the envelope does not decode).
    pub tx_id: String,
    /// The verdict stored in the block.
    pub code: ValidationCode,
    /// The creator's organisation.
    pub org: String,
    /// The creator's certificate common name (the user or client).
    pub user: String,
    /// The transaction's timestamp, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The contract, empty for a configuration transaction.
    pub contract: String,
    /// The contract function, empty for a configuration transaction.
    pub function: String,
}

/// One transaction of a stored block, decoded once.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTx {
    /// Who, when, what, and the verdict.
    pub audit: TxAudit,
    /// The contract events, only for a valid transaction: what the peer streamed when it
    /// committed the block, so that anything derived from the event stream can be rebuilt
    /// from the block store.
    pub events: Vec<ContractEvent>,
    /// The read-write set's writes, only for a valid contract transaction.
    pub written: Option<TxWrites>,
}

/// What an audit reads of a `ProposalResponsePayload`: the writes and the events.
#[derive(Clone, PartialEq, prost::Message)]
struct ResponseWrites {
    /// `ProposalResponsePayload.results`, its writes.
    #[prost(message, optional, tag = "2")]
    results: Option<TxWrites>,
    /// `ProposalResponsePayload.events`.
    #[prost(message, repeated, tag = "3")]
    events: Vec<ContractEvent>,
}

/// A `TxRwSet` as an audit reads it: each namespace's writes. Reads, range queries and
/// claims (a key a record, for a CDR batch) are what validation judged; they are skipped
/// here, not decoded. The fields kept decode exactly as the whole message's do: prost
/// skips a field it does not know.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TxWrites {
    /// `TxRwSet.ns_rwsets`, each with its writes only.
    #[prost(message, repeated, tag = "1")]
    pub ns_rwsets: Vec<NsWrites>,
}

/// A `NsRwSet`'s namespace and writes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NsWrites {
    /// `NsRwSet.namespace`.
    #[prost(string, tag = "1")]
    pub namespace: String,
    /// `NsRwSet.writes`, in the order made.
    #[prost(message, repeated, tag = "4")]
    pub writes: Vec<KvWrite>,
}

impl StoredTx {
    /// The writes of `namespace` this transaction made that take effect (the last write of
    /// each key), in order, with their values (none for a delete): what the commit applied
    /// for it.
    pub fn writes(&self, namespace: &str) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.written
            .iter()
            .flat_map(|r| &r.ns_rwsets)
            .filter(move |ns| ns.namespace == namespace)
            .flat_map(|ns| ns.writes.iter().zip(takes_effect(&ns.writes)))
            .filter(|(_, effect)| *effect)
            .map(|(w, _)| {
                let value = (!w.is_delete).then_some(w.value.as_slice());
                (w.key.as_str(), value)
            })
    }
}

/// Every transaction of `block`, in order, each decoded once.
pub fn block_transactions(block: &Block) -> Vec<StoredTx> {
    stored_transactions(block)
        .map(|(index, code, payload)| {
            let (header, tx) = match payload {
                Some(p) => (p.header, EndorserTransactionView::decode(p.data).ok()),
                None => (None, None),
            };
            let creator = header.as_ref().and_then(|h| h.creator.as_ref());
            let user = creator
                .map(|c| common_name(&c.cert_pem))
                .unwrap_or_default();
            let org = creator.map(|c| c.msp_id.clone()).unwrap_or_default();
            let proposal = tx
                .as_ref()
                .and_then(|t| ProposalView::decode(t.proposal_bytes).ok());
            // Only a valid transaction's: validation decoded the whole of it.
            let response = tx
                .filter(|_| code == ValidationCode::Valid)
                .and_then(|t| ResponseWrites::decode(t.response_payload).ok());
            // A configuration transaction has no read-write set; what the commit applies
            // for it is the configuration (`validate::block_update`).
            let config = header
                .as_ref()
                .is_some_and(|h| h.tx_type == TxType::Config as i32);
            let (events, written) = match response {
                Some(r) => (r.events, r.results.filter(|_| !config)),
                None => (Vec::new(), None),
            };
            let (contract, function) = proposal
                .map(|p| (p.contract, p.function))
                .unwrap_or_default();
            StoredTx {
                audit: TxAudit {
                    index,
                    tx_id: header.as_ref().map(|h| h.tx_id.clone()).unwrap_or_default(),
                    code,
                    org,
                    user,
                    timestamp_ms: header.as_ref().map_or(0, |h| h.timestamp_ms),
                    contract,
                    function,
                },
                events,
                written,
            }
        })
        .collect()
}

/// Certificates whose common names are remembered; past this many the memory starts again.
const NAMES_KEPT: usize = 1024;

/// A PEM certificate's common name, empty when it has none or does not parse. Blocks come
/// from few certificates, so each is parsed once and its name remembered (the name depends
/// on the certificate's bytes alone).
fn common_name(pem: &[u8]) -> String {
    static NAMES: OnceLock<Mutex<HashMap<Vec<u8>, String>>> = OnceLock::new();
    let names = NAMES.get_or_init(Mutex::default);
    if let Ok(known) = names.lock()
        && let Some(name) = known.get(pem)
    {
        return name.clone();
    }
    let name = parse_common_name(pem);
    if let Ok(mut known) = names.lock() {
        if known.len() >= NAMES_KEPT {
            known.clear();
        }
        known.insert(pem.to_vec(), name.clone());
    }
    name
}

fn parse_common_name(pem: &[u8]) -> String {
    X509::from_pem(pem)
        .ok()
        .and_then(|cert| {
            let entry = cert
                .subject_name()
                .entries_by_nid(openssl::nid::Nid::COMMONNAME)
                .next()?;
            entry.data().to_string().ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::proto::{
        BlockData, BlockHeader, BlockMetadata, EndorserTransaction, Envelope, Header, KvRead,
        NsRwSet, Payload, Proposal, ProposalResponsePayload, RangeQueryInfo, Response, TxRwSet,
        Version,
    };

    /// The audit's partial response reads exactly the fields it keeps, from a response that
    /// carries every other field too (reads, range queries, claims).
    #[test]
    fn the_partial_response_reads_what_the_whole_one_reads() {
        let ns = |name: &str, writes: Vec<KvWrite>| NsRwSet {
            namespace: name.into(),
            reads: vec![KvRead {
                key: "r".into(),
                version: Some(Version {
                    block_num: 3,
                    tx_num: 1,
                }),
            }],
            range_queries: vec![RangeQueryInfo {
                start_key: "a".into(),
                end_key: "b".into(),
                reads_hash: vec![9; 32],
                ..RangeQueryInfo::default()
            }],
            writes,
            claims: (0..100)
                .map(|i| format!("seen\u{0}alpha\u{0}A{i}"))
                .collect(),
            unclaimed: vec!["u".into()],
            claim_runs: vec![crate::proto::KeyRun {
                prefix: "seen\u{0}alpha\u{0}B".into(),
                suffix: String::new(),
                first: 1,
                last: 9_000,
            }],
        };
        let whole = ProposalResponsePayload {
            proposal_hash: vec![5; 32],
            results: Some(TxRwSet {
                ns_rwsets: vec![
                    ns("kv", vec![write("a", Some("1")), write("b", None)]),
                    ns("other", vec![write("c", Some("2"))]),
                ],
            }),
            events: vec![ContractEvent {
                contract: "kv".into(),
                name: "put".into(),
                payload: vec![4; 300],
            }],
            response: Some(Response {
                status: 200,
                payload: b"ok".to_vec(),
                ..Response::default()
            }),
        };
        let read = ResponseWrites::decode(whole.encode_to_vec().as_slice()).unwrap();
        assert_eq!(read.events, whole.events);
        let kept: Vec<(&str, &[KvWrite])> = whole
            .results
            .iter()
            .flat_map(|r| &r.ns_rwsets)
            .map(|n| (n.namespace.as_str(), n.writes.as_slice()))
            .collect();
        let got: Vec<(&str, &[KvWrite])> = read
            .results
            .iter()
            .flat_map(|r| &r.ns_rwsets)
            .map(|n| (n.namespace.as_str(), n.writes.as_slice()))
            .collect();
        assert_eq!((got.len(), got), (2, kept));
    }

    fn write(key: &str, value: Option<&str>) -> KvWrite {
        KvWrite {
            key: key.into(),
            is_delete: value.is_none(),
            value: value.unwrap_or_default().as_bytes().to_vec(),
        }
    }

    /// An envelope of a contract transaction `id` with these writes in `kv` and one event.
    fn envelope(id: &str, writes: Vec<KvWrite>) -> Vec<u8> {
        envelope_by(id, writes, None)
    }

    /// The same, by `creator`: what validation's tests store too.
    pub(crate) fn envelope_by(
        id: &str,
        writes: Vec<KvWrite>,
        creator: Option<crate::proto::SerializedIdentity>,
    ) -> Vec<u8> {
        let response = ProposalResponsePayload {
            results: Some(TxRwSet {
                ns_rwsets: vec![NsRwSet {
                    namespace: "kv".into(),
                    writes,
                    ..NsRwSet::default()
                }],
            }),
            events: vec![ContractEvent {
                contract: "kv".into(),
                name: "put".into(),
                payload: id.as_bytes().to_vec(),
            }],
            ..ProposalResponsePayload::default()
        };
        let proposal = Proposal {
            contract: "kv".into(),
            function: "put".into(),
            ..Proposal::default()
        };
        let tx = EndorserTransaction {
            proposal_bytes: proposal.encode_to_vec().into(),
            response_payload: response.encode_to_vec().into(),
            ..EndorserTransaction::default()
        };
        let payload = Payload {
            header: Some(Header {
                tx_id: id.into(),
                timestamp_ms: 42,
                creator,
                ..Header::default()
            }),
            data: tx.encode_to_vec(),
        };
        Envelope {
            payload: payload.encode_to_vec(),
            signature: Vec::new(),
        }
        .encode_to_vec()
    }

    #[test]
    fn a_valid_transaction_has_its_events_and_the_writes_that_took_effect() {
        let writes = vec![
            write("a", Some("1")),
            write("b", Some("2")),
            write("a", Some("3")),
            write("c", None),
            write("b", None),
        ];
        let block = Block {
            header: Some(BlockHeader::default()),
            data: Some(BlockData {
                envelopes: vec![
                    envelope("t1", writes.clone()).into(),
                    envelope("t2", writes).into(),
                    bytes::Bytes::from_static(b"not an envelope"),
                ],
            }),
            metadata: Some(BlockMetadata {
                orderer_signature: None,
                validation_flags: vec![
                    ValidationCode::Valid as u8,
                    ValidationCode::MvccReadConflict as u8,
                    ValidationCode::BadPayload as u8,
                ],
                kafka_next_offset: 0,
            }),
        };
        let txs = block_transactions(&block);
        assert_eq!(txs.len(), 3);
        let valid = &txs[0];
        assert_eq!(
            (valid.audit.tx_id.as_str(), valid.audit.code),
            ("t1", ValidationCode::Valid)
        );
        assert_eq!(
            (valid.audit.contract.as_str(), valid.audit.function.as_str()),
            ("kv", "put")
        );
        assert_eq!(valid.audit.timestamp_ms, 42);
        assert_eq!(valid.events.len(), 1);
        // The last write of each key, in the order of those last writes; none elsewhere.
        let wrote: Vec<_> = valid.writes("kv").collect();
        assert_eq!(
            wrote,
            vec![("a", Some(&b"3"[..])), ("c", None), ("b", None)]
        );
        assert_eq!(valid.writes("other").count(), 0);
        // An invalid transaction is audited, but it announced and wrote nothing.
        let invalid = &txs[1];
        assert_eq!(
            (invalid.audit.tx_id.as_str(), invalid.audit.code),
            ("t2", ValidationCode::MvccReadConflict)
        );
        assert!(invalid.events.is_empty() && invalid.written.is_none());
        assert_eq!(invalid.writes("kv").count(), 0);
        // Bytes that are no envelope: their place and verdict, nothing else.
        let garbage = &txs[2];
        assert_eq!(garbage.audit.index, 2);
        assert!(garbage.audit.tx_id.is_empty() && garbage.written.is_none());
    }

    #[test]
    fn the_creator_is_named_by_its_certificate_however_often_it_signs() {
        use crate::identity::{CertificateAuthority, Role};
        let ca = CertificateAuthority::new("alpha", 30).unwrap();
        let ann = ca
            .issue("ann", Role::Client, 30)
            .unwrap()
            .serialized()
            .clone();
        let bob = ca
            .issue("bob", Role::Client, 30)
            .unwrap()
            .serialized()
            .clone();
        let mut forged = ann.clone();
        forged.cert_pem = b"not a certificate".to_vec();
        let creators = [Some(ann.clone()), Some(bob), Some(ann), Some(forged), None];
        let block = Block {
            header: Some(BlockHeader::default()),
            data: Some(BlockData {
                envelopes: creators
                    .iter()
                    .enumerate()
                    .map(|(i, c)| envelope_by(&format!("t{i}"), Vec::new(), c.clone()).into())
                    .collect(),
            }),
            metadata: None,
        };
        let seen: Vec<(String, String)> = block_transactions(&block)
            .into_iter()
            .map(|t| (t.audit.org, t.audit.user))
            .collect();
        let named = |org: &str, user: &str| (org.to_string(), user.to_string());
        assert_eq!(
            seen,
            vec![
                named("alpha", "ann"),
                named("alpha", "bob"),
                named("alpha", "ann"),
                named("alpha", ""),
                named("", ""),
            ]
        );
    }
}
