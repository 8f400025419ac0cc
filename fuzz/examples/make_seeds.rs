//! Regenerates the checked-in fixture channel and seed corpora:
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example make_seeds
//! ```
//!
//! It lays out a fresh two-carrier network in a temporary directory, runs it, has both
//! peers endorse real transactions, and writes `fixtures/alpha.beta.block` (the channel's
//! genesis block: the CA certificates the envelope and block targets trust; no private key
//! leaves the temporary directory) and `corpus/TARGET/*`. Run it again only when the wire
//! format or the fixtures change: seeds signed under one genesis are worthless under another.

use std::path::{Path, PathBuf};

use contracts::CLEARING;
use iclear_fuzz::{fixtures, setup_calls};
use ledger::block::{header_hash, new_block};
use ledger::blockstore::BlockStore;
use ledger::channel::{config_envelope, genesis_config};
use ledger::identity::SigningIdentity;
use ledger::network::{
    self, InitOptions, Network, ORDERER_ORG, crypto_dir, load_genesis, pair_channel,
};
use ledger::proto::{Block, ContractDefinition, Envelope};
use ledger::system::config::{next_config, sign_update};
use ledger::system::lifecycle::LIFECYCLE;
use prost::Message;
use settlement::carrier::CarrierId;
use settlement::cdr::packed::{PACKED_START, push_record};
use settlement::cdr::{CdrReader, FormatSpec};

