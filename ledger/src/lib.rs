//! A generic permissioned ledger in the Hyperledger Fabric model: clients propose,
//! organisations' peers endorse by simulating contracts, an ordering service cuts signed
//! blocks, and every peer validates and commits them to a hash-chained block store and a
//! versioned world state. It knows nothing of what the contracts are for.

#![warn(missing_docs)]

pub mod audit;
pub mod bench;
pub mod block;
pub mod blockstore;
pub mod channel;
pub mod claim_runs;
pub mod contract;
pub mod crypto;
pub mod gateway;
pub mod identity;
pub mod info;
pub mod key_set;
pub mod ledger;
pub mod network;
pub mod order;
pub mod peer;
pub mod policy;
pub mod proto;
pub mod reads;
pub mod sample;
pub mod state;
pub mod system;
pub mod transport;
pub mod tx;
pub mod validate;
pub mod verify;
