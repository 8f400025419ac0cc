//! The typed API of the clearing contract: one marker type per function, each naming the
//! function once ([`Function::NAME`]) with its request and reply types. The dispatcher
//! decodes into these types and every caller builds them, so a change to a function's
//! arguments is a compile error wherever it matters.
//!
//! ## Encoding (it is in blocks, so it is stable and versioned)
//!
//! A call's arguments are `[ENCODING, request]`: the first is the encoding's version tag
//! ([`ENCODING`]), the second the request as JSON (domain values as their SPEC text,
//! amounts as decimal strings). A request may carry a raw body as a third argument — a CDR
//! batch travels as its CSV bytes, not inside JSON ([`Request::body`]). Replies are the
//! reply type as JSON. A future encoding gets a new tag; peers refuse a tag they do not
//! know rather than guess.

use ledger::contract::ContractError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The version tag of the arguments' encoding, the first argument of every call.
pub const ENCODING: &[u8] = b"iclear/1";

/// One function of the clearing contract.
pub trait Function {
    /// Its name on the ledger, `area.step`: this is the only place it is written.
    const NAME: &'static str;
    /// Whether it changes the world state (submitted and ordered) or only reads it
    /// (evaluated on one peer).
    const WRITES: bool;
    /// What the caller sends.
    type Request: Request;
    /// What the contract answers.
    type Reply: Serialize + DeserializeOwned;
}

/// A request's wire form: JSON, and optionally a raw body beside it.
pub trait Request: Serialize + DeserializeOwned + Sized {
    /// Takes the raw body out of the request before it is encoded (the JSON then carries
    /// the rest); `None` for requests without one.
    fn body(&mut self) -> Option<Vec<u8>> {
        None
    }

    /// Puts the raw body back after the JSON is decoded.
    fn set_body(&mut self, _body: Vec<u8>) -> Result<(), ContractError> {
        Err(ContractError::refused(
            "this function takes no body argument",
        ))
    }
}

/// A call ready for a transport: the function's name and its encoded arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The function.
    pub function: &'static str,
    /// `[ENCODING, request JSON, body?]`.
    pub args: Vec<Vec<u8>>,
    /// Whether it writes (see [`Function::WRITES`]).
    pub writes: bool,
}

impl Call {
    /// A call received by a transport (e.g. `iclear up`'s API), checked against the
    /// contract's functions; `None` for a function that does not exist.
    pub fn received(function: &str, args: Vec<Vec<u8>>) -> Option<Call> {
        FUNCTIONS
            .iter()
            .find(|(name, _)| *name == function)
            .map(|&(function, writes)| Call {
                function,
                args,
                writes,
            })
    }
}

/// Encodes a request of `F`.
pub fn call<F: Function>(mut request: F::Request) -> Result<Call, serde_json::Error> {
    let body = request.body();
    let mut args = vec![ENCODING.to_vec(), serde_json::to_vec(&request)?];
    args.extend(body);
    Ok(Call {
        function: F::NAME,
        args,
        writes: F::WRITES,
    })
}

/// Decodes the arguments of a call to `F`; a refusal names what is wrong.
pub fn decode_request<F: Function>(args: Vec<Vec<u8>>) -> Result<F::Request, ContractError> {
    match args.first() {
        Some(tag) if tag == ENCODING => {}
        Some(tag) => {
            return Err(ContractError::refused(format!(
                "{}: arguments encoded as `{}`, this peer reads `{}`",
                F::NAME,
                String::from_utf8_lossy(&tag[..tag.len().min(32)]),
                String::from_utf8_lossy(ENCODING)
            )));
        }
        None => return Err(ContractError::refused(format!("{}: no arguments", F::NAME))),
    }
    let json = args
        .get(1)
        .ok_or_else(|| ContractError::refused(format!("{}: the request is missing", F::NAME)))?;
    let mut request: F::Request = serde_json::from_slice(json)
        .map_err(|e| ContractError::refused(format!("{}: bad request: {e}", F::NAME)))?;
    match args.len() {
        2 => {}
        3 => {
            let body = args.into_iter().nth(2).unwrap_or_default();
            request.set_body(body)?;
        }
        n => {
            return Err(ContractError::refused(format!(
                "{}: {n} arguments, expected 2 or 3",
                F::NAME
            )));
        }
    }
    Ok(request)
}

/// Encodes a reply of `F`.
pub fn encode_reply<F: Function>(reply: &F::Reply) -> Result<Vec<u8>, ContractError> {
    serde_json::to_vec(reply)
        .map_err(|e| ContractError::internal(format!("{}: reply not encoded: {e}", F::NAME)))
}

/// Decodes a reply of `F`.
pub fn decode_reply<F: Function>(payload: &[u8]) -> Result<F::Reply, serde_json::Error> {
    serde_json::from_slice(payload)
}

