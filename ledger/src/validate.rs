//! Validation of ordered blocks: the only place that decides whether a transaction is
//! valid. Stateless checks (decoding, signatures, certificates, policies) run in parallel
//! across a block's transactions; the stateful ones (duplicate ids, MVCC, phantoms) run in
//! block order, each seeing the writes of the valid transactions before it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use prost::Message;
use rayon::prelude::*;

use crate::block::{
    BlockError, EnvelopeSplit, check_frame_knowing, payload_digest, payload_digests,
};
use crate::channel::{CONFIG_KEY, CONFIG_NAMESPACE, ChannelState};
use crate::claim_runs;
use crate::crypto::{Digest, Sha256Stream};
use crate::identity::{KnownHashes, OwnEndorsements, Principal, Role};
use crate::policy::Policy;
use crate::proto::view::{EndorserTransactionView, EnvelopeView, PayloadView, ProposalView};
use crate::proto::{
    Block, ChannelConfig, ConfigUpdateEnvelope, ContractEvent, Header, KvWrite, NsRwSet,
    ProposalResponsePayload, TxRwSet, TxType, Version,
};
use crate::reads::ReadsDigest;
use crate::state::{BlockUpdate, StateClaim, StateClaimRun, StateError, StateWrite, WorldState};
use crate::system::{config, lifecycle};

/// Fabric's transaction validation codes (same numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ValidationCode {
    /// Valid: its writes are applied.
    Valid = 0,
    /// The envelope or payload does not decode or lacks a header.
    BadPayload = 2,
    /// The creator's certificate or signature is not acceptable.
    BadCreatorSignature = 4,
    /// The endorser transaction is inconsistent with its proposal.
    InvalidEndorserTransaction = 5,
    /// The configuration update is not acceptable.
    InvalidConfigTransaction = 6,
    /// The tx id is not the hash of nonce and creator.
    BadProposalTxid = 8,
    /// The tx id was already used.
    DuplicateTxid = 9,
    /// The endorsements do not satisfy the contract's policy.
    EndorsementPolicyFailure = 10,
    /// A key read has changed since simulation.
    MvccReadConflict = 11,
    /// A range read has gained or lost keys since simulation.
    PhantomReadConflict = 12,
    /// The transaction is for another channel.
    TargetChainNotFound = 14,
    /// The read-write set touches a namespace other than its contract's.
    IllegalWriteset = 23,
    /// The contract has no definition on the channel.
    InvalidContract = 25,
    /// Not validated yet.
    NotValidated = 254,
    /// Any other reason.
    InvalidOtherReason = 255,
}

impl ValidationCode {
    /// The code stored as a validation flag byte.
    pub fn from_u8(v: u8) -> Self {
        use ValidationCode::*;
        match v {
            0 => Valid,
            2 => BadPayload,
            4 => BadCreatorSignature,
            5 => InvalidEndorserTransaction,
            6 => InvalidConfigTransaction,
            8 => BadProposalTxid,
            9 => DuplicateTxid,
            10 => EndorsementPolicyFailure,
            11 => MvccReadConflict,
            12 => PhantomReadConflict,
            14 => TargetChainNotFound,
            23 => IllegalWriteset,
            25 => InvalidContract,
            254 => NotValidated,
            _ => InvalidOtherReason,
        }
    }

    /// Whether a transaction with this code holds on to its tx id, so that a later one
    /// with the same id is a duplicate. Codes given before the creator and the tx id were
    /// proven do not: otherwise anyone could burn a tx id they saw in flight by sending a
    /// forged envelope carrying it.
    pub fn claims_tx_id(self) -> bool {
        use ValidationCode::*;
        !matches!(
            self,
            BadPayload | BadCreatorSignature | BadProposalTxid | TargetChainNotFound | NotValidated
        )
    }

    /// Fabric's name of the code.
    pub fn as_str(self) -> &'static str {
        use ValidationCode::*;
        match self {
            Valid => "VALID",
            BadPayload => "BAD_PAYLOAD",
            BadCreatorSignature => "BAD_CREATOR_SIGNATURE",
            InvalidEndorserTransaction => "INVALID_ENDORSER_TRANSACTION",
            InvalidConfigTransaction => "INVALID_CONFIG_TRANSACTION",
            BadProposalTxid => "BAD_PROPOSAL_TXID",
            DuplicateTxid => "DUPLICATE_TXID",
            EndorsementPolicyFailure => "ENDORSEMENT_POLICY_FAILURE",
            MvccReadConflict => "MVCC_READ_CONFLICT",
            PhantomReadConflict => "PHANTOM_READ_CONFLICT",
            TargetChainNotFound => "TARGET_CHAIN_NOT_FOUND",
            IllegalWriteset => "ILLEGAL_WRITESET",
            InvalidContract => "INVALID_CONTRACT",
            NotValidated => "NOT_VALIDATED",
            InvalidOtherReason => "INVALID_OTHER_REASON",
        }
    }
}

