//! The telecom contracts that endorsing peers run (DESIGN.md: "Where the telecom logic sits
//! on the ledger"). Every rule comes from `settlement`; this crate only reads and writes the
//! world state around it.
//!
//! A ledger contract sees only its own namespace, and these rules read each other's state
//! (usage is rated with the published ratesheets, under the pair's agreement), so they are
//! one contract, [`Clearing`], whose functions are named `area.step`: agreements,
//! ratesheets, deals, usage batches, statements, disputes and payments.

mod account;
pub mod agreement;
pub mod api;
mod batch_ids;
pub mod binary;
pub mod client;
pub mod deal;
mod dedupe;
pub mod dispute;
mod first_seen;
mod keys;
pub mod parsed;
pub mod partner;
pub mod payment;
pub mod ratesheet;
pub mod readmodel;
mod rows;
mod slim;
pub mod statement;
mod store;
pub mod stored;
pub mod stream;
mod tabled;
pub mod usage;

pub use account::{Account, AccountLine};
pub use agreement::{AgreementProposal, AgreementState, AgreementTerms, Counterparty};
pub use deal::{DealId, DealRecord, DealState, ProposeDeal};
pub use dispute::{DisputeId, DisputeRecord, DisputeStep, OpenRequest};
pub use partner::{PartnerQuery, Profile, ProfileRequest};
pub use payment::{Balance, BalanceQuery, PaymentId, PaymentRecord, PaymentRequest};
pub use ratesheet::{
    Preview, PublishRatesheet, Published, SheetChange, SheetQuery, StoredSheet, Terms,
};
pub use statement::{
    IssuedStatement, PartAttached, PartBytes, PartQuery, StatementId, StatementIssued,
};
pub use stream::{StreamChunk, StreamPosition, StreamQuery, StreamReject};
pub use usage::{
    BatchEvent, BatchQuery, BatchSummary, RatedDirection, RatedRecord, RatedRow, SubmitBatch,
};

use std::sync::Arc;

use async_trait::async_trait;
use ledger::contract::{Context, Contract, ContractError, Contracts};
use ledger::network::ContractSpec;

/// The contract's name on every channel.
pub const CLEARING: &str = "iclear";

/// The endorsement policy: every member of the channel — on a pair's channel, AND(payer,
/// payee), so nothing is committed that both carriers did not compute alike.
pub const POLICY: &str = "ALL";

/// iclear's contract: one namespace for agreements, ratesheets, deals and usage.
#[derive(Debug, Default)]
pub struct Clearing {
    /// The later parts of large statements this peer computed, off the ledger.
    kept: statement::KeptParts,
    /// The ratesheets this peer rated batches with, parsed.
    sheets: parsed::ParsedSheets,
}

/// Routes a call to the handler of the function it names: decodes the request into the
/// function's type, runs the handler (with the peer's own state it names in brackets, if
/// any), encodes its reply.
macro_rules! dispatch {
    ($ctx:ident, $function:ident, $args:ident;
     $($f:ty => $handler:path $([$extra:expr])?,)*) => {
        $(
            if $function == <$f as Function>::NAME {
                let request = api::decode_request::<$f>($args)?;
                let reply: <$f as Function>::Reply =
                    $handler($ctx, request $(, $extra)?).await?;
                return api::encode_reply::<$f>(&reply);
            }
        )*
    };
}

#[async_trait]
impl Contract for Clearing {
    async fn invoke(
        &self,
        ctx: &mut Context<'_>,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Vec<u8>, ContractError> {
        use api::*;
        dispatch!(ctx, function, args;
            ProposeAgreement => agreement::propose,
            AcceptAgreement => agreement::accept,
            GetAgreement => agreement::get,
            RegisterPartner => partner::register,
            GetPartner => partner::get,
            PublishSheet => ratesheet::publish,
            GetSheet => ratesheet::get,
            PreviewSheet => ratesheet::preview,
            ProposeDealFn => deal::propose,
            AcceptDeal => deal::accept,
            WithdrawDeal => deal::withdraw,
            GetDeal => deal::get,
            Submit => usage::submit[&self.sheets],
            GetBatch => usage::batch,
            StreamAt => stream::position,
            Rated => statement::rated,
            IssueStatement => statement::issue[&self.kept],
            GetStatement => statement::get,
            AttachPart => statement::attach,
            ComputeParts => statement::compute_parts[&self.kept],
            GetPart => statement::part,
            OpenDispute => dispute::open,
            StepDispute => dispute::step,
            GetDispute => dispute::get,
            RecordPayment => payment::record,
            ConfirmPayment => payment::confirm,
            GetPayment => payment::get,
            GetBalance => payment::balances,
        );
        Err(ContractError::refused(format!(
            "iclear has no function `{function}` (it has {})",
            NAMES.join(", ")
        )))
    }
}

/// The contracts a peer installs.
pub fn installed() -> Contracts {
    Contracts::new().with(CLEARING, Arc::new(Clearing::default()))
}

/// The contract definitions a network is created with.
pub fn specs() -> Vec<ContractSpec> {
    vec![ContractSpec {
        name: CLEARING.into(),
        policy: POLICY.into(),
    }]
}
