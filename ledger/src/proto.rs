//! The ledger's wire messages: protobuf (prost), written out by hand so that no build step
//! needs `protoc`. `ledger/proto/ledger.proto` documents the same messages field by field;
//! a change here must change it too. Field numbers never change meaning once released.

/// Encoding version stamped into headers; bumped only for incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

pub mod view;

/// Who signed something: the organisation (MSP id) and its PEM certificate.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct SerializedIdentity {
    /// Organisation id.
    #[prost(string, tag = "1")]
    pub msp_id: String,
    /// X.509 certificate, PEM.
    #[prost(bytes = "vec", tag = "2")]
    pub cert_pem: Vec<u8>,
}

/// A request to run a contract function, made and signed by a client.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Proposal {
    /// Channel the transaction is for.
    #[prost(string, tag = "1")]
    pub channel: String,
    /// Contract (and world-state namespace) to run.
    #[prost(string, tag = "2")]
    pub contract: String,
    /// Function of the contract.
    #[prost(string, tag = "3")]
    pub function: String,
    /// Arguments, opaque to the ledger.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub args: Vec<Vec<u8>>,
    /// The client who proposes.
    #[prost(message, optional, tag = "5")]
    pub creator: Option<SerializedIdentity>,
    /// Random bytes making the tx id unique.
    #[prost(bytes = "vec", tag = "6")]
    pub nonce: Vec<u8>,
    /// Client's clock, milliseconds since the Unix epoch; the only time contracts see.
    #[prost(int64, tag = "7")]
    pub timestamp_ms: i64,
    /// Hex SHA-256 of nonce and serialized creator.
    #[prost(string, tag = "8")]
    pub tx_id: String,
    /// Encoding version.
    #[prost(uint32, tag = "9")]
    pub format_version: u32,
}

/// A proposal with the creator's signature over its bytes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SignedProposal {
    /// Encoded `Proposal`.
    #[prost(bytes = "bytes", tag = "1")]
    pub proposal_bytes: bytes::Bytes,
    /// Creator's signature over `proposal_bytes`.
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
}

/// A world-state version: the block and the transaction within it that last wrote a key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct Version {
    /// Block number.
    #[prost(uint64, tag = "1")]
    pub block_num: u64,
    /// Transaction index within the block.
    #[prost(uint64, tag = "2")]
    pub tx_num: u64,
}

/// A key read during simulation, with the version seen (none: the key did not exist).
#[derive(Clone, PartialEq, prost::Message)]
pub struct KvRead {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Version read.
    #[prost(message, optional, tag = "2")]
    pub version: Option<Version>,
}

/// A key written during simulation.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KvWrite {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// True for a delete; `value` is then empty.
    #[prost(bool, tag = "2")]
    pub is_delete: bool,
    /// New value.
    #[prost(bytes = "vec", tag = "3")]
    pub value: Vec<u8>,
}

/// A range query made during simulation and what it returned, for phantom checks.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeQueryInfo {
    /// First key (inclusive).
    #[prost(string, tag = "1")]
    pub start_key: String,
    /// Last key (exclusive); empty means unbounded.
    #[prost(string, tag = "2")]
    pub end_key: String,
    /// Keys and versions returned, in key order; empty when `reads_hash` stands for them.
    #[prost(message, repeated, tag = "3")]
    pub reads: Vec<KvRead>,
    /// The digest of the keys and versions returned (`reads::ReadsDigest`), for a range that
    /// returned more than `reads::LISTED_READS_MAX`; empty when they are listed in `reads`.
    #[prost(bytes = "vec", tag = "4")]
    pub reads_hash: Vec<u8>,
}

/// Reads, range queries and writes of one namespace.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NsRwSet {
    /// Namespace (the contract name).
    #[prost(string, tag = "1")]
    pub namespace: String,
    /// Point reads.
    #[prost(message, repeated, tag = "2")]
    pub reads: Vec<KvRead>,
    /// Range queries.
    #[prost(message, repeated, tag = "3")]
    pub range_queries: Vec<RangeQueryInfo>,
    /// Writes, in the order made; the last write of a key wins.
    #[prost(message, repeated, tag = "4")]
    pub writes: Vec<KvWrite>,
    /// Keys this transaction claims, in key order: a claim is made once and kept forever
    /// (a record id accepted, say), so the transaction is valid only if no transaction
    /// claimed any of them before it. Claims have no value, version read or history row.
    #[prost(string, repeated, tag = "5")]
    pub claims: Vec<String>,
    /// Keys the transaction found unclaimed and relied on without claiming them, in key
    /// order: valid only if they are still unclaimed when it commits.
    #[prost(string, repeated, tag = "6")]
    pub unclaimed: Vec<String>,
    /// Claims of consecutively numbered keys, a run each (`claim_runs`): a batch's record
    /// ids travel as a few runs, not a key each. In (prefix, suffix, first) order, none
    /// holding a key of another or of `claims`.
    #[prost(message, repeated, tag = "7")]
    pub claim_runs: Vec<KeyRun>,
}