impl std::fmt::Display for ValidationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a whole block was refused (as opposed to a transaction marked invalid).
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// Header, chain or orderer signature is wrong.
    #[error(transparent)]
    Frame(#[from] BlockError),
    /// The parallel signature checks did not complete.
    #[error("validating block {block}: signature checks interrupted: {reason}")]
    Interrupted {
        /// Block number.
        block: u64,
        /// Why.
        reason: String,
    },
    /// The runtime shut down before the signature checks ran (a blocking task is cancelled
    /// only then): nothing of the block was committed, and it is delivered again at the
    /// next start.
    #[error("validating block {block}: the runtime shut down before its signature checks ran")]
    ShutDown {
        /// Block number.
        block: u64,
    },
    /// A block's stateless checks were made under a configuration no longer in force
    /// (the caller must check it again under the one that is).
    #[error(
        "validating block {block}: its signatures were checked under a configuration no longer in force"
    )]
    Stale {
        /// Block number.
        block: u64,
    },
    /// The world state could not be read.
    #[error("validating block {block}: {source}")]
    State {
        /// Block number.
        block: u64,
        /// Cause.
        #[source]
        source: StateError,
    },
}

/// The outcome of one transaction, for clients.
#[derive(Clone, Debug)]
pub struct TxOutcome {
    /// Transaction id (empty when the payload did not decode).
    pub tx_id: String,
    /// Verdict.
    pub code: ValidationCode,
    /// Contract events, only for valid transactions.
    pub events: Vec<ContractEvent>,
}

/// Every transaction of a stored block, in order: its position, the validation code stored
/// with it, and its payload (`None` when the envelope does not decode). Reads only; judges
/// nothing.
pub fn stored_transactions(
    block: &Block,
) -> impl Iterator<Item = (usize, ValidationCode, Option<PayloadView<'_>>)> + '_ {
    let flags = block
        .metadata
        .as_ref()
        .map(|m| m.validation_flags.as_slice())
        .unwrap_or_default();
    block
        .data
        .iter()
        .flat_map(|d| d.envelopes.iter())
        .enumerate()
        .map(move |(i, env)| {
            let code = flags.get(i).map_or(ValidationCode::NotValidated, |f| {
                ValidationCode::from_u8(*f)
            });
            let payload = PayloadView::of_envelope(env).ok();
            (i, code, payload)
        })
}

/// A block whose every transaction has a validation code: the only thing that can be
/// committed.
pub struct ValidatedBlock {
    pub(crate) block: Block,
    pub(crate) update: BlockUpdate,
    pub(crate) new_config: Option<ChannelConfig>,
    pub(crate) outcomes: Vec<TxOutcome>,
}

impl ValidatedBlock {
    /// The block with its validation flags set.
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// Per-transaction outcomes.
    pub fn outcomes(&self) -> &[TxOutcome] {
        &self.outcomes
    }
}

/// What validation of the next block needs to know about the ledger.
pub struct LedgerView<'a> {
    /// Configuration in force.
    pub channel: &'a Arc<ChannelState>,
    /// Committed world state.
    pub state: &'a dyn WorldState,
    /// Number the block must have.
    pub height: u64,
    /// Hash of the last committed header.
    pub previous_hash: &'a [u8],
    /// Whether a tx id is already committed.
    pub is_committed: &'a (dyn Fn(&str) -> bool + Sync),
    /// The validating peer's own latest endorsements, whose signatures need no check.
    pub own: Option<&'a Arc<OwnEndorsements>>,
}

enum Checked {
    Invalid(ValidationCode, String),
    Endorser {
        tx_id: String,
        contract: String,
        endorsers: Vec<(String, Role)>,
        rwset: TxRwSet,
        events: Vec<ContractEvent>,
    },
    Config {
        tx_id: String,
        config: ChannelConfig,
        /// The next configuration as the transaction carries it: what the state keeps.
        config_bytes: Vec<u8>,
    },
}

impl Checked {
    fn tx_id(&self) -> &str {
        match self {
            Checked::Invalid(_, t)
            | Checked::Endorser { tx_id: t, .. }
            | Checked::Config { tx_id: t, .. } => t,
        }
    }
}

