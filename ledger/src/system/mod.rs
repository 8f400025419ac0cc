//! System contracts: channel configuration updates, the contract lifecycle, and queries of
//! blocks and transactions.

pub mod config;
pub mod lifecycle;
pub mod query;