/// The claims of the keys `prefix` + `first` … `prefix` + `last`, each followed by
/// `suffix`: numbers in decimal without leading zeros, `prefix` not ending with a digit,
/// `suffix` holding none, `first` below `last`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct KeyRun {
    /// What precedes each key's number.
    #[prost(string, tag = "1")]
    pub prefix: String,
    /// What follows it.
    #[prost(string, tag = "2")]
    pub suffix: String,
    /// The first key's number.
    #[prost(uint64, tag = "3")]
    pub first: u64,
    /// The last key's number.
    #[prost(uint64, tag = "4")]
    pub last: u64,
}

/// All namespaces a transaction touched.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TxRwSet {
    /// One entry per namespace.
    #[prost(message, repeated, tag = "1")]
    pub ns_rwsets: Vec<NsRwSet>,
}

/// An event a contract emitted; delivered to clients only if its transaction is valid.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContractEvent {
    /// Contract that emitted it.
    #[prost(string, tag = "1")]
    pub contract: String,
    /// Event name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Event payload.
    #[prost(bytes = "vec", tag = "3")]
    pub payload: Vec<u8>,
}

/// The contract's answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Response {
    /// 200 for success, 500 for a contract error.
    #[prost(int32, tag = "1")]
    pub status: i32,
    /// Error message when `status` is not 200.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Returned bytes.
    #[prost(bytes = "vec", tag = "3")]
    pub payload: Vec<u8>,
}

/// What an endorser signs: the proposal's hash and the simulation's outcome.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProposalResponsePayload {
    /// SHA-256 of the proposal bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub proposal_hash: Vec<u8>,
    /// Read and write sets.
    #[prost(message, optional, tag = "2")]
    pub results: Option<TxRwSet>,
    /// Events emitted.
    #[prost(message, repeated, tag = "3")]
    pub events: Vec<ContractEvent>,
    /// The contract's answer.
    #[prost(message, optional, tag = "4")]
    pub response: Option<Response>,
}

/// A signature by an identity (an endorser, an admin, an orderer).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Endorsement {
    /// Signer.
    #[prost(message, optional, tag = "1")]
    pub endorser: Option<SerializedIdentity>,
    /// Signature (ECDSA-SHA256, DER) over the signed bytes followed by the encoded signer.
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
}

/// A peer's answer to a proposal.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProposalResponse {
    /// Encoded `ProposalResponsePayload`.
    #[prost(bytes = "bytes", tag = "1")]
    pub payload: bytes::Bytes,
    /// The peer's endorsement of `payload`.
    #[prost(message, optional, tag = "2")]
    pub endorsement: Option<Endorsement>,
}

/// Kind of transaction carried by a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum TxType {
    /// A contract invocation with endorsements.
    Endorser = 0,
    /// A channel configuration update signed by admins.
    Config = 1,
}

/// Header common to every transaction.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Header {
    /// Kind of transaction.
    #[prost(enumeration = "TxType", tag = "1")]
    pub tx_type: i32,
    /// Channel.
    #[prost(string, tag = "2")]
    pub channel: String,
    /// Transaction id.
    #[prost(string, tag = "3")]
    pub tx_id: String,
    /// Who signs the envelope.
    #[prost(message, optional, tag = "4")]
    pub creator: Option<SerializedIdentity>,
    /// Milliseconds since the Unix epoch; certificates are checked at this time.
    #[prost(int64, tag = "5")]
    pub timestamp_ms: i64,
    /// Encoding version.
    #[prost(uint32, tag = "6")]
    pub format_version: u32,
}

/// The signed content of an envelope.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    /// Header.
    #[prost(message, optional, tag = "1")]
    pub header: Option<Header>,
    /// Encoded `EndorserTransaction` or `ConfigUpdateEnvelope`, by `header.tx_type`.
    #[prost(bytes = "vec", tag = "2")]
    pub data: Vec<u8>,
}

