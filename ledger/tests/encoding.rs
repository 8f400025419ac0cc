//! The wire encoding is stable: fixed messages encode to fixed bytes (the protobuf field
//! numbers and types of `proto/ledger.proto`), so peers of different builds agree on
//! hashes and signatures.

use ledger::proto::{
    BlockHeader, Envelope, Header, KvRead, NsRwSet, SerializedIdentity, TxType, Version,
};
use prost::Message;

#[test]
fn messages_encode_to_the_documented_bytes() {
    let v = Version {
        block_num: 1,
        tx_num: 300,
    };
    assert_eq!(hex::encode(v.encode_to_vec()), "080110ac02");
    let read = KvRead {
        key: "k".into(),
        version: Some(v),
    };
    assert_eq!(hex::encode(read.encode_to_vec()), "0a016b1205080110ac02");
    let header = BlockHeader {
        number: 2,
        previous_hash: vec![0xaa],
        data_hash: vec![0xbb, 0xcc],
        data_hash_kind: 0,
    };
    // A header of the first kind of data hash encodes as before the field existed, so the
    // hash chain of blocks written before reads the same.
    assert_eq!(hex::encode(header.encode_to_vec()), "08021201aa1a02bbcc");
    let header = BlockHeader {
        data_hash_kind: 1,
        ..header
    };
    assert_eq!(
        hex::encode(header.encode_to_vec()),
        "08021201aa1a02bbcc2001"
    );
    let h = Header {
        tx_type: TxType::Config as i32,
        channel: "c".into(),
        tx_id: "t".into(),
        creator: Some(SerializedIdentity {
            msp_id: "o".into(),
            cert_pem: vec![1],
        }),
        timestamp_ms: 5,
        format_version: 1,
    };
    // 08 01 | 12 01 "c" | 1a 01 "t" | 22 06 (0a 01 "o" 12 01 01) | 28 05 | 30 01
    assert_eq!(
        hex::encode(h.encode_to_vec()),
        "08011201631a017422060a016f12010128053001"
    );
    let env = Envelope {
        payload: vec![1, 2],
        signature: vec![3],
    };
    assert_eq!(hex::encode(env.encode_to_vec()), "0a020102120103");
    let ns = NsRwSet {
        namespace: "n".into(),
        claims: vec!["a".into(), "b".into()],
        unclaimed: vec!["c".into()],
        ..NsRwSet::default()
    };
    // 0a 01 "n" | 2a 01 "a" | 2a 01 "b" | 32 01 "c"
    assert_eq!(hex::encode(ns.encode_to_vec()), "0a016e2a01612a0162320163");
    let ns = NsRwSet {
        namespace: "n".into(),
        claim_runs: vec![ledger::proto::KeyRun {
            prefix: "A".into(),
            suffix: String::new(),
            first: 9,
            last: 300,
        }],
        ..NsRwSet::default()
    };
    // 0a 01 "n" | 3a 08 (0a 01 "A" | 18 09 | 20 ac 02)
    assert_eq!(
        hex::encode(ns.encode_to_vec()),
        "0a016e3a080a0141180920ac02"
    );
}

#[test]
fn decoding_ignores_unknown_fields_so_old_peers_read_newer_messages() {
    // Field 15 (varint 7) is unknown to this version of Version.
    let bytes = hex::decode("080110ac027807").unwrap();
    assert_eq!(
        Version::decode(bytes.as_slice()).unwrap(),
        Version {
            block_num: 1,
            tx_num: 300
        }
    );
}
