//! What the fuzz targets share: the channel the envelope and block targets are judged
//! against (the genesis block of a pair's channel, checked in with the seeds signed by its
//! members), a runtime, and a world state set up like a pair's channel after a month of
//! clearing, for the contract dispatcher.
//!
//! Every target must only ever *return* on any input; a panic, an abort, a stack overflow,
//! a timeout or an out-of-memory is a finding (`fuzz/README.md`).

use std::sync::{Arc, OnceLock};

use contracts::usage::{BatchEvent, RatedRecord, Text};
use contracts::{CLEARING, Clearing};
use ledger::block::header_hash;
use ledger::channel::{ChannelState, genesis_config};
use ledger::contract::{Context, Contract, ContractError, Creator};
use ledger::identity::Role;
use ledger::proto::{Block, Version};
use ledger::state::{BlockUpdate, SqliteState, StateWrite, WorldState};
use prost::Message;

/// The genesis block of channel `alpha.beta` the seeds were made on (`examples/make_seeds`
/// writes it; read at run time so that the example can build before it exists).
pub const GENESIS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/alpha.beta.block");

/// The channel the seeds were signed for, its genesis block, and that block's hash.
pub struct Channel {
    /// Configuration in force: members alpha and beta, the ordering organisation.
    pub state: Arc<ChannelState>,
    /// Block 0.
    pub genesis: Block,
    /// What block 1 must chain to.
    pub genesis_hash: Vec<u8>,
}

/// The fixture channel, built once.
pub fn channel() -> &'static Channel {
    static CHANNEL: OnceLock<Channel> = OnceLock::new();
    CHANNEL.get_or_init(|| {
        let bytes = std::fs::read(GENESIS).expect("fuzz/fixtures/alpha.beta.block is readable");
        let genesis =
            Block::decode(bytes.as_slice()).expect("the checked-in genesis block decodes");
        let config = genesis_config(&genesis).expect("the genesis block holds a configuration");
        let state =
            Arc::new(ChannelState::new(config).expect("the genesis configuration is usable"));
        let genesis_hash = header_hash(genesis.header.as_ref().expect("genesis has a header"));
        Channel {
            state,
            genesis,
            genesis_hash,
        }
    })
}

/// A single-threaded runtime for the targets that call async code.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime starts")
    })
}

/// 2026-11-02T00:00:00Z, after the fixtures' October: every simulation runs at this time.
pub const NOW_MS: i64 = 1_793_577_600_000;

/// The small fixtures (`fixtures/small`).
pub mod fixtures {
    /// beta's ratesheet.
    pub const RATESHEET: &str = include_str!("../../fixtures/small/ratesheet.csv");
    /// The deal of October.
    pub const DEAL: &str = include_str!("../../fixtures/small/deal.toml");
    /// alpha's CDRs, native format.
    pub const ALPHA_CDRS: &str = include_str!("../../fixtures/small/alpha.csv");
    /// beta's CDRs, native format.
    pub const BETA_CDRS: &str = include_str!("../../fixtures/small/beta.csv");
    /// alpha's Asterisk switch.
    pub const ASTERISK: &str = include_str!("../../fixtures/small/asterisk/Master.csv");
    /// alpha's FreeSWITCH switch.
    pub const FREESWITCH: &str = include_str!("../../fixtures/small/freeswitch/Master.csv");
}

/// The calls that set up the contract target's world state: the pair's agreement, beta's
/// sheet, a deal in force, both sides' October usage — (creator, function, arguments),
/// built with the contract's typed API so that a change to it is a compile error here.
pub fn setup_calls() -> Vec<(&'static str, &'static str, Vec<Vec<u8>>)> {
    use contracts::api::{self, Function};
    use contracts::{
        AgreementProposal, Counterparty, DealId, ProposeDeal, PublishRatesheet, SubmitBatch,
    };
    use settlement::carrier::CarrierId;
    use settlement::money::{Currency, Rounding};
    use settlement::service::Service;

    fn encoded<F: Function>(request: F::Request) -> (&'static str, Vec<Vec<u8>>) {
        let call = api::call::<F>(request).expect("a setup request encodes");
        (call.function, call.args)
    }
    let carrier = |s: &str| CarrierId::parse(s).expect("a carrier id");
    let (alpha, beta) = (carrier("alpha"), carrier("beta"));
    let terms = contracts::Terms {
        owner: beta,
        service: Service::Voice,
        currency: Currency::parse("EUR").expect("a currency"),
        counterparty: None,
        decimals: 4,
        rounding: Rounding::HalfUp,
    };
    let calls = vec![
        (
            "alpha",
            encoded::<api::ProposeAgreement>(AgreementProposal {
                with: beta,
                terms: settlement::agreement::AgreementTerms::default(),
            }),
        ),
        (
            "beta",
            encoded::<api::AcceptAgreement>(Counterparty { with: alpha }),
        ),
        (
            "beta",
            encoded::<api::PublishSheet>(PublishRatesheet {
                terms,
                csv: fixtures::RATESHEET.as_bytes().to_vec(),
            }),
        ),
        (
            "alpha",
            encoded::<api::ProposeDealFn>(ProposeDeal {
                toml: fixtures::DEAL.to_string(),
            }),
        ),
        (
            "beta",
            encoded::<api::AcceptDeal>(DealId {
                id: "alpha-beta-2026q4".into(),
            }),
        ),
        (
            "alpha",
            encoded::<api::Submit>(SubmitBatch {
                counterparty: beta,
                rows: fixtures::ALPHA_CDRS.as_bytes().to_vec(),
                stream: None,
            }),
        ),
        (
            "beta",
            encoded::<api::Submit>(SubmitBatch {
                counterparty: alpha,
                rows: fixtures::BETA_CDRS.as_bytes().to_vec(),
                stream: None,
            }),
        ),
    ];
    calls
        .into_iter()
        .map(|(org, (function, args))| (org, function, args))
        .collect()
}

