//! The ledger's errors as gRPC statuses and back. A refusal keeps its structure where a
//! client decides on it (a contract's refusal, a clock skew, an unknown channel); the
//! others travel as the peer's own words. A failure to reach the peer at all is never a
//! refusal: it is `Unreachable`.

use ledger::order::OrderError;
use ledger::peer::EndorseError;
use prost::Message;
use tonic::{Code, Status};

/// A refusal's structure, in the status details.
#[derive(Clone, PartialEq, prost::Message)]
struct Refusal {
    #[prost(string, tag = "1")]
    kind: String,
    #[prost(string, tag = "2")]
    tx_id: String,
    #[prost(string, tag = "3")]
    contract: String,
    #[prost(string, tag = "4")]
    channel: String,
    #[prost(string, tag = "5")]
    message: String,
    #[prost(uint64, tag = "6")]
    a: u64,
    #[prost(uint64, tag = "7")]
    b: u64,
}

fn status(code: Code, message: String, r: Refusal) -> Status {
    Status::with_details(code, message, r.encode_to_vec().into())
}

fn refusal(kind: &str) -> Refusal {
    Refusal {
        kind: kind.into(),
        ..Refusal::default()
    }
}

pub(crate) fn endorse_status(e: &EndorseError) -> Status {
    let msg = e.to_string();
    match e {
        EndorseError::Malformed(m) => status(
            Code::InvalidArgument,
            msg,
            Refusal {
                message: m.clone(),
                ..refusal("malformed")
            },
        ),
        EndorseError::UnknownChannel { peer, channel } => status(
            Code::NotFound,
            msg,
            Refusal {
                message: peer.clone(),
                channel: channel.clone(),
                ..refusal("unknown_channel")
            },
        ),
        EndorseError::BadTxId(t) => status(
            Code::InvalidArgument,
            msg,
            Refusal {
                tx_id: t.clone(),
                ..refusal("bad_tx_id")
            },
        ),
        EndorseError::Skew {
            tx_id,
            skew_ms,
            limit_ms,
        } => status(
            Code::FailedPrecondition,
            msg,
            Refusal {
                tx_id: tx_id.clone(),
                a: *skew_ms,
                b: *limit_ms,
                ..refusal("skew")
            },
        ),
        EndorseError::Duplicate(t) => status(
            Code::AlreadyExists,
            msg,
            Refusal {
                tx_id: t.clone(),
                ..refusal("duplicate")
            },
        ),
        EndorseError::UnknownContract {
            contract,
            channel,
            what,
        } => status(
            Code::NotFound,
            msg,
            Refusal {
                contract: contract.clone(),
                channel: channel.clone(),
                message: what.to_string(),
                ..refusal("unknown_contract")
            },
        ),
        EndorseError::Contract {
            tx_id,
            contract,
            message,
        } => status(
            Code::FailedPrecondition,
            msg,
            Refusal {
                tx_id: tx_id.clone(),
                contract: contract.clone(),
                message: message.clone(),
                ..refusal("contract")
            },
        ),
        EndorseError::ContractFault {
            tx_id,
            contract,
            message,
        } => status(
            Code::Internal,
            msg,
            Refusal {
                tx_id: tx_id.clone(),
                contract: contract.clone(),
                message: message.clone(),
                ..refusal("contract_fault")
            },
        ),
        EndorseError::Creator { .. } => status(Code::PermissionDenied, msg, refusal("remote")),
        EndorseError::State(_) | EndorseError::Identity(_) | EndorseError::Remote { .. } => {
            status(Code::Internal, msg, refusal("remote"))
        }
        // A peer that could not reach another is not itself unreachable to its caller.
        EndorseError::Unreachable { .. } => status(Code::Internal, msg, refusal("remote")),
    }
}

/// Whether a status says the call did not reach the service (or its answer did not come
/// back): a transport failure, not a refusal. Our services put a [`Refusal`] in every
/// status they send, so a status without one either has a transport code or was made on
/// this side from a connection error (an HTTP/2 reset while a server stops comes as
/// `Internal` with the h2 error as its source).
pub(crate) fn is_transport(s: &Status) -> bool {
    s.details().is_empty()
        && (matches!(
            s.code(),
            Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
        ) || std::error::Error::source(s).is_some())
}

