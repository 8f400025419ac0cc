//! The three messages that wrap a transaction's bytes — [`Envelope`], [`Payload`] and
//! [`EndorserTransaction`] — and the [`Proposal`] inside, decoded in place: their `bytes`
//! fields borrow from the buffer.
//!
//! prost decodes a `Vec<u8>` field by copying it twice (into a `Bytes`, then into the
//! vector), and a CDR batch's transaction is about a megabyte that every peer and the
//! orderer unwrapped several times over (BENCHMARKS.md, issue 13). A view decodes exactly
//! as prost does — the same wire rules, the last of a repeated scalar field winning, a
//! repeated message field merged, an unknown field skipped (groups and recursion limit
//! included) — by the same functions of `prost::encoding` that prost's derived code calls;
//! only the megabyte stays where it is. `tests` hold every view equal to prost's decoding,
//! error for error, over arbitrary and mutated bytes.
//!
//! `prost::encoding` is documented as prost's internals (`doc(hidden)`), yet it is what
//! `#[derive(prost::Message)]` expands to in this very crate, so the two cannot drift apart
//! within the version `Cargo.lock` pins.

use prost::DecodeError;
use prost::encoding::{
    DecodeContext, WireType, check_wire_type, decode_key, decode_varint, int64, message,
    skip_field, string, uint32,
};

use super::{
    Endorsement, EndorserTransaction, Envelope, Header, Payload, Proposal, SerializedIdentity,
};

/// A `bytes` field's value, as `prost::encoding::bytes::merge` reads it, borrowed.
fn bytes_field<'a>(
    wire_type: WireType,
    buf: &mut &'a [u8],
    ctx: DecodeContext,
) -> Result<&'a [u8], DecodeError> {
    check_wire_type(WireType::LengthDelimited, wire_type)?;
    let mut rest = *buf;
    let len = decode_varint(&mut rest)?;
    match usize::try_from(len).ok().filter(|&l| l <= rest.len()) {
        Some(len) => {
            let (value, after) = rest.split_at(len);
            *buf = after;
            Ok(value)
        }
        // A length past the end: prost's own refusal, which it makes before it copies
        // anything (its error kinds are private).
        None => {
            prost::encoding::bytes::merge(wire_type, &mut Vec::new(), buf, ctx).map(|()| &[][..])
        }
    }
}

/// Walks a message's fields as `prost::Message::merge` does, handing each key to `field`,
/// which reads the known ones; unknown ones are skipped.
fn walk<'a>(
    mut buf: &'a [u8],
    mut field: impl FnMut(
        u32,
        WireType,
        &mut &'a [u8],
        DecodeContext,
    ) -> Option<Result<(), DecodeError>>,
) -> Result<(), DecodeError> {
    let ctx = DecodeContext::default();
    while !buf.is_empty() {
        let (tag, wire_type) = decode_key(&mut buf)?;
        match field(tag, wire_type, &mut buf, ctx.clone()) {
            Some(read) => read?,
            None => skip_field(wire_type, tag, &mut buf, ctx.clone())?,
        }
    }
    Ok(())
}

/// An [`Envelope`] whose payload and signature stay in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EnvelopeView<'a> {
    /// Encoded `Payload`.
    pub payload: &'a [u8],
    /// Creator's signature over `payload`.
    pub signature: &'a [u8],
}

impl<'a> EnvelopeView<'a> {
    /// Decodes `buf` exactly as `Envelope::decode` would.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut out = Self::default();
        walk(buf, |tag, wire_type, buf, ctx| match tag {
            1 => Some(bytes_field(wire_type, buf, ctx).map(|v| out.payload = v)),
            2 => Some(bytes_field(wire_type, buf, ctx).map(|v| out.signature = v)),
            _ => None,
        })?;
        Ok(out)
    }

    /// The message, its bytes copied.
    pub fn to_message(&self) -> Envelope {
        Envelope {
            payload: self.payload.to_vec(),
            signature: self.signature.to_vec(),
        }
    }
}

/// A [`Payload`] whose data stays in the buffer; its header is decoded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PayloadView<'a> {
    /// Header.
    pub header: Option<Header>,
    /// Encoded `EndorserTransaction` or `ConfigUpdateEnvelope`, by `header.tx_type`.
    pub data: &'a [u8],
}