/// The members of the pair's channel the contract target runs on.
pub fn members() -> Vec<String> {
    vec!["alpha".into(), "beta".into()]
}

/// A client of `org`.
pub fn creator(org: &str, role: Role) -> Creator {
    Creator {
        msp_id: org.to_string(),
        role,
        name: format!("{org}-{role}"),
    }
}

/// The world state of the contract target: `setup_calls`, each simulated by `Clearing` and
/// committed as a block of its own. Built once; simulations never write to it.
pub fn clearing_state() -> &'static SqliteState {
    static STATE: OnceLock<SqliteState> = OnceLock::new();
    STATE.get_or_init(|| {
        runtime().block_on(async {
            let state = SqliteState::in_memory()
                .await
                .expect("an in-memory world state opens");
            for (n, (org, function, args)) in setup_calls().into_iter().enumerate() {
                let tx_id = format!("setup-{n}");
                let mut ctx =
                    Context::new(CLEARING, &state, creator(org, Role::Client), NOW_MS, &tx_id)
                        .with_members(members());
                if let Err(e) = Clearing::default().invoke(&mut ctx, function, args).await {
                    panic!("setup call {function} by {org} refused: {e}");
                }
                let (rwset, _) = ctx.into_results();
                let version = Version {
                    block_num: n as u64,
                    tx_num: 0,
                };
                let writes = rwset
                    .ns_rwsets
                    .into_iter()
                    .flat_map(|ns| {
                        let namespace = ns.namespace;
                        ns.writes.into_iter().map(move |w| StateWrite {
                            namespace: namespace.clone(),
                            key: w.key,
                            value: (!w.is_delete).then_some(w.value),
                            version,
                        })
                    })
                    .collect();
                state
                    .commit(&BlockUpdate {
                        block_num: n as u64,
                        writes,
                        claims: Vec::new(),
                        claim_runs: Vec::new(),
                    })
                    .await
                    .expect("the setup commits");
            }
            state
        })
    })
}

/// `creator\0function\0arg\0arg…` → its parts; `creator` is `org` or `org.role`.
pub fn split_call(data: &[u8]) -> Option<(Creator, String, Vec<Vec<u8>>)> {
    let mut parts = data.split(|b| *b == 0);
    let who = std::str::from_utf8(parts.next()?).ok()?;
    let function = std::str::from_utf8(parts.next()?).ok()?.to_string();
    let (org, role) = match who.rsplit_once('.') {
        Some((org, role)) => (org, Role::parse(role).unwrap_or(Role::Client)),
        None => (who, Role::Client),
    };
    Some((
        creator(org, role),
        function,
        parts.map(<[u8]>::to_vec).collect(),
    ))
}

/// Runs one call of the contract dispatcher against the clearing state.
pub fn invoke_clearing(data: &[u8]) {
    let Some((who, function, args)) = split_call(data) else {
        return;
    };
    let state = clearing_state();
    runtime().block_on(async {
        let mut ctx = Context::new(CLEARING, state, who, NOW_MS, "fuzz").with_members(members());
        // Refusals are answers. Anything else is a finding: the state is in memory and
        // healthy, so neither it nor the contract may fail.
        match Clearing::default().invoke(&mut ctx, &function, args).await {
            Ok(_) | Err(ContractError::Refused(_)) => {}
            Err(e) => panic!("{function} failed instead of answering: {e}"),
        }
        let _ = ctx.into_results();
    });
}

/// Helpers of the CDR targets.
pub mod cdr {
    use settlement::carrier::CarrierId;
    use settlement::cdr::{CdrReader, FormatSpec, SwitchContext};
    use settlement::time::Zone;