/// Validates `block` against the ledger, setting its validation flags.
pub async fn validate_block(
    block: Block,
    view: &LedgerView<'_>,
) -> Result<ValidatedBlock, ValidateError> {
    // The envelopes first: their checks of the creators' signatures digest the payloads
    // that the frame's data hash then takes (`block::DataHashKind`).
    let p = precheck(block, view.channel, view.own, view.height).await?;
    validate_prechecked(p, view).await
}

/// A block whose envelopes have had the stateless checks (every signature among them)
/// under one configuration, for [`validate_prechecked`]: a peer checks the next block's
/// signatures while it commits the one before.
pub struct Prechecked {
    block: Block,
    checked: Vec<Checked>,
    /// Each envelope's payload digest, for the frame's data hash.
    digests: Vec<Digest>,
    channel: Arc<ChannelState>,
}

impl Prechecked {
    /// Whether the checks were made under `channel`, the configuration in force: if not (a
    /// configuration block was committed since), they must be made again.
    pub fn checked_under(&self, channel: &Arc<ChannelState>) -> bool {
        Arc::ptr_eq(&self.channel, channel)
    }

    /// The block, its checks dropped.
    pub fn into_block(self) -> Block {
        self.block
    }
}

/// The stateless checks of each envelope of `block` under `channel`, on rayon's threads;
/// waiting for them on a blocking thread leaves the async workers free for endorsement,
/// ordering and the commit of the block before meanwhile. `number` names the block in an
/// error.
pub async fn precheck(
    block: Block,
    channel: &Arc<ChannelState>,
    own: Option<&Arc<OwnEndorsements>>,
    number: u64,
) -> Result<Prechecked, ValidateError> {
    let under = channel.clone();
    let own = own.cloned();
    let (block, checked, digests) = tokio::task::spawn_blocking(move || {
        let envelopes = block
            .data
            .as_ref()
            .map(|d| d.envelopes.as_slice())
            .unwrap_or_default();
        let (checked, digests): (Vec<Checked>, Vec<Digest>) = envelopes
            .par_iter()
            .map(|e| {
                let digest = payload_digest(e);
                (
                    check_envelope(e, &under, own.as_deref(), Some(&digest)),
                    digest,
                )
            })
            .unzip();
        (block, checked, digests)
    })
    .await
    .map_err(|e| {
        if e.is_cancelled() {
            ValidateError::ShutDown { block: number }
        } else {
            ValidateError::Interrupted {
                block: number,
                reason: e.to_string(),
            }
        }
    })?;
    Ok(Prechecked {
        block,
        checked,
        digests,
        channel: channel.clone(),
    })
}

/// Validates a block [`precheck`]ed under `view.channel` against the ledger: its frame,
/// then everything that reads the world state.
///
/// # Errors
/// [`ValidateError::Stale`] if the checks were made under another configuration.
pub async fn validate_prechecked(
    p: Prechecked,
    view: &LedgerView<'_>,
) -> Result<ValidatedBlock, ValidateError> {
    if !p.checked_under(view.channel) {
        return Err(ValidateError::Stale { block: view.height });
    }
    check_frame_knowing(
        &p.block,
        view.height,
        view.previous_hash,
        view.channel.orderers(),
        Some(&p.digests),
    )?;
    validate_checked(p.block, p.checked, view).await
}