impl<'a> PayloadView<'a> {
    /// Decodes `buf` exactly as `Payload::decode` would.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut out = Self::default();
        walk(buf, |tag, wire_type, buf, ctx| match tag {
            1 => Some(message::merge(
                wire_type,
                out.header.get_or_insert_with(Header::default),
                buf,
                ctx,
            )),
            2 => Some(bytes_field(wire_type, buf, ctx).map(|v| out.data = v)),
            _ => None,
        })?;
        Ok(out)
    }

    /// The payload of the envelope encoded in `envelope`: the one step every reader of an
    /// ordered transaction takes first.
    pub fn of_envelope(envelope: &'a [u8]) -> Result<Self, DecodeError> {
        Self::decode(EnvelopeView::decode(envelope)?.payload)
    }

    /// The message, its bytes copied.
    pub fn to_message(&self) -> Payload {
        Payload {
            header: self.header.clone(),
            data: self.data.to_vec(),
        }
    }
}

/// An [`EndorserTransaction`] whose proposal and response stay in the buffer; its
/// endorsements are decoded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EndorserTransactionView<'a> {
    /// The exact proposal bytes the endorsers hashed.
    pub proposal_bytes: &'a [u8],
    /// Encoded `ProposalResponsePayload` all endorsers signed.
    pub response_payload: &'a [u8],
    /// Endorsements of `response_payload`.
    pub endorsements: Vec<Endorsement>,
}

impl<'a> EndorserTransactionView<'a> {
    /// Decodes `buf` exactly as `EndorserTransaction::decode` would.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut out = Self::default();
        walk(buf, |tag, wire_type, buf, ctx| match tag {
            1 => Some(bytes_field(wire_type, buf, ctx).map(|v| out.proposal_bytes = v)),
            2 => Some(bytes_field(wire_type, buf, ctx).map(|v| out.response_payload = v)),
            3 => Some(message::merge_repeated(
                wire_type,
                &mut out.endorsements,
                buf,
                ctx,
            )),
            _ => None,
        })?;
        Ok(out)
    }

    /// The message, its bytes copied.
    pub fn to_message(&self) -> EndorserTransaction {
        EndorserTransaction {
            proposal_bytes: bytes::Bytes::copy_from_slice(self.proposal_bytes),
            response_payload: bytes::Bytes::copy_from_slice(self.response_payload),
            endorsements: self.endorsements.clone(),
        }
    }
}

/// A [`Proposal`] whose arguments (a CDR batch is a megabyte) stay in the buffer; every
/// other field is decoded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProposalView<'a> {
    /// Channel the transaction is for.
    pub channel: String,
    /// Contract (and world-state namespace) to run.
    pub contract: String,
    /// Function of the contract.
    pub function: String,
    /// Arguments, opaque to the ledger.
    pub args: Vec<&'a [u8]>,
    /// The client who proposes.
    pub creator: Option<SerializedIdentity>,
    /// Random bytes making the tx id unique.
    pub nonce: &'a [u8],
    /// Client's clock, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Hex SHA-256 of nonce and serialized creator.
    pub tx_id: String,
    /// Encoding version.
    pub format_version: u32,
}