    /// alpha's switch towards beta, clock in Europe/Berlin.
    pub fn switch_context() -> SwitchContext {
        SwitchContext {
            orig: CarrierId::parse("alpha").expect("a carrier id"),
            term: CarrierId::parse("beta").expect("a carrier id"),
            zone: "Europe/Berlin".parse::<Zone>().expect("an IANA zone"),
        }
    }

    /// Each row as `(line, raw, outcome)`, read whole and in blocks of whole lines.
    type Rows = Vec<(u64, Vec<u8>, String)>;

    fn rows_of(reader: &mut CdrReader<&[u8]>, rows: &mut Rows) {
        while let Ok(Some(row)) = reader.next_row() {
            rows.push((row.line, row.raw.to_vec(), format!("{:?}", row.outcome)));
        }
    }

    /// Reads every row of a file, and then every id, as intake does; and the rows again in
    /// blocks of whole lines, as `iclear rate` does on every core, which must be the same.
    pub fn read_all(data: &[u8], format: FormatSpec, reporter: Option<CarrierId>) {
        if let Ok(mut reader) = CdrReader::new(data, format, reporter) {
            let mut whole = Rows::new();
            rows_of(&mut reader, &mut whole);
            let (rows, mut lines) = CdrReader::new(data, format, reporter)
                .expect("a header read once reads again")
                .into_blocks();
            let mut blocked = Rows::new();
            let max = 1 + data.len() % 61;
            while let Ok(Some(block)) = lines.next_block(max) {
                rows_of(&mut rows.rows(&block), &mut blocked);
            }
            assert_eq!(whole, blocked, "rows read in blocks of {max} bytes differ");
        }
        if let Ok(mut reader) = CdrReader::new(data, format, reporter) {
            while let Ok(Some(id)) = reader.next_id() {
                let _ = id.map(str::len);
            }
        }
    }
}

/// A batch event read owned and read with its text borrowed (the `batch_event` and
/// `slim_event` targets): both read or neither does, and their records are the same. The
/// owned event, if it read.
pub fn read_alike<E>(
    owned: Result<BatchEvent, E>,
    borrowed: Result<BatchEvent<Text<'_>>, E>,
) -> Option<BatchEvent> {
    let Ok(event) = owned else {
        assert!(borrowed.is_err(), "read borrowed but not owned");
        return None;
    };
    let Ok(borrowed) = borrowed else {
        panic!("read owned but not borrowed");
    };
    let owned: Vec<RatedRecord> = event.clone().rated_records().collect();
    let borrowed: Vec<RatedRecord<Text<'_>>> = borrowed.rated_records().collect();
    same_records(&owned, &borrowed);
    Some(event)
}

/// The records of an event read owned and read with its text borrowed are the same.
fn same_records(owned: &[RatedRecord], borrowed: &[RatedRecord<Text<'_>>]) {
    assert_eq!(owned.len(), borrowed.len());
    for (o, b) in owned.iter().zip(borrowed) {
        assert_eq!(
            [
                &o.record_id,
                &o.a_number,
                &o.b_number,
                &o.prefix,
                &o.destination
            ]
            .map(|t| t.as_str()),
            [
                &b.record_id,
                &b.a_number,
                &b.b_number,
                &b.prefix,
                &b.destination
            ]
            .map(|t| &**t)
        );
        assert_eq!(
            (
                o.payer, o.payee, o.service, o.currency, o.start, o.units, o.billable, o.charge
            ),
            (
                b.payer, b.payee, b.service, b.currency, b.start, b.units, b.billable, b.charge
            )
        );
    }
}

/// A batch event read a record at a time, as a read model sums it
/// (`BatchEvent::each_from_tx`): it reads exactly when the event read whole (`whole`, if it
/// read) did, hands on the same records in the same order, and gives the event without them.
pub fn each_alike<'a>(
    whole: Option<&BatchEvent>,
    payload: &'a [u8],
    written: impl Fn(&str) -> Option<&'a [u8]>,
) {
    let mut records = Vec::new();
    let each = BatchEvent::each_from_tx(payload, written, |r| {
        records.push(r);
        Ok::<_, std::convert::Infallible>(())
    });
    let (whole, head) = match (whole, each) {
        (None, Err(_)) => return,
        (Some(whole), Ok(head)) => (whole, head),
        (None, Ok(_)) => panic!("read a record at a time but not whole"),
        (Some(_), Err(_)) => panic!("read whole but not a record at a time"),
    };
    let expected: Vec<RatedRecord> = whole.clone().rated_records().collect();
    same_records(&expected, &records);
    assert_eq!(
        (
            &*head.tx_id,
            head.reporter,
            head.counterparty,
            &head.rejected,
            head.rows,
            head.accepted
        ),
        (
            &*whole.tx_id,
            whole.reporter,
            whole.counterparty,
            &whole.rejected,
            whole.rows,
            whole.accepted
        )
    );
    assert!(head.records.is_empty());
    assert_eq!(head.directions.len(), whole.directions.len());
    for (h, w) in head.directions.iter().zip(&whole.directions) {
        assert_eq!(
            (h.payer, h.payee, h.service, h.currency),
            (w.payer, w.payee, w.service, w.currency)
        );
        assert!(h.records.is_empty());
    }
}