/// Everything validation decides after the stateless checks, `checked` being theirs.
async fn validate_checked(
    mut block: Block,
    checked: Vec<Checked>,
    view: &LedgerView<'_>,
) -> Result<ValidatedBlock, ValidateError> {
    let number = view.height;
    let state_err = |source| ValidateError::State {
        block: number,
        source,
    };
    let mut policies: HashMap<String, Option<Policy>> = HashMap::new();
    for c in &checked {
        if let Checked::Endorser { contract, .. } = c
            && !policies.contains_key(contract)
        {
            let p = lifecycle::endorsement_policy(view.state, view.channel, contract)
                .await
                .map_err(state_err)?;
            policies.insert(contract.clone(), p.and_then(Result::ok));
        }
    }
    // Versions of every key the block's transactions read, fetched once per namespace
    // rather than once per read.
    let mut read_keys: HashMap<&str, Vec<String>> = HashMap::new();
    for c in &checked {
        if let Checked::Endorser { rwset, .. } = c {
            for ns in &rwset.ns_rwsets {
                let keys = read_keys.entry(ns.namespace.as_str()).or_default();
                keys.extend(ns.reads.iter().map(|r| r.key.clone()));
            }
        }
    }
    let mut committed: HashMap<(String, String), Version> = HashMap::new();
    for (ns, mut keys) in read_keys {
        keys.sort();
        keys.dedup();
        for (k, v) in view.state.versions(ns, &keys).await.map_err(state_err)? {
            committed.insert((ns.to_string(), k), v);
        }
    }

    // The keys claimed by the block's valid transactions so far, for the transactions
    // after them: kept only up to the block's last transaction that claims or relies on
    // unclaimed keys (a block holds one CDR batch, most often, and no set is built).
    let last_claiming = checked.iter().rposition(|c| {
        matches!(c, Checked::Endorser { rwset, .. } if rwset
            .ns_rwsets
            .iter()
            .any(claims_or_relies))
    });
    let mut claimed: HashMap<String, HashSet<String>> = HashMap::new();

    let mut codes = Vec::with_capacity(checked.len());
    let mut outcomes = Vec::with_capacity(checked.len());
    let mut seen: HashSet<String> = HashSet::new();
    // Ordered, so that a range query's phantom check is one lookup, not a scan.
    let mut written: BTreeSet<(String, String)> = BTreeSet::new();
    let mut new_config = None;
    let alone = checked.len() == 1;
    // The update is built from the read-write sets decoded above, as `block_update` would
    // build it from the stored block.
    let mut update = UpdateBuilder::new(number);
    for (index, c) in checked.into_iter().enumerate() {
        let tx_id = c.tx_id().to_string();
        let duplicate = !tx_id.is_empty() && (seen.contains(&tx_id) || (view.is_committed)(&tx_id));
        let (code, events) = match c {
            Checked::Invalid(code, _) => (code, Vec::new()),
            _ if duplicate => (ValidationCode::DuplicateTxid, Vec::new()),
            Checked::Config {
                config,
                config_bytes,
                ..
            } => {
                // A configuration changes who may sign what, so it must stand alone.
                if alone {
                    new_config = Some(config);
                    update.config(index, config_bytes);
                    (ValidationCode::Valid, Vec::new())
                } else {
                    (ValidationCode::InvalidConfigTransaction, Vec::new())
                }
            }
            Checked::Endorser {
                contract,
                endorsers,
                rwset,
                events,
                ..
            } => {
                let code = match policies.get(&contract).and_then(Option::as_ref) {
                    None => ValidationCode::InvalidContract,
                    Some(p) if !p.is_satisfied_by(&endorsers) => {
                        ValidationCode::EndorsementPolicyFailure
                    }
                    Some(_) => check_reads(&rwset, &contract, view.state, &committed, &written)
                        .await
                        .map_err(state_err)?,
                };
                // A key claimed before, by an earlier block or an earlier transaction of
                // this one, cannot be claimed again nor relied on as unclaimed. Asked only of
                // a transaction valid otherwise, so that one that satisfies no policy costs
                // no lookup of its claims, however many its runs hold.
                let code = if code == ValidationCode::Valid
                    && (claimed_before(view.state, &rwset)
                        .await
                        .map_err(state_err)?
                        || rwset.ns_rwsets.iter().any(|ns| {
                            claimed.get(&ns.namespace).is_some_and(|keys| {
                                let mut again = (ns.claims.iter().chain(&ns.unclaimed))
                                    .any(|k| keys.contains(k));
                                for run in &ns.claim_runs {
                                    run.each_key(|k| again = again || keys.contains(k));
                                }
                                again
                            })
                        })) {
                    ValidationCode::MvccReadConflict
                } else {
                    code
                };
                if code == ValidationCode::Valid {
                    for ns in &rwset.ns_rwsets {
                        for w in &ns.writes {
                            written.insert((ns.namespace.clone(), w.key.clone()));
                        }
                        if claims_or_relies(ns) && last_claiming.is_some_and(|last| index < last) {
                            let keys = claimed.entry(ns.namespace.clone()).or_default();
                            keys.extend(ns.claims.iter().cloned());
                            for run in &ns.claim_runs {
                                run.each_key(|k| {
                                    keys.insert(k.to_string());
                                });
                            }
                        }
                    }
                    update.transaction(index, rwset);
                }
                (
                    code,
                    if code == ValidationCode::Valid {
                        events
                    } else {
                        Vec::new()
                    },
                )
            }
        };
        if !tx_id.is_empty() && code.claims_tx_id() {
            seen.insert(tx_id.clone());
        }
        codes.push(code as u8);
        outcomes.push(TxOutcome {
            tx_id,
            code,
            events,
        });
    }
    if let Some(m) = block.metadata.as_mut() {
        m.validation_flags = codes;
    }
    let update = update.finish();
    Ok(ValidatedBlock {
        block,
        update,
        new_config,
        outcomes,
    })
}