fn carrier(s: &str) -> CarrierId {
    CarrierId::parse(s).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

fn with_kind(kind: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(bytes);
    v
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = InitOptions {
        contracts: contracts::specs(),
        sync: false,
        ..InitOptions::default()
    };
    network::init(dir, &["alpha".into(), "beta".into()], &opts).unwrap();
    let channel = pair_channel("alpha", "beta");
    let genesis = load_genesis(dir, &channel).unwrap();
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    write(
        &here.join("fixtures"),
        "alpha.beta.block",
        &genesis.encode_to_vec(),
    );

    let net = Network::open(dir, contracts::installed()).await.unwrap();
    let id = |org: &str, name: &str| SigningIdentity::load(&crypto_dir(dir, org), name).unwrap();
    let mut envelopes: Vec<(String, Envelope)> = Vec::new();
    // Calls that need no earlier state (an accept needs its proposal committed first).
    let independent = [0, 2, 3];
    let setup = setup_calls();
    for (org, function, args) in independent.iter().map(|&i| setup[i].clone()) {
        let client = id(org, "client");
        let gw = net.gateway_for(client.clone()).unwrap();
        let endorsed = gw
            .endorse(&channel, CLEARING, function, args)
            .await
            .unwrap();
        envelopes.push((
            function.replace('.', "-"),
            endorsed.into_envelope(&client).unwrap(),
        ));
    }
    // A lifecycle approval by alpha's admin, endorsed by alpha's peer alone (ANY).
    let admin = id("alpha", "admin");
    let def = ContractDefinition {
        name: CLEARING.into(),
        version: "2".into(),
        endorsement_policy: "OR('alpha.peer', AND('beta.peer', 'beta.admin'))".into(),
    };
    let endorsed = net
        .gateway_for(admin.clone())
        .unwrap()
        .endorse(&channel, LIFECYCLE, "approve", vec![def.encode_to_vec()])
        .await
        .unwrap();
    envelopes.push((
        "lifecycle-approve".into(),
        endorsed.into_envelope(&admin).unwrap(),
    ));
    // A configuration update signed by both admins.
    let config = genesis_config(&genesis).unwrap();
    let next = next_config(&config, |c| {
        if let Some(o) = c.orderer.as_mut() {
            o.max_message_count = 100;
        }
    });
    let update = sign_update(&next, &[&id("alpha", "admin"), &id("beta", "admin")]).unwrap();
    // Stamped now: the certificates were issued a moment ago.
    let env = config_envelope(&update, &channel, &admin, ledger::tx::now_ms()).unwrap();
    envelopes.push(("config-update".into(), env));
    drop(net);

    for (name, env) in &envelopes {
        write(&corpus("envelope"), name, &env.encode_to_vec());
    }
    let orderer = id(ORDERER_ORG, "orderer");
    let block: Block = new_block(
        1,
        header_hash(genesis.header.as_ref().unwrap()),
        envelopes[..3]
            .iter()
            .map(|(_, e)| e.encode_to_vec())
            .collect(),
        &orderer,
    )
    .unwrap();
    write(
        &corpus("block"),
        "three-clearing-txs",
        &block.encode_to_vec(),
    );
    let config_block = new_block(
        1,
        header_hash(genesis.header.as_ref().unwrap()),
        vec![envelopes[4].1.encode_to_vec()],
        &orderer,
    )
    .unwrap();
    write(
        &corpus("block"),
        "config-update",
        &config_block.encode_to_vec(),
    );

    // proto: one seed per message kind that has a real example here.
    let (_, first) = &envelopes[0];
    let payload = ledger::proto::Payload::decode(first.payload.as_slice()).unwrap();
    let tx = ledger::proto::EndorserTransaction::decode(payload.data.as_slice()).unwrap();
    let p = corpus("proto");
    write(&p, "block", &with_kind(0, &block.encode_to_vec()));
    write(&p, "envelope", &with_kind(1, &first.encode_to_vec()));
    write(&p, "payload", &with_kind(2, &first.payload));
    write(&p, "endorser-tx", &with_kind(3, &payload.data));
    write(&p, "proposal", &with_kind(4, &tx.proposal_bytes));
    write(&p, "response-payload", &with_kind(6, &tx.response_payload));
    write(&p, "channel-config", &with_kind(9, &config.encode_to_vec()));

    // blockstore: the files of a store holding the genesis block and block 1, whole and
    // with the last record torn.
    let store_dir = tempfile::tempdir().unwrap();
    {
        let mut store = BlockStore::open(store_dir.path(), false).unwrap();
        store.append(&genesis).unwrap();
        store.append(&block).unwrap();
    }
    let idx = std::fs::read(store_dir.path().join("blocks.idx")).unwrap();
    let dat = std::fs::read(store_dir.path().join("blocks.dat")).unwrap();
    let framed = |idx: &[u8], dat: &[u8]| {
        let mut v = u16::try_from(idx.len()).unwrap().to_le_bytes().to_vec();
        v.extend_from_slice(idx);
        v.extend_from_slice(dat);
        v
    };
    let b = corpus("blockstore");
    write(&b, "two-blocks", &framed(&idx, &dat));
    write(
        &b,
        "torn-second-block",
        &framed(&idx[..16], &dat[..dat.len() - 100]),
    );
    write(&b, "length-past-2-pow-64", &framed(&[], &[0xff; 8]));

    // contract: the setup calls and the reads after them.
    let c = corpus("contract");
    let call = |who: &str, function: &str, args: &[&[u8]]| {
        let mut v = format!("{who}\0{function}").into_bytes();
        for a in args {
            v.push(0);
            v.extend_from_slice(a);
        }
        v
    };
    for (i, (org, function, args)) in setup_calls().into_iter().enumerate() {
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        write(
            &c,
            &format!("setup-{i}-{function}"),
            &call(org, function, &args),
        );
    }
    let iclear = contracts::api::ENCODING;
    // alpha's October batch packed, as ingest sends a file's records, with a record after
    // them that does not decode.
    let (alpha, beta) = (carrier("alpha"), carrier("beta"));
    let mut packed = PACKED_START.to_vec();
    let mut rows = CdrReader::new(
        fixtures::ALPHA_CDRS.as_bytes(),
        FormatSpec::Native,
        Some(alpha),
    )
    .unwrap();
    while let Some(row) = rows.next_row().unwrap() {
        if let Ok(rec) = row.outcome {
            push_record(&mut packed, &rec, alpha, beta);
        }
    }
    packed.extend_from_slice(&[3, 0xff, 0xff, 0xff]);
    write(
        &c,
        "usage-submit-packed",
        &call(
            "alpha",
            "usage.submit",
            &[iclear, br#"{"counterparty":"beta"}"#, &packed],
        ),
    );
    let october = br#"{"payer":"alpha","payee":"beta","service":"voice","from":"2026-10-01","to":"2026-11-01"}"#;
    write(
        &c,
        "statement-issue",
        &call("beta", "statement.issue", &[iclear, october]),
    );
    write(
        &c,
        "ratesheet-get",
        &call(
            "alpha",
            "ratesheet.get",
            &[iclear, br#"{"owner":"beta","service":"voice"}"#],
        ),
    );
    write(
        &c,
        "payment-balance",
        &call(
            "alpha",
            "payment.balance",
            &[iclear, br#"{"a":"alpha","b":"beta"}"#],
        ),
    );

    // Text parsers: the small fixtures and a few hand-made edges.
    let t = |target: &str, name: &str, text: &str| write(&corpus(target), name, text.as_bytes());
    t("cdr_native", "alpha", fixtures::ALPHA_CDRS);
    t(
        "cdr_native",
        "quoted",
        "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units\n\"A,1\",voice,alpha,beta,\"+49 30 1\",4930123,2026-10-01T00:00:00+02:00,60\r\n",
    );
    t("cdr_asterisk", "master", fixtures::ASTERISK);
    t("cdr_freeswitch", "master", fixtures::FREESWITCH);
    t("ratesheet", "beta", fixtures::RATESHEET);
    t(
        "ratesheet",
        "closed-rows",
        "prefix,destination,rate,effective_from,effective_to\n49,DE,0.01,2026-01-01,2026-06-01\n49,DE,0.02,2026-06-01,\n",
    );
    t("deal", "october", fixtures::DEAL);
    t("policy", "all", "ALL\0\x00\x01\x02");
    t(
        "policy",
        "nested",
        "OR(AND('alpha.admin', 'beta.admin'), OutOf(2, 'alpha.peer', 'beta.peer', 'gamma.member'))\0\x40\x40\x00\x01\x02",
    );
    t(
        "policy",
        "weighted",
        "Weighted(18446744073709551615, 'alpha.peer'=18446744073709551615, 'beta.member'=2)\0\x00\x41",
    );
    println!("seeds written under {}", here.display());
}
