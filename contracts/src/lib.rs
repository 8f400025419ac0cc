//! The telecom contracts that endorsing peers run (DESIGN.md: "Where the telecom logic sits
//! on the ledger"). Every rule comes from `settlement`; this crate only reads and writes the
//! world state around it.
//!
//! A ledger contract sees only its own namespace, and these rules read each other's state
//! (usage is rated with the published ratesheets, under the pair's agreement), so they are
//! one contract, [`Clearing`], whose functions are named `area.step`: agreements,
//! ratesheets, deals, usage batches, statements, disputes and payments.

mod agreement;
mod deal;
mod dispute;
mod keys;
mod partner;
mod payment;
mod ratesheet;
pub mod readmodel;
mod statement;
mod store;
mod usage;

pub use agreement::Agreement;
pub use deal::{DealRecord, DealState};
pub use dispute::{DisputeRecord, OpenRequest};
pub use partner::Profile;
pub use payment::{Balance, PaymentRecord, PaymentRequest};
pub use statement::{IssuedStatement, StatementId};
pub use usage::{BatchEvent, BatchSummary, RatedRecord};

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
pub struct Clearing;

#[async_trait]
impl Contract for Clearing {
    async fn invoke(
        &self,
        ctx: &mut Context<'_>,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<Vec<u8>, ContractError> {
        match function {
            "agreement.set" => agreement::set(ctx, args).await,
            "agreement.get" => agreement::get(ctx).await,
            "partner.register" => partner::register(ctx, args).await,
            "partner.get" => partner::get(ctx, args).await,
            "ratesheet.publish" => ratesheet::publish(ctx, args).await,
            "ratesheet.get" => ratesheet::get(ctx, args).await,
            "deal.propose" => deal::propose(ctx, args).await,
            "deal.accept" => deal::accept(ctx, args).await,
            "deal.withdraw" => deal::withdraw(ctx, args).await,
            "deal.get" => deal::get(ctx, args).await,
            "usage.submit" => usage::submit(ctx, args).await,
            "usage.batch" => usage::batch(ctx, args).await,
            "statement.issue" => statement::issue(ctx, args).await,
            "statement.get" => statement::get(ctx, args).await,
            "dispute.open" => dispute::open(ctx, args).await,
            "dispute.step" => dispute::step(ctx, args).await,
            "dispute.get" => dispute::get(ctx, args).await,
            "payment.record" => payment::record(ctx, args).await,
            "payment.confirm" => payment::confirm(ctx, args).await,
            "payment.get" => payment::get(ctx, args).await,
            "usage.rated" => statement::rated(ctx, args).await,
            "payment.balance" => payment::balances(ctx, args).await,
            other => Err(ContractError::refused(format!(
                "iclear has no function `{other}`"
            ))),
        }
    }
}

/// The contracts a peer installs.
pub fn installed() -> Contracts {
    Contracts::new().with(CLEARING, Arc::new(Clearing))
}

/// The contract definitions a network is created with.
pub fn specs() -> Vec<ContractSpec> {
    vec![ContractSpec {
        name: CLEARING.into(),
        policy: POLICY.into(),
    }]
}
