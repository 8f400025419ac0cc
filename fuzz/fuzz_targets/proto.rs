//! Decoding of every ledger wire message (`ledger::proto`, and what orderer nodes write
//! into a Kafka topic): the first byte picks the
//! message, the rest is its encoding. What decodes must encode and decode back to itself,
//! and the borrowing views of `ledger::proto::view` must decode exactly what prost does.
#![no_main]

use ledger::proto::view::{EndorserTransactionView, EnvelopeView, PayloadView, ProposalView};
use ledger::proto::*;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(m) = M::decode(bytes) {
        let again = M::decode(m.encode_to_vec().as_slice()).expect("an encoding decodes");
        assert_eq!(again, m);
    }
}

/// A view's decoding, owned, against prost's: both refuse, or both give the same message.
fn agree<M: Message + Default + PartialEq + std::fmt::Debug>(bytes: &[u8], view: Option<M>) {
    assert_eq!(view, M::decode(bytes).ok());
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    match kind % 17 {
        0 => round_trip::<Block>(bytes),
        1 => {
            round_trip::<Envelope>(bytes);
            agree(
                bytes,
                EnvelopeView::decode(bytes).ok().map(|v| v.to_message()),
            );
        }
        2 => {
            round_trip::<Payload>(bytes);
            agree(
                bytes,
                PayloadView::decode(bytes).ok().map(|v| v.to_message()),
            );
        }
        3 => {
            round_trip::<EndorserTransaction>(bytes);
            agree(
                bytes,
                EndorserTransactionView::decode(bytes)
                    .ok()
                    .map(|v| v.to_message()),
            );
        }
        4 => {
            round_trip::<Proposal>(bytes);
            agree(
                bytes,
                ProposalView::decode(bytes).ok().map(|v| v.to_message()),
            );
        }
        5 => round_trip::<SignedProposal>(bytes),
        6 => round_trip::<ProposalResponsePayload>(bytes),
        7 => round_trip::<ProposalResponse>(bytes),
        8 => round_trip::<TxRwSet>(bytes),
        9 => round_trip::<ChannelConfig>(bytes),
        10 => round_trip::<ConfigUpdateEnvelope>(bytes),
        11 => round_trip::<ContractDefinition>(bytes),
        12 => round_trip::<BlockMetadata>(bytes),
        13 => round_trip::<Endorsement>(bytes),
        14 => round_trip::<Header>(bytes),
        15 => round_trip::<SerializedIdentity>(bytes),
        _ => round_trip::<KafkaMessage>(bytes),
    }
});