/// The unit the orderer orders: a payload and its creator's signature.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Envelope {
    /// Encoded `Payload`.
    #[prost(bytes = "vec", tag = "1")]
    pub payload: Vec<u8>,
    /// Creator's signature over `payload`.
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
}

/// A contract invocation ready for ordering.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EndorserTransaction {
    /// The exact proposal bytes the endorsers hashed.
    #[prost(bytes = "bytes", tag = "1")]
    pub proposal_bytes: bytes::Bytes,
    /// Encoded `ProposalResponsePayload` all endorsers signed.
    #[prost(bytes = "bytes", tag = "2")]
    pub response_payload: bytes::Bytes,
    /// Endorsements of `response_payload`.
    #[prost(message, repeated, tag = "3")]
    pub endorsements: Vec<Endorsement>,
}

/// One organisation of a channel: its CA and its revocation list.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OrgConfig {
    /// Organisation id.
    #[prost(string, tag = "1")]
    pub msp_id: String,
    /// Root CA certificate, PEM.
    #[prost(bytes = "vec", tag = "2")]
    pub ca_cert_pem: Vec<u8>,
    /// Certificate revocation list signed by the CA, PEM; empty for none.
    #[prost(bytes = "vec", tag = "3")]
    pub crl_pem: Vec<u8>,
    /// The CA certificate of its TLS certificates, PEM; empty where nodes do not talk TLS
    /// (the embedded network). Opaque to the ledger: nodes trust it.
    #[prost(bytes = "vec", tag = "4")]
    pub tls_ca_cert_pem: Vec<u8>,
    /// Its node's `HOST:PORT`; empty where nodes do not talk over the network. Opaque to
    /// the ledger: nodes dial it.
    #[prost(string, tag = "5")]
    pub endpoint: String,
}

/// The ordering service of a channel and its block-cutting parameters.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OrdererConfig {
    /// The ordering organisation.
    #[prost(message, optional, tag = "1")]
    pub org: Option<OrgConfig>,
    /// Most transactions per block.
    #[prost(uint32, tag = "2")]
    pub max_message_count: u32,
    /// A block is cut once it would grow past this many bytes.
    #[prost(uint32, tag = "3")]
    pub preferred_max_bytes: u32,
    /// Larger transactions are refused.
    #[prost(uint32, tag = "4")]
    pub absolute_max_bytes: u32,
    /// A non-empty batch is cut this long after its first transaction arrived.
    #[prost(uint64, tag = "5")]
    pub batch_timeout_ms: u64,
    /// Which ordering service cuts the blocks.
    #[prost(enumeration = "OrderingKind", tag = "6")]
    pub kind: i32,
    /// Kafka: the brokers (`HOST:PORT`) every orderer node of the channel uses.
    #[prost(string, repeated, tag = "7")]
    pub brokers: Vec<String>,
    /// Further ordering organisations (Kafka: several run orderer nodes); `org` is the
    /// first.
    #[prost(message, repeated, tag = "8")]
    pub more_orgs: Vec<OrgConfig>,
}

/// Which ordering service a channel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum OrderingKind {
    /// One orderer node (SPEC §11).
    Solo = 0,
    /// Orderer nodes of one or several organisations on one Kafka topic per channel.
    Kafka = 1,
}

/// What an orderer node writes into a channel's Kafka topic (Fabric 1.x's
/// `KafkaMessage`). Every orderer node consumes the same stream and cuts the same blocks.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KafkaMessage {
    /// The message.
    #[prost(oneof = "KafkaMessageKind", tags = "1, 2, 3, 4")]
    pub kind: Option<KafkaMessageKind>,
}

/// The kinds of [`KafkaMessage`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum KafkaMessageKind {
    /// An envelope to order.
    #[prost(message, tag = "1")]
    Regular(KafkaRegular),
    /// Cut block `block_number` now if it is still pending (the batch timeout).
    #[prost(message, tag = "2")]
    TimeToCut(KafkaTimeToCut),
    /// Written by an orderer node when it starts; it orders nothing.
    #[prost(message, tag = "3")]
    Connect(KafkaConnect),
    /// On the consortium's topic: a request to create a channel, which every orderer node
    /// checks against the consortium's configuration at that point of the stream and
    /// carries out alike (the role of Fabric 1.x's system channel). It is cut into no block.
    #[prost(message, tag = "4")]
    Create(KafkaCreate),
}

/// A channel creation request as an orderer node admitted it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KafkaCreate {
    /// The encoded configuration `Envelope` naming the new channel.
    #[prost(bytes = "vec", tag = "1")]
    pub envelope: Vec<u8>,
}