/// What the stateless checks make of one envelope: everything validation decides before
/// it reads the world state (decoding, channel, creator signature and membership, tx id,
/// proposal and response consistency, namespaces, lifecycle writes, endorsement
/// signatures, configuration updates). Deterministic, and total on any bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stateless {
    /// Refused, with the tx id when the header could be read.
    Invalid {
        /// Verdict.
        code: ValidationCode,
        /// Transaction id, possibly empty.
        tx_id: String,
    },
    /// A contract invocation still to be judged against the endorsement policy in force,
    /// duplicate tx ids and MVCC.
    Endorser {
        /// Transaction id.
        tx_id: String,
        /// Contract invoked.
        contract: String,
        /// The distinct valid endorsers, as the policy sees them.
        endorsers: Vec<(String, Role)>,
    },
    /// A configuration update whose admin signatures and next configuration hold.
    Config {
        /// Transaction id.
        tx_id: String,
        /// The next configuration's sequence.
        sequence: u64,
    },
}

/// The stateless checks of one encoded envelope against the configuration in force.
pub fn check_envelope_stateless(bytes: &[u8], channel: &ChannelState) -> Stateless {
    stateless(check_envelope(bytes, channel, None, None))
}

fn stateless(checked: Checked) -> Stateless {
    match checked {
        Checked::Invalid(code, tx_id) => Stateless::Invalid { code, tx_id },
        Checked::Endorser {
            tx_id,
            contract,
            endorsers,
            ..
        } => Stateless::Endorser {
            tx_id,
            contract,
            endorsers,
        },
        Checked::Config { tx_id, config, .. } => Stateless::Config {
            tx_id,
            sequence: config.sequence,
        },
    }
}

/// The stateless checks of a whole block: its frame (number, chain, data hash, orderer
/// signature) and then each envelope, in order.
pub fn check_block_stateless(
    block: &Block,
    expected: u64,
    previous_hash: &[u8],
    channel: &ChannelState,
) -> Result<Vec<Stateless>, BlockError> {
    let envelopes: &[bytes::Bytes] = block.data.as_ref().map_or(&[], |d| &d.envelopes);
    let digests: Vec<Digest> = block.data.as_ref().map(payload_digests).unwrap_or_default();
    check_frame_knowing(
        block,
        expected,
        previous_hash,
        channel.orderers(),
        Some(&digests),
    )?;
    Ok(envelopes
        .iter()
        .zip(&digests)
        .map(|(e, d)| stateless(check_envelope(e, channel, None, Some(d))))
        .collect())
}

/// The stateless checks of one envelope. `payload_digest`, when given, is the digest of the
/// payload as the block's data hash splits the envelope (`EnvelopeSplit`): the creator's
/// signature is checked against it when the envelope decodes to that same payload, as every
/// envelope this ledger makes does, so the payload is hashed once for both checks.
fn check_envelope(
    bytes: &[u8],
    channel: &ChannelState,
    own: Option<&OwnEndorsements>,
    payload_digest: Option<&Digest>,
) -> Checked {
    use ValidationCode::*;
    let Ok(env) = EnvelopeView::decode(bytes) else {
        return Checked::Invalid(BadPayload, String::new());
    };
    let Ok(payload) = PayloadView::decode(env.payload) else {
        return Checked::Invalid(BadPayload, String::new());
    };
    let Some(header) = payload.header else {
        return Checked::Invalid(BadPayload, String::new());
    };
    let tx_id = header.tx_id.clone();
    let invalid = |code| Checked::Invalid(code, tx_id.clone());
    if header.tx_id.is_empty() {
        return invalid(BadPayload);
    }
    if header.channel != channel.id() {
        return invalid(TargetChainNotFound);
    }
    let Some(creator) = &header.creator else {
        return invalid(BadPayload);
    };
    let payload_digest = match payload_digest {
        Some(d) if std::ptr::eq(env.payload, EnvelopeSplit::of(bytes).payload) => *d,
        _ => Digest::of(env.payload),
    };
    let Ok(principal) = channel.members().verify_digest(
        creator,
        header.timestamp_ms,
        &payload_digest,
        env.signature,
    ) else {
        return invalid(BadCreatorSignature);
    };
    match TxType::try_from(header.tx_type) {
        Ok(TxType::Endorser) => {
            check_endorser(&header, &principal, payload.data, channel, own).unwrap_or_else(invalid)
        }
        Ok(TxType::Config) => {
            let Ok(update) = ConfigUpdateEnvelope::decode(payload.data) else {
                return invalid(BadPayload);
            };
            match config::check_update(channel, &update, header.timestamp_ms) {
                Ok(config) => Checked::Config {
                    tx_id,
                    config,
                    config_bytes: update.config_bytes,
                },
                Err(_) => invalid(InvalidConfigTransaction),
            }
        }
        Err(_) => invalid(BadPayload),
    }
}