/// Declares the marker types of the contract's functions.
macro_rules! functions {
    ($($(#[$doc:meta])* $marker:ident = $name:literal, $writes:literal, $req:ty => $reply:ty;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $marker;
            impl Function for $marker {
                const NAME: &'static str = $name;
                const WRITES: bool = $writes;
                type Request = $req;
                type Reply = $reply;
            }
        )*
        /// Every function's name, for the dispatcher's refusal of an unknown one.
        pub const NAMES: &[&str] = &[$($name),*];
        /// Every function's name and whether it writes, for transports that carry calls.
        const FUNCTIONS: &[(&str, bool)] = &[$(($name, $writes)),*];
    };
}

/// Requests whose `$field: Vec<u8>` (skipped by serde) travels as the call's raw body.
macro_rules! body_requests {
    ($($t:ty => $field:ident),* $(,)?) => {$(
        impl Request for $t {
            fn body(&mut self) -> Option<Vec<u8>> {
                Some(std::mem::take(&mut self.$field))
            }

            fn set_body(&mut self, body: Vec<u8>) -> Result<(), ContractError> {
                self.$field = body;
                Ok(())
            }
        }
    )*};
}

/// Requests that are JSON alone.
macro_rules! json_requests {
    ($($t:ty),* $(,)?) => { $(impl Request for $t {})* };
}

use crate::agreement::{AgreementProposal, AgreementState, Counterparty};
use crate::deal::{DealId, DealRecord, ProposeDeal};
use crate::dispute::{DisputeId, DisputeRecord, DisputeStep, OpenRequest};
use crate::partner::{PartnerQuery, Profile, ProfileRequest};
use crate::payment::{Balance, BalanceQuery, PaymentId, PaymentRecord, PaymentRequest};
use crate::ratesheet::{Preview, PublishRatesheet, Published, SheetQuery, StoredSheet};
use crate::statement::{
    IssuedStatement, PartAttached, PartBytes, PartQuery, StatementId, StatementIssued,
};
use crate::stream::{StreamPosition, StreamQuery};
use crate::usage::{BatchQuery, BatchSummary, SubmitBatch};

body_requests!(PublishRatesheet => csv, SubmitBatch => rows, PartBytes => bytes);

json_requests!(
    AgreementProposal,
    Counterparty,
    (),
    ProfileRequest,
    PartnerQuery,
    SheetQuery,
    DealId,
    ProposeDeal,
    BatchQuery,
    StreamQuery,
    StatementId,
    PartQuery,
    OpenRequest,
    DisputeId,
    DisputeStep,
    PaymentRequest,
    PaymentId,
    BalanceQuery,
);

functions! {
    /// Proposes new terms for the pair's agreement (SPEC §1.1).
    ProposeAgreement = "agreement.propose", true, AgreementProposal => AgreementState;
    /// Accepts the terms the other carrier proposed.
    AcceptAgreement = "agreement.accept", true, Counterparty => AgreementState;
    /// The agreement in force and any proposal.
    GetAgreement = "agreement.get", false, () => AgreementState;
    /// Sets the caller's own partner profile.
    RegisterPartner = "partner.register", true, ProfileRequest => Profile;
    /// A carrier's profile.
    GetPartner = "partner.get", false, PartnerQuery => Profile;
    /// Publishes a ratesheet (SPEC §3, §3.1).
    PublishSheet = "ratesheet.publish", true, PublishRatesheet => Published;
    /// The sheet in force for an owner, service and scope.
    GetSheet = "ratesheet.get", false, SheetQuery => StoredSheet;
    /// What publishing a ratesheet now would change, or its problems; writes nothing.
    PreviewSheet = "ratesheet.preview", false, PublishRatesheet => Preview;
    /// Proposes a deal (SPEC §5).
    ProposeDealFn = "deal.propose", true, ProposeDeal => DealRecord;
    /// Accepts a deal the other party proposed.
    AcceptDeal = "deal.accept", true, DealId => DealRecord;
    /// Withdraws a deal the caller proposed.
    WithdrawDeal = "deal.withdraw", true, DealId => DealRecord;
    /// A deal by id.
    GetDeal = "deal.get", false, DealId => DealRecord;
    /// Submits a CDR batch: judged, deduplicated and rated by both peers.
    Submit = "usage.submit", true, SubmitBatch => BatchSummary;
    /// A committed batch's summary.
    GetBatch = "usage.batch", false, BatchQuery => BatchSummary;
    /// The caller's position of a Kafka partition on the channel (SPEC §12).
    StreamAt = "usage.stream_position", false, StreamQuery => Option<StreamPosition>;
    /// The rated records of both carriers for a statement's scope (CSV of SPEC §9).
    Rated = "usage.rated", false, StatementId => String;
    /// Issues a statement; both peers compute it (SPEC §6).
    IssueStatement = "statement.issue", true, StatementId => StatementIssued;
    /// An issued statement with its files (`discrepancies.csv` whole, or its first part).
    GetStatement = "statement.get", false, StatementId => IssuedStatement;
    /// Records a further part of a statement's `discrepancies.csv`, given its bytes, if they
    /// hash to the digest the statement holds.
    AttachPart = "statement.attach", true, PartBytes => PartAttached;
    /// Computes the statement again on one peer and gives the parts of its
    /// `discrepancies.csv` from a part on, to attach.
    ComputeParts = "statement.compute_parts", false, PartQuery => Vec<String>;
    /// A part of a statement's `discrepancies.csv`; `None` when it is not attached yet.
    GetPart = "statement.part", false, PartQuery => Option<String>;
    /// Opens a dispute (SPEC §7).
    OpenDispute = "dispute.open", true, OpenRequest => DisputeRecord;
    /// One step of a dispute.
    StepDispute = "dispute.step", true, DisputeStep => DisputeRecord;
    /// A dispute by id.
    GetDispute = "dispute.get", false, DisputeId => DisputeRecord;
    /// Records a payment (SPEC §8).
    RecordPayment = "payment.record", true, PaymentRequest => PaymentRecord;
    /// Confirms a payment received.
    ConfirmPayment = "payment.confirm", true, PaymentId => PaymentRecord;
    /// A payment by id.
    GetPayment = "payment.get", false, PaymentId => PaymentRecord;
    /// Who owes whom between the two carriers, per currency.
    GetBalance = "payment.balance", false, BalanceQuery => Vec<Balance>;
}
