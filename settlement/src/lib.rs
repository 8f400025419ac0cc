//! iclear's settlement engine: the domain rules of SPEC.md as functions over plain data.
//!
//! No I/O beyond the readers and writers it is handed, no clock, no floats: money is
//! [`rust_decimal::Decimal`] and every rounding is the one the SPEC names.

pub mod agreement;
pub mod carrier;
pub mod cdr;
pub mod deal;
pub mod dispute;
pub mod export;
pub mod fields;
pub mod intake;
pub mod lines;
pub mod money;
pub mod netting;
pub mod number;
pub mod offline;
pub mod payment;
pub mod period;
pub mod ratesheet;
pub mod rating;
pub mod reconcile;
pub mod service;
pub mod statement;
pub mod text;
pub mod time;