/// An envelope and the configuration it was admitted under.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KafkaRegular {
    /// The encoded `Envelope`.
    #[prost(bytes = "vec", tag = "1")]
    pub envelope: Vec<u8>,
    /// The channel configuration sequence it was checked against; a later configuration
    /// checks it again.
    #[prost(uint64, tag = "2")]
    pub config_seq: u64,
    /// Whether it is a configuration update (ordered in a block of its own).
    #[prost(bool, tag = "3")]
    pub config: bool,
}

/// The batch timeout of a block, as a message in the stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KafkaTimeToCut {
    /// The block to cut.
    #[prost(uint64, tag = "1")]
    pub block_number: u64,
}

/// An orderer node's announcement that it started.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KafkaConnect {
    /// The orderer organisation.
    #[prost(string, tag = "1")]
    pub org: String,
}

/// A contract and the endorsement policy it is validated against.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContractDefinition {
    /// Contract name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Version label.
    #[prost(string, tag = "2")]
    pub version: String,
    /// Policy text (see `policy`), or `ALL`, `MAJORITY`, `ANY` of the member peers.
    #[prost(string, tag = "3")]
    pub endorsement_policy: String,
}

/// A channel's configuration: members, orderer, contracts. Block 0 carries the first one.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChannelConfig {
    /// Channel name.
    #[prost(string, tag = "1")]
    pub channel_id: String,
    /// Incremented by every update.
    #[prost(uint64, tag = "2")]
    pub sequence: u64,
    /// Member organisations.
    #[prost(message, repeated, tag = "3")]
    pub orgs: Vec<OrgConfig>,
    /// Ordering service.
    #[prost(message, optional, tag = "4")]
    pub orderer: Option<OrdererConfig>,
    /// Contracts defined at channel creation.
    #[prost(message, repeated, tag = "5")]
    pub contracts: Vec<ContractDefinition>,
}

/// A proposed new configuration and the admin signatures over it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfigUpdateEnvelope {
    /// Encoded `ChannelConfig`.
    #[prost(bytes = "vec", tag = "1")]
    pub config_bytes: Vec<u8>,
    /// Admin signatures over `config_bytes`.
    #[prost(message, repeated, tag = "2")]
    pub signatures: Vec<Endorsement>,
}

/// Block header; its hash chains the blocks.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BlockHeader {
    /// Block number, from 0.
    #[prost(uint64, tag = "1")]
    pub number: u64,
    /// SHA-256 of the previous block's encoded header; empty for block 0.
    #[prost(bytes = "vec", tag = "2")]
    pub previous_hash: Vec<u8>,
    /// The hash of the block's envelopes, of the kind `data_hash_kind` names
    /// (`block::DataHashKind`).
    #[prost(bytes = "vec", tag = "3")]
    pub data_hash: Vec<u8>,
    /// 0: SHA-256 of the encoded `BlockData` (every block written before the second kind,
    /// whose headers, without the field, hash as they did); 1: over each envelope's
    /// payload digest and its other bytes (`block::DataHashKind::PayloadDigests`).
    #[prost(uint32, tag = "4")]
    pub data_hash_kind: u32,
}

/// The ordered transactions.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BlockData {
    /// Encoded envelopes. A block decoded from a [`bytes::Bytes`] (as the block store and
    /// the delivery streams decode it) shares their bytes with the buffer instead of copying
    /// each envelope twice, as prost does into a `Vec<u8>`.
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub envelopes: Vec<bytes::Bytes>,
}

/// What is added to a block after the header: the orderer's signature, the peer's flags.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BlockMetadata {
    /// Orderer's signature over the encoded header.
    #[prost(message, optional, tag = "1")]
    pub orderer_signature: Option<Endorsement>,
    /// One validation code per transaction, set by the committing peer.
    #[prost(bytes = "vec", tag = "2")]
    pub validation_flags: Vec<u8>,
    /// Kafka ordering: the offset in the channel's topic after the last message this
    /// block took in; a restarted orderer node resumes there. 0 for solo and block 0.
    #[prost(uint64, tag = "3")]
    pub kafka_next_offset: u64,
}

/// A block.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Block {
    /// Header.
    #[prost(message, optional, tag = "1")]
    pub header: Option<BlockHeader>,
    /// Transactions.
    #[prost(message, optional, tag = "2")]
    pub data: Option<BlockData>,
    /// Signature and flags.
    #[prost(message, optional, tag = "3")]
    pub metadata: Option<BlockMetadata>,
}