fn check_endorser(
    header: &Header,
    creator: &Principal,
    data: &[u8],
    channel: &ChannelState,
    own: Option<&OwnEndorsements>,
) -> Result<Checked, ValidationCode> {
    use ValidationCode::*;
    let tx = EndorserTransactionView::decode(data).map_err(|_| BadPayload)?;
    // Its arguments are not read here: they stay in the block.
    let proposal = ProposalView::decode(tx.proposal_bytes).map_err(|_| BadPayload)?;
    if proposal.tx_id != header.tx_id
        || proposal.creator != header.creator
        || proposal.channel != header.channel
        || proposal.timestamp_ms != header.timestamp_ms
    {
        return Err(InvalidEndorserTransaction);
    }
    let creator_bytes = proposal
        .creator
        .as_ref()
        .map(Message::encode_to_vec)
        .unwrap_or_default();
    if crate::tx::tx_id(proposal.nonce, &creator_bytes) != proposal.tx_id {
        return Err(BadProposalTxid);
    }
    // The hashes of bytes this peer endorsed itself, if these are they.
    let known = own.map_or_else(KnownHashes::default, |o| {
        o.take_known(&header.tx_id, tx.proposal_bytes, tx.response_payload)
    });
    let proposal_digest = known
        .proposal
        .unwrap_or_else(|| Digest::of(tx.proposal_bytes));
    let response = ProposalResponsePayload::decode(tx.response_payload).map_err(|_| BadPayload)?;
    if response.proposal_hash.as_slice() != proposal_digest.as_bytes()
        || response.response.as_ref().is_none_or(|r| r.status != 200)
    {
        return Err(InvalidEndorserTransaction);
    }
    let rwset = response.results.unwrap_or_default();
    if rwset
        .ns_rwsets
        .iter()
        .any(|ns| ns.namespace != proposal.contract)
    {
        return Err(IllegalWriteset);
    }
    // Each claim is made once: a transaction claims in one namespace, as runs and a
    // strictly ascending list of the rest, none holding a key of another, and relies on
    // keys as unclaimed in a strictly ascending list; anything else is not what a peer
    // makes (module `claim_runs`).
    let claiming: Vec<_> = rwset
        .ns_rwsets
        .iter()
        .filter(|ns| claims_or_relies(ns))
        .collect();
    if claiming.len() > 1
        || (!claiming.is_empty() && rwset.ns_rwsets.len() > 1)
        || claiming.iter().any(|ns| !claim_runs::well_formed(ns))
    {
        return Err(IllegalWriteset);
    }
    // Any member's peer may endorse an approval, so the result itself must show that an
    // admin approved for its own organisation only; otherwise one organisation's peer
    // could forge the approvals of the others. And it must be exactly what `approve`
    // makes — one write, no reads, no range queries: anything more is that one peer's
    // choice, and every range query costs every validating peer a world-state query.
    if proposal.contract == lifecycle::LIFECYCLE {
        let own = |key: &str| lifecycle::approval_org(key) == Some(creator.msp_id.as_str());
        let writes: Vec<_> = rwset.ns_rwsets.iter().flat_map(|ns| &ns.writes).collect();
        let reads = rwset
            .ns_rwsets
            .iter()
            .any(|ns| !ns.reads.is_empty() || !ns.range_queries.is_empty() || claims_or_relies(ns));
        if creator.role != Role::Admin
            || reads
            || writes.len() != 1
            || !writes.iter().all(|w| own(&w.key))
        {
            return Err(IllegalWriteset);
        }
    }
    let mut endorsers = Vec::new();
    // Each identity counts once, however often it endorsed.
    let mut counted: HashSet<(String, Role, String)> = HashSet::new();
    // Every endorsement signs the same result followed by its signer: the result is hashed
    // once, each signer on a clone of that.
    let result = known
        .result
        .unwrap_or_else(|| Sha256Stream::of(tx.response_payload));
    for e in &tx.endorsements {
        // An invalid endorsement simply does not count; the policy decides.
        if let Ok(p) =
            channel
                .members()
                .verify_endorsement_knowing(e, header.timestamp_ms, &result, own)
            && counted.insert((p.msp_id.clone(), p.role, p.name.clone()))
        {
            endorsers.push((p.msp_id.clone(), p.role));
        }
    }
    Ok(Checked::Endorser {
        tx_id: header.tx_id.clone(),
        contract: proposal.contract,
        endorsers,
        rwset,
        events: response.events,
    })
}