/// The `claims` target: claims of any keys (a record id is a carrier's bytes) committed to
/// a fresh SQLite world state, which keeps consecutively numbered keys as runs and the
/// others a row each, against the model of what was claimed. Every claimed key is found
/// and listed once with its version, no other key is (the keys one character longer or
/// shorter, the same key in another namespace), none can be claimed again, and keys not
/// claimed still can be. Input: keys separated by `\n`, the first byte of each giving the
/// transaction (its lowest bit) and the rest the key; the first of a repeated key counts.
/// Transaction 1 carries its numbered keys as runs (`ledger::claim_runs`), transaction 0
/// a key each.
pub fn claims_kept(data: &[u8]) {
    use std::collections::{BTreeMap, HashSet};
    let mut tx_of: BTreeMap<String, u64> = BTreeMap::new();
    let mut order = Vec::new();
    for part in data.split(|b| *b == b'\n').take(4096) {
        let Some((&tag, key)) = part.split_first() else {
            continue;
        };
        let Ok(key) = std::str::from_utf8(key) else {
            continue;
        };
        if !tx_of.contains_key(key) {
            tx_of.insert(key.to_string(), u64::from(tag & 1));
            order.push(key.to_string());
        }
    }
    let claim = |key: &str, block_num: u64, tx_num: u64| ledger::state::StateClaim {
        namespace: "n".into(),
        key: key.into(),
        version: Version { block_num, tx_num },
    };
    runtime().block_on(async {
        let state = SqliteState::in_memory()
            .await
            .expect("an in-memory world state opens");
        // Transaction 0's claims a key each, as a block made before runs carries them;
        // transaction 1's as a simulation makes them, its numbered keys in runs.
        let mut claims: Vec<_> = (order.iter())
            .filter(|k| tx_of[*k] == 0)
            .map(|k| claim(k, 0, 0))
            .collect();
        let (runs, alone) = ledger::claim_runs::into_runs(
            order.iter().filter(|k| tx_of[*k] == 1).cloned().collect(),
            Vec::new(),
        );
        claims.extend(alone.iter().map(|k| claim(k, 0, 1)));
        let claim_runs = (runs.into_iter())
            .map(|run| ledger::state::StateClaimRun {
                namespace: "n".into(),
                run,
                version: Version {
                    block_num: 0,
                    tx_num: 1,
                },
            })
            .collect();
        state
            .commit(&BlockUpdate {
                block_num: 0,
                writes: Vec::new(),
                claims,
                claim_runs,
            })
            .await
            .expect("distinct claims commit");
        let listed = state.claims().await.expect("claims list");
        let expected: Vec<_> = tx_of.iter().map(|(k, &tx)| claim(k, 0, tx)).collect();
        assert_eq!(listed, expected, "claims listed");
        // Each key, and the keys one character longer or shorter.
        let mut asked: Vec<String> = order.clone();
        for k in &order {
            asked.push(format!("{k}1"));
            asked.push(format!("{k}0"));
            let mut shorter = k.clone();
            shorter.pop();
            asked.push(shorter);
        }
        let found = state.claimed("n", &asked).await.expect("claims read");
        let want: HashSet<String> = asked
            .iter()
            .filter(|k| tx_of.contains_key(*k))
            .cloned()
            .collect();
        assert_eq!(found, want, "claims found");
        assert!(
            state
                .claimed("m", &order)
                .await
                .expect("claims read")
                .is_empty(),
            "claims found in another namespace"
        );
        if let Some(first) = order.first() {
            let again = state
                .commit(&BlockUpdate {
                    block_num: 1,
                    writes: Vec::new(),
                    claims: vec![claim(first, 1, 0)],
                    claim_runs: Vec::new(),
                })
                .await;
            assert!(again.is_err(), "{first:?} claimed twice");
        }
        let mut new: Vec<String> = asked
            .into_iter()
            .filter(|k| !tx_of.contains_key(k))
            .collect();
        new.sort();
        new.dedup();
        state
            .commit(&BlockUpdate {
                block_num: 1,
                writes: Vec::new(),
                claims: new.iter().map(|k| claim(k, 1, 0)).collect(),
                claim_runs: Vec::new(),
            })
            .await
            .expect("keys never claimed are claimed");
        let found = state.claimed("n", &new).await.expect("claims read");
        assert_eq!(found.len(), new.len(), "new claims found");
    });
}