impl<'a> ProposalView<'a> {
    /// Decodes `buf` exactly as `Proposal::decode` would.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut out = Self::default();
        walk(buf, |tag, wire_type, buf, ctx| match tag {
            1 => Some(string::merge(wire_type, &mut out.channel, buf, ctx)),
            2 => Some(string::merge(wire_type, &mut out.contract, buf, ctx)),
            3 => Some(string::merge(wire_type, &mut out.function, buf, ctx)),
            // A repeated `bytes` field is never packed: each occurrence is one argument.
            4 => Some(bytes_field(wire_type, buf, ctx).map(|v| out.args.push(v))),
            5 => Some(message::merge(
                wire_type,
                out.creator.get_or_insert_with(SerializedIdentity::default),
                buf,
                ctx,
            )),
            6 => Some(bytes_field(wire_type, buf, ctx).map(|v| out.nonce = v)),
            7 => Some(int64::merge(wire_type, &mut out.timestamp_ms, buf, ctx)),
            8 => Some(string::merge(wire_type, &mut out.tx_id, buf, ctx)),
            9 => Some(uint32::merge(wire_type, &mut out.format_version, buf, ctx)),
            _ => None,
        })?;
        Ok(out)
    }

    /// The arguments, copied: what a contract is invoked with.
    pub fn args_owned(&self) -> Vec<Vec<u8>> {
        self.args.iter().map(|a| a.to_vec()).collect()
    }

    /// The message, its bytes copied.
    pub fn to_message(&self) -> Proposal {
        Proposal {
            channel: self.channel.clone(),
            contract: self.contract.clone(),
            function: self.function.clone(),
            args: self.args_owned(),
            creator: self.creator.clone(),
            nonce: self.nonce.to_vec(),
            timestamp_ms: self.timestamp_ms,
            tx_id: self.tx_id.clone(),
            format_version: self.format_version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{SerializedIdentity, TxType};
    use proptest::prelude::*;
    use prost::Message;

    fn header(tx_id: &str) -> Header {
        Header {
            tx_type: TxType::Endorser as i32,
            channel: "alpha.beta".into(),
            tx_id: tx_id.into(),
            creator: Some(SerializedIdentity {
                msp_id: "alpha".into(),
                cert_pem: b"-----BEGIN CERTIFICATE-----".to_vec(),
            }),
            timestamp_ms: 1_790_000_000_000,
            format_version: 1,
        }
    }

    /// A proposal, every field set, its arguments several.
    fn proposal() -> Proposal {
        Proposal {
            channel: "alpha.beta".into(),
            contract: "clearing".into(),
            function: "usage.submit".into(),
            args: vec![
                b"{\"reporter\":\"alpha\"}".to_vec(),
                Vec::new(),
                vec![b'x'; 200],
            ],
            creator: header("tx-1").creator,
            nonce: vec![3; 24],
            timestamp_ms: 1_790_000_000_000,
            tx_id: "tx-1".into(),
            format_version: 1,
        }
    }

    /// A valid envelope of an endorser transaction, every field set.
    fn sample() -> Vec<u8> {
        let tx = EndorserTransaction {
            proposal_bytes: proposal().encode_to_vec().into(),
            response_payload: vec![7; 300].into(),
            endorsements: vec![
                Endorsement {
                    endorser: None,
                    signature: vec![1, 2, 3],
                },
                Endorsement::default(),
            ],
        };
        let payload = Payload {
            header: Some(header("tx-1")),
            data: tx.encode_to_vec(),
        };
        Envelope {
            payload: payload.encode_to_vec(),
            signature: vec![9; 70],
        }
        .encode_to_vec()
    }

    /// Each view agrees with prost's decoding of `bytes`, error for error.
    fn agree(bytes: &[u8]) -> Result<(), TestCaseError> {
        let ours = EnvelopeView::decode(bytes).map(|v| v.to_message());
        prop_assert_eq!(ours.is_ok(), Envelope::decode(bytes).is_ok());
        if let (Ok(a), Ok(b)) = (ours, Envelope::decode(bytes)) {
            prop_assert_eq!(a, b);
        }
        let ours = PayloadView::decode(bytes).map(|v| v.to_message());
        prop_assert_eq!(ours.is_ok(), Payload::decode(bytes).is_ok());
        if let (Ok(a), Ok(b)) = (ours, Payload::decode(bytes)) {
            prop_assert_eq!(a, b);
        }
        let ours = EndorserTransactionView::decode(bytes).map(|v| v.to_message());
        prop_assert_eq!(ours.is_ok(), EndorserTransaction::decode(bytes).is_ok());
        if let (Ok(a), Ok(b)) = (ours, EndorserTransaction::decode(bytes)) {
            prop_assert_eq!(a, b);
        }
        let ours = ProposalView::decode(bytes).map(|v| v.to_message());
        prop_assert_eq!(ours.is_ok(), Proposal::decode(bytes).is_ok());
        if let (Ok(a), Ok(b)) = (ours, Proposal::decode(bytes)) {
            prop_assert_eq!(a, b);
        }
        Ok(())
    }

    #[test]
    fn a_valid_envelope_unwraps_to_what_prost_gives() {
        let bytes = sample();
        let env = EnvelopeView::decode(&bytes).expect("envelope");
        assert_eq!(
            env.to_message(),
            Envelope::decode(bytes.as_slice()).expect("prost")
        );
        let payload = PayloadView::decode(env.payload).expect("payload");
        assert_eq!(PayloadView::of_envelope(&bytes), Ok(payload.clone()));
        assert!(PayloadView::of_envelope(&bytes[..bytes.len() - 1]).is_err());
        assert_eq!(
            payload.header.as_ref().map(|h| h.tx_id.as_str()),
            Some("tx-1")
        );
        let tx = EndorserTransactionView::decode(payload.data).expect("transaction");
        assert_eq!(tx.proposal_bytes, proposal().encode_to_vec());
        let p = ProposalView::decode(tx.proposal_bytes).expect("proposal");
        assert_eq!(p.to_message(), proposal());
        assert_eq!(p.args[2], &[b'x'; 200][..]);
        assert_eq!(tx.response_payload, &[7; 300][..]);
        assert_eq!(tx.endorsements.len(), 2);
    }

    #[test]
    fn a_field_given_twice_is_read_as_prost_reads_it() {
        // The payload twice (the last wins) and the header twice (merged: the second's
        // tx id, the first's creator when the second has none).
        let first = Payload {
            header: Some(header("first")),
            data: b"one".to_vec(),
        }
        .encode_to_vec();
        let mut second_header = header("second");
        second_header.creator = None;
        let second = Payload {
            header: Some(second_header),
            data: b"two".to_vec(),
        }
        .encode_to_vec();
        let payload = [first.clone(), second].concat();
        let view = PayloadView::decode(&payload).expect("payload");
        assert_eq!(view.data, b"two");
        let header = view.header.as_ref().expect("header");
        assert_eq!(header.tx_id, "second");
        assert!(header.creator.is_some());
        assert_eq!(
            view.to_message(),
            Payload::decode(payload.as_slice()).expect("prost")
        );
        let envelope = [
            Envelope {
                payload: first,
                signature: vec![1],
            }
            .encode_to_vec(),
            Envelope {
                payload: b"later".to_vec(),
                signature: Vec::new(),
            }
            .encode_to_vec(),
        ]
        .concat();
        let view = EnvelopeView::decode(&envelope).expect("envelope");
        assert_eq!((view.payload, view.signature), (&b"later"[..], &[1][..]));
    }

    #[test]
    fn malformed_bytes_are_refused_as_prost_refuses_them() {
        for bad in [
            &[0x0a, 0x05, 1, 2][..], // a length past the end
            &[0x08, 0x01],           // the payload as a varint
            &[0x00],                 // tag 0
            &[0x0b, 0x0c],           // a group with no end
            &[0x0c],                 // an end of group alone
            &[
                0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ], // a huge length
        ] {
            assert!(EnvelopeView::decode(bad).is_err(), "{bad:?}");
            assert!(Envelope::decode(bad).is_err(), "{bad:?}");
        }
        // Deeply nested groups in an unknown field: prost's recursion limit, both ways.
        let deep = |n: usize| [vec![0x1b; n], vec![0x1c; n]].concat();
        for n in [99, 100, 101] {
            agree(&deep(n)).expect("agree");
        }
    }

    proptest! {
        #[test]
        fn any_bytes_decode_as_prost_decodes_them(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            agree(&bytes)?;
        }

        #[test]
        fn a_mutated_envelope_decodes_as_prost_decodes_it(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = sample();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            agree(&bytes)?;
            let payload = Envelope::decode(bytes.as_slice()).map(|e| e.payload).unwrap_or_default();
            agree(&payload)?;
            agree(&bytes[..cut.index(bytes.len())])?;
        }

        #[test]
        fn a_mutated_proposal_decodes_as_prost_decodes_it(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = proposal().encode_to_vec();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            agree(&bytes)?;
            agree(&bytes[..cut.index(bytes.len())])?;
        }
    }
}