async fn check_reads(
    rwset: &TxRwSet,
    contract: &str,
    state: &dyn WorldState,
    committed: &HashMap<(String, String), Version>,
    written: &BTreeSet<(String, String)>,
) -> Result<ValidationCode, StateError> {
    for ns in &rwset.ns_rwsets {
        for r in &ns.reads {
            let key = (ns.namespace.clone(), r.key.clone());
            if written.contains(&key) {
                return Ok(ValidationCode::MvccReadConflict);
            }
            if committed.get(&key).copied() != r.version {
                return Ok(ValidationCode::MvccReadConflict);
            }
        }
        for q in &ns.range_queries {
            // The first key written earlier in the block at or after the range's start.
            let first_after = written
                .range((ns.namespace.clone(), q.start_key.clone())..)
                .next();
            if first_after.is_some_and(|(n, k)| {
                *n == ns.namespace && (q.end_key.is_empty() || k.as_str() < q.end_key.as_str())
            }) {
                return Ok(ValidationCode::PhantomReadConflict);
            }
            let now = state
                .range_versions(contract, &q.start_key, &q.end_key)
                .await?;
            // The reads are listed, or (a range that returned many) recorded by their
            // digest; never both.
            let same = if q.reads_hash.is_empty() {
                now.len() == q.reads.len()
                    && now
                        .iter()
                        .zip(&q.reads)
                        .all(|((k, v), r)| *k == r.key && Some(*v) == r.version)
            } else {
                q.reads.is_empty()
                    && ReadsDigest::of(now.iter().map(|(k, v)| (k.as_str(), *v))) == q.reads_hash
            };
            if !same {
                return Ok(ValidationCode::PhantomReadConflict);
            }
        }
    }
    Ok(ValidationCode::Valid)
}

/// The world-state writes of a block's valid transactions, per its validation flags.
/// Commit, crash recovery and rebuilding all derive writes here, through [`UpdateBuilder`],
/// which validation also feeds with the read-write sets it already decoded.
pub fn block_update(block: &Block) -> BlockUpdate {
    let block_num = block.header.as_ref().map_or(0, |h| h.number);
    let flags = block
        .metadata
        .as_ref()
        .map(|m| m.validation_flags.as_slice())
        .unwrap_or_default();
    let mut update = UpdateBuilder::new(block_num);
    for (i, env) in block
        .data
        .iter()
        .flat_map(|d| d.envelopes.iter())
        .enumerate()
    {
        if flags.get(i) != Some(&(ValidationCode::Valid as u8)) {
            continue;
        }
        let Some((header, data)) = PayloadView::of_envelope(env)
            .ok()
            .and_then(|p| Some((p.header?, p.data)))
        else {
            continue;
        };
        if header.tx_type == TxType::Config as i32 {
            if let Ok(config) = ConfigUpdateEnvelope::decode(data) {
                update.config(i, config.config_bytes);
            }
            continue;
        }
        let rwset = EndorserTransactionView::decode(data)
            .ok()
            .and_then(|t| ProposalResponsePayload::decode(t.response_payload).ok())
            .and_then(|p| p.results)
            .unwrap_or_default();
        update.transaction(i, rwset);
    }
    update.finish()
}