pub(crate) fn endorse_error(peer: &str, s: Status) -> EndorseError {
    if is_transport(&s) {
        return EndorseError::Unreachable {
            peer: peer.into(),
            reason: s.message().to_string(),
        };
    }
    let Ok(r) = Refusal::decode(s.details()) else {
        return EndorseError::Remote {
            peer: peer.into(),
            message: s.message().to_string(),
        };
    };
    match r.kind.as_str() {
        "malformed" => EndorseError::Malformed(r.message),
        "unknown_channel" => EndorseError::UnknownChannel {
            peer: r.message,
            channel: r.channel,
        },
        "bad_tx_id" => EndorseError::BadTxId(r.tx_id),
        "skew" => EndorseError::Skew {
            tx_id: r.tx_id,
            skew_ms: r.a,
            limit_ms: r.b,
        },
        "duplicate" => EndorseError::Duplicate(r.tx_id),
        "unknown_contract" => EndorseError::UnknownContract {
            contract: r.contract,
            channel: r.channel,
            what: if r.message == "installed" {
                "installed"
            } else {
                "defined"
            },
        },
        "contract" => EndorseError::Contract {
            tx_id: r.tx_id,
            contract: r.contract,
            message: r.message,
        },
        "contract_fault" => EndorseError::ContractFault {
            tx_id: r.tx_id,
            contract: r.contract,
            message: r.message,
        },
        _ => EndorseError::Remote {
            peer: peer.into(),
            message: s.message().to_string(),
        },
    }
}

pub(crate) fn order_status(e: &OrderError) -> Status {
    let msg = e.to_string();
    let (code, r) = match e {
        OrderError::UnknownChannel(c) => (
            Code::NotFound,
            Refusal {
                channel: c.clone(),
                ..refusal("unknown_channel")
            },
        ),
        OrderError::Malformed(m) => (
            Code::InvalidArgument,
            Refusal {
                message: m.clone(),
                ..refusal("malformed")
            },
        ),
        OrderError::TooLarge { tx_id, size, limit } => (
            Code::ResourceExhausted,
            Refusal {
                tx_id: tx_id.clone(),
                a: u64::try_from(*size).unwrap_or(u64::MAX),
                b: u64::from(*limit),
                ..refusal("too_large")
            },
        ),
        OrderError::Creator { tx_id, reason } => (
            Code::PermissionDenied,
            Refusal {
                tx_id: tx_id.clone(),
                message: reason.clone(),
                ..refusal("creator")
            },
        ),
        OrderError::Skew {
            tx_id,
            skew_ms,
            limit_ms,
        } => (
            Code::FailedPrecondition,
            Refusal {
                tx_id: tx_id.clone(),
                a: *skew_ms,
                b: *limit_ms,
                ..refusal("skew")
            },
        ),
        OrderError::Config { tx_id, reason } => (
            Code::FailedPrecondition,
            Refusal {
                tx_id: tx_id.clone(),
                message: reason.clone(),
                ..refusal("config")
            },
        ),
        OrderError::Unavailable(m) | OrderError::Unreachable(m) => (
            Code::Internal,
            Refusal {
                message: m.clone(),
                ..refusal("unavailable")
            },
        ),
    };
    status(code, msg, r)
}

pub(crate) fn order_error(s: Status) -> OrderError {
    if is_transport(&s) {
        return OrderError::Unreachable(s.message().to_string());
    }
    let Ok(r) = Refusal::decode(s.details()) else {
        return OrderError::Unavailable(s.message().to_string());
    };
    match r.kind.as_str() {
        "unknown_channel" => OrderError::UnknownChannel(r.channel),
        "malformed" => OrderError::Malformed(r.message),
        "too_large" => OrderError::TooLarge {
            tx_id: r.tx_id,
            size: usize::try_from(r.a).unwrap_or(usize::MAX),
            limit: u32::try_from(r.b).unwrap_or(u32::MAX),
        },
        "creator" => OrderError::Creator {
            tx_id: r.tx_id,
            reason: r.message,
        },
        "skew" => OrderError::Skew {
            tx_id: r.tx_id,
            skew_ms: r.a,
            limit_ms: r.b,
        },
        "config" => OrderError::Config {
            tx_id: r.tx_id,
            reason: r.message,
        },
        "unavailable" => OrderError::Unavailable(r.message),
        // Not one of our refusals: what the transport said, with its code.
        _ => OrderError::Unavailable(format!("{:?}: {}", s.code(), s.message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_connection_error_is_transport_and_a_refusal_is_not() {
        // An HTTP/2 reset surfaces as `Internal` carrying its cause: retry it.
        let mut reset = Status::internal("h2 protocol error: http2 error");
        reset.set_source(Arc::new(std::io::Error::other("connection reset")));
        assert!(is_transport(&reset));
        assert!(matches!(order_error(reset), OrderError::Unreachable(_)));
        // The same code received from a server, without a cause, is its answer.
        let answered = Status::internal("boom");
        assert!(!is_transport(&answered));
        match order_error(answered) {
            OrderError::Unavailable(m) => assert_eq!(m, "Internal: boom"),
            other => panic!("{other:?}"),
        }
        // Our own refusals round-trip, whatever their code.
        let refused = order_status(&OrderError::Unavailable("ordering task stopped".into()));
        assert!(!is_transport(&refused));
        match order_error(refused) {
            OrderError::Unavailable(m) => assert_eq!(m, "ordering task stopped"),
            other => panic!("{other:?}"),
        }
    }
}