/// Whether a transaction claims, or relies on as unclaimed, a key an earlier block claimed:
/// asked of the lists it carries, as they are (`check_endorser` holds each strictly
/// ascending), so that no key is copied or sorted, and of its runs a run at a time.
async fn claimed_before(state: &dyn WorldState, rwset: &TxRwSet) -> Result<bool, StateError> {
    for ns in &rwset.ns_rwsets {
        for keys in [&ns.claims, &ns.unclaimed] {
            if !keys.is_empty() && !state.claimed(&ns.namespace, keys).await?.is_empty() {
                return Ok(true);
            }
        }
        if !ns.claim_runs.is_empty() && state.claimed_in_runs(&ns.namespace, &ns.claim_runs).await?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether a namespace's results claim keys or rely on keys as unclaimed.
fn claims_or_relies(ns: &NsRwSet) -> bool {
    !ns.claims.is_empty() || !ns.unclaimed.is_empty() || !ns.claim_runs.is_empty()
}

/// Whether each of a namespace's writes in one transaction takes effect: the last write of
/// each key does, and the writes that take effect apply in their order. A map of each key's
/// last write keeps this linear.
pub(crate) fn takes_effect(writes: &[KvWrite]) -> Vec<bool> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(writes.len());
    for (i, w) in writes.iter().enumerate() {
        last.insert(w.key.as_str(), i);
    }
    writes
        .iter()
        .enumerate()
        .map(|(i, w)| last.get(w.key.as_str()) == Some(&i))
        .collect()
}

/// A block's world-state update, built from its valid transactions in block order: the one
/// home of what a valid transaction changes in the state.
pub(crate) struct UpdateBuilder {
    block_num: u64,
    writes: Vec<StateWrite>,
    claims: Vec<StateClaim>,
    claim_runs: Vec<StateClaimRun>,
}

impl UpdateBuilder {
    pub(crate) fn new(block_num: u64) -> UpdateBuilder {
        UpdateBuilder {
            block_num,
            writes: Vec::new(),
            claims: Vec::new(),
            claim_runs: Vec::new(),
        }
    }

    fn version(&self, tx_num: usize) -> Version {
        Version {
            block_num: self.block_num,
            tx_num: tx_num as u64,
        }
    }

    /// A valid configuration transaction at `tx_num`: the next configuration's bytes.
    pub(crate) fn config(&mut self, tx_num: usize, config_bytes: Vec<u8>) {
        let version = self.version(tx_num);
        self.writes.push(StateWrite {
            namespace: CONFIG_NAMESPACE.into(),
            key: CONFIG_KEY.into(),
            value: Some(config_bytes),
            version,
        });
    }

    /// A valid contract transaction at `tx_num`: its claims, and its writes with the last
    /// write of a key within the transaction winning, in the order of the last writes.
    pub(crate) fn transaction(&mut self, tx_num: usize, rwset: TxRwSet) {
        let version = self.version(tx_num);
        for ns in rwset.ns_rwsets {
            self.claims
                .extend(ns.claims.into_iter().map(|key| StateClaim {
                    namespace: ns.namespace.clone(),
                    key,
                    version,
                }));
            self.claim_runs
                .extend(ns.claim_runs.into_iter().map(|run| StateClaimRun {
                    namespace: ns.namespace.clone(),
                    run,
                    version,
                }));
            let effect = takes_effect(&ns.writes);
            self.writes.extend(
                ns.writes
                    .into_iter()
                    .zip(effect)
                    .filter(|(_, effect)| *effect)
                    .map(|(w, _)| StateWrite {
                        namespace: ns.namespace.clone(),
                        key: w.key,
                        value: if w.is_delete { None } else { Some(w.value) },
                        version,
                    }),
            );
        }
    }

    pub(crate) fn finish(self) -> BlockUpdate {
        BlockUpdate {
            block_num: self.block_num,
            writes: self.writes,
            claims: self.claims,
            claim_runs: self.claim_runs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{BlockData, BlockHeader, BlockMetadata};

    fn write(key: &str, value: &str) -> KvWrite {
        KvWrite {
            key: key.into(),
            is_delete: false,
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_last_write_of_a_key_wins_in_the_order_of_last_writes() {
        let mut writes = vec![write("a", "1"), write("b", "2"), write("a", "3")];
        // Many writes of distinct keys: derived in one pass (this was quadratic).
        writes.extend((0..50_000).map(|i| write(&format!("k{i}"), "x")));
        writes.push(write("b", "4"));
        let block = Block {
            header: Some(BlockHeader {
                number: 7,
                ..BlockHeader::default()
            }),
            data: Some(BlockData {
                envelopes: vec![crate::audit::tests::envelope_by("t", writes, None).into()],
            }),
            metadata: Some(BlockMetadata {
                orderer_signature: None,
                validation_flags: vec![ValidationCode::Valid as u8],
                kafka_next_offset: 0,
            }),
        };
        let update = block_update(&block);
        assert_eq!(update.block_num, 7);
        assert_eq!(update.writes.len(), 50_002);
        let a = &update.writes[0];
        assert_eq!((a.key.as_str(), a.value.as_deref()), ("a", Some(&b"3"[..])));
        let b = &update.writes[50_001];
        assert_eq!((b.key.as_str(), b.value.as_deref()), ("b", Some(&b"4"[..])));
        assert_eq!(update.writes[1].key, "k0");
    }
}
