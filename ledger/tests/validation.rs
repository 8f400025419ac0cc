//! One crafted transaction per validation code, committed to two peers' ledgers without
//! the gateway's or orderer's own checks in the way, so only `validate` judges.

mod common;

use std::sync::Arc;

use ledger::block::{DataHashKind, data_hash_of, header_hash, new_block};
use ledger::channel::config_envelope;
use ledger::identity::{CertificateAuthority, Role, SigningIdentity};
use ledger::ledger::ChannelLedger;
use ledger::network::{CONSORTIUM_CHANNEL, ORDERER_ORG, crypto_dir, load_genesis, peer_dir};
use ledger::peer::Peer;
use ledger::proto::{
    ContractDefinition, EndorserTransaction, Envelope, OrgConfig, Payload, Proposal,
    ProposalResponse, ProposalResponsePayload,
};
use ledger::sample::KV;
use ledger::state::{SqliteState, WorldState};
use ledger::system::config::{next_config, sign_update};
use ledger::system::lifecycle::LIFECYCLE;
use ledger::tx::{Endorsed, Proposed, now_ms};
use ledger::validate::{ValidationCode, block_update};
use prost::Message;

const CH: &str = CONSORTIUM_CHANNEL;

struct Fixture {
    dir: tempfile::TempDir,
    alpha: Arc<Peer>,
    beta: Arc<Peer>,
    orderer: SigningIdentity,
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    common::init(
        dir.path(),
        &["alpha", "beta"],
        "AND('alpha.peer', 'beta.peer')",
    );
    let genesis = load_genesis(dir.path(), CH).unwrap();
    let mut peers = Vec::new();
    for org in ["alpha", "beta"] {
        let id = SigningIdentity::load(&crypto_dir(dir.path(), org), "peer").unwrap();
        let peer = Arc::new(Peer::new(id, common::contracts()));
        let state = Arc::new(SqliteState::in_memory().await.unwrap());
        peer.join(&peer_dir(dir.path(), org, CH), &genesis, state, false)
            .await
            .unwrap();
        peers.push(peer);
    }
    let orderer = SigningIdentity::load(&crypto_dir(dir.path(), ORDERER_ORG), "orderer").unwrap();
    let beta = peers.pop().unwrap();
    let alpha = peers.pop().unwrap();
    Fixture {
        dir,
        alpha,
        beta,
        orderer,
    }
}

/// Validation commits the update it built from the read-write sets it decoded; the blocks
/// it stored, replayed through `block_update` (as recovery and `ledger verify` do), must
/// give the very same state: entries, versions and claims.
async fn assert_replays(ledger: &ChannelLedger) {
    let replay = SqliteState::in_memory().await.unwrap();
    for n in 0..ledger.height() {
        let block = ledger.block(n).unwrap();
        replay.commit(&block_update(&block)).await.unwrap();
    }
    let state = ledger.state();
    assert_eq!(
        state.entries().await.unwrap(),
        replay.entries().await.unwrap()
    );
    assert_eq!(
        state.claims().await.unwrap(),
        replay.claims().await.unwrap()
    );
}

impl Fixture {
    fn ledger(&self, peer: &Peer) -> Arc<ChannelLedger> {
        peer.ledger(CH).unwrap()
    }

    fn id(&self, org: &str, name: &str) -> SigningIdentity {
        SigningIdentity::load(&crypto_dir(self.dir.path(), org), name).unwrap()
    }

    /// Orders `envelopes` into the next block and commits it on both peers, which must agree.
    async fn commit(&self, envelopes: Vec<Vec<u8>>) -> Vec<ValidationCode> {
        let la = self.ledger(&self.alpha);
        let n = la.height();
        let prev = header_hash(la.block(n - 1).unwrap().header.as_ref().unwrap());
        let block = new_block(n, prev, envelopes, &self.orderer).unwrap();
        let a = la.commit(block.clone()).await.unwrap();
        let bt = self.ledger(&self.beta).commit(block).await.unwrap();
        let codes: Vec<ValidationCode> = a.txs.iter().map(|t| t.code).collect();
        assert_eq!(
            codes,
            bt.txs.iter().map(|t| t.code).collect::<Vec<_>>(),
            "peers disagree"
        );
        for peer in [&self.alpha, &self.beta] {
            assert_replays(&self.ledger(peer)).await;
        }
        codes
    }

    /// Block `n`'s header made again with data hash `kind` (by its code) and signed by the
    /// orderer, as an orderer writing that kind would have.
    fn next_block_of_kind(&self, envelopes: Vec<Vec<u8>>, kind: u32) -> ledger::proto::Block {
        let la = self.ledger(&self.alpha);
        let n = la.height();
        let prev = header_hash(la.block(n - 1).unwrap().header.as_ref().unwrap());
        let mut block = new_block(n, prev, envelopes, &self.orderer).unwrap();
        let data = block.data.as_ref().unwrap();
        let header = block.header.as_mut().unwrap();
        header.data_hash_kind = kind;
        if let Some(k) = DataHashKind::of(kind) {
            header.data_hash = data_hash_of(data, k, None);
        }
        let signature = self.orderer.endorse(&header.encode_to_vec()).unwrap();
        block.metadata.as_mut().unwrap().orderer_signature = Some(signature);
        block
    }

    async fn proposal(
        &self,
        creator: &SigningIdentity,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Proposed {
        Proposed::new(creator, CH, KV, function, args, now_ms()).unwrap()
    }

    async fn responses(&self, p: &Proposed, peers: &[&Peer]) -> Vec<ProposalResponse> {
        let mut out = Vec::new();
        for peer in peers {
            out.push(peer.endorse(p.signed()).await.unwrap());
        }
        out
    }

    /// A correctly endorsed and signed envelope of `kv.function(args)` by alpha's client.
    async fn envelope(&self, function: &str, args: Vec<Vec<u8>>) -> Envelope {
        let client = self.id("alpha", "client");
        self.envelope_as(&client, KV, function, args).await
    }

    async fn envelope_as(
        &self,
        creator: &SigningIdentity,
        contract: &str,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Envelope {
        let p = Proposed::new(creator, CH, contract, function, args, now_ms()).unwrap();
        let r = self.responses(&p, &[&self.alpha, &self.beta]).await;
        Endorsed::collect(p, r)
            .unwrap()
            .into_envelope(creator)
            .unwrap()
    }

    /// Commits `org`'s admin's `_lifecycle` approval of `def`, endorsed by both peers.
    async fn approve_as(&self, org: &str, def: &ContractDefinition) -> ValidationCode {
        let env = self
            .envelope_as(
                &self.id(org, "admin"),
                LIFECYCLE,
                "approve",
                vec![def.encode_to_vec()],
            )
            .await;
        let codes = self.commit(vec![env.encode_to_vec()]).await;
        assert_eq!(codes.len(), 1, "one transaction, one code");
        codes[0]
    }

    /// An envelope of `kv.put(key, 1)` endorsed by alpha's peer only.
    async fn alpha_only(&self, key: &str) -> Vec<u8> {
        let client = self.id("alpha", "client");
        let p = Proposed::new(&client, CH, KV, "put", vec![b(key), b("1")], now_ms()).unwrap();
        let r = self.alpha.endorse(p.signed()).await.unwrap();
        Endorsed::collect(p, vec![r])
            .unwrap()
            .into_envelope(&client)
            .unwrap()
            .encode_to_vec()
    }

    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.ledger(&self.alpha)
            .state()
            .get(KV, key)
            .await
            .unwrap()
            .map(|v| v.value)
    }
}

fn resign(env: &Envelope, signer: &SigningIdentity) -> Envelope {
    Envelope {
        payload: env.payload.clone(),
        signature: signer.sign(&env.payload).unwrap(),
    }
}

fn edit_tx(
    env: &Envelope,
    signer: &SigningIdentity,
    f: impl FnOnce(&mut EndorserTransaction),
) -> Envelope {
    let mut payload = Payload::decode(env.payload.as_slice()).unwrap();
    let mut tx = EndorserTransaction::decode(payload.data.as_slice()).unwrap();
    f(&mut tx);
    payload.data = tx.encode_to_vec();
    let payload = payload.encode_to_vec();
    Envelope {
        signature: signer.sign(&payload).unwrap(),
        payload,
    }
}

#[tokio::test]
async fn valid_transaction_is_applied() {
    let f = fixture().await;
    let env = f.envelope("put", vec![b("k"), b("v")]).await;
    assert_eq!(
        f.commit(vec![env.encode_to_vec()]).await,
        vec![ValidationCode::Valid]
    );
    assert_eq!(f.get("k").await, Some(b("v")));
}

/// Blocks written before the second kind of data hash (`data_hash_kind` 0) still commit;
/// a kind this ledger does not know, or a signed kind changed, is refused before anything is
/// committed.
#[tokio::test]
async fn a_block_of_either_kind_of_data_hash_commits_and_no_other() {
    let f = fixture().await;
    let env = f.envelope("put", vec![b("k"), b("v")]).await;
    let old = f.next_block_of_kind(vec![env.encode_to_vec()], 0);
    let (la, lb) = (f.ledger(&f.alpha), f.ledger(&f.beta));
    for l in [&la, &lb] {
        let done = l.commit(old.clone()).await.unwrap();
        assert_eq!(done.txs[0].code, ValidationCode::Valid);
        assert_replays(l).await;
    }
    assert_eq!(f.get("k").await, Some(b("v")));
    let env = f.envelope("put", vec![b("k2"), b("v")]).await;
    let unknown = f.next_block_of_kind(vec![env.encode_to_vec()], 2);
    let err = la.commit(unknown).await.unwrap_err().to_string();
    assert!(err.contains("unknown kind 2 of data hash"), "{err}");
    let mut changed = new_block(
        la.height(),
        header_hash(old.header.as_ref().unwrap()),
        vec![env.encode_to_vec()],
        &f.orderer,
    )
    .unwrap();
    assert_eq!(changed.header.as_ref().unwrap().data_hash_kind, 1);
    changed.header.as_mut().unwrap().data_hash_kind = 0;
    assert!(la.commit(changed).await.is_err());
    assert_eq!(f.get("k2").await, None);
    assert_eq!(la.height(), old.header.as_ref().unwrap().number + 1);
}

/// An envelope whose payload is not where the data hash's split finds it (its signature
/// first, or its payload field twice, the last one counting as prost decodes it) is judged
/// on the payload it decodes to, not on the split's.
#[tokio::test]
async fn an_envelope_is_judged_on_the_payload_it_decodes_to() {
    let f = fixture().await;
    let env = f.envelope("put", vec![b("k"), b("v")]).await;
    let mut signature_first = Envelope {
        payload: Vec::new(),
        signature: env.signature.clone(),
    }
    .encode_to_vec();
    signature_first.extend(
        Envelope {
            payload: env.payload.clone(),
            signature: Vec::new(),
        }
        .encode_to_vec(),
    );
    let other = f.envelope("put", vec![b("k2"), b("v2")]).await;
    let mut payload_twice = Envelope {
        payload: b"a decoy payload".to_vec(),
        signature: Vec::new(),
    }
    .encode_to_vec();
    payload_twice.extend(other.encode_to_vec());
    assert_eq!(Envelope::decode(payload_twice.as_slice()).unwrap(), other);
    let codes = f.commit(vec![signature_first, payload_twice]).await;
    assert_eq!(codes, vec![ValidationCode::Valid, ValidationCode::Valid]);
    assert_eq!(f.get("k").await, Some(b("v")));
    assert_eq!(f.get("k2").await, Some(b("v2")));
}

#[tokio::test]
async fn malformed_payload_is_bad_payload() {
    let f = fixture().await;
    let client = f.id("alpha", "client");
    let garbage = vec![0xff, 0xff, 0xff];
    let signed_garbage = Envelope {
        signature: client.sign(&garbage).unwrap(),
        payload: garbage.clone(),
    };
    let codes = f
        .commit(vec![garbage, signed_garbage.encode_to_vec()])
        .await;
    assert_eq!(
        codes,
        vec![ValidationCode::BadPayload, ValidationCode::BadPayload]
    );
}

#[tokio::test]
async fn forged_creator_signature_is_refused_and_changes_nothing() {
    let f = fixture().await;
    let mut env = f.envelope("put", vec![b("k"), b("v")]).await;
    let last = env.signature.len() - 1;
    env.signature[last] ^= 1;
    // Re-signing by someone else than the creator is a forgery too.
    let other = resign(
        &f.envelope("put", vec![b("k2"), b("v")]).await,
        &f.id("beta", "client"),
    );
    let codes = f
        .commit(vec![env.encode_to_vec(), other.encode_to_vec()])
        .await;
    assert_eq!(
        codes,
        vec![
            ValidationCode::BadCreatorSignature,
            ValidationCode::BadCreatorSignature
        ]
    );
    assert_eq!(f.get("k").await, None);
    assert_eq!(f.get("k2").await, None);
}

#[tokio::test]
async fn non_member_certificate_is_refused() {
    let f = fixture().await;
    // An outsider CA claiming to be alpha, and an outsider organisation.
    let fake_alpha = CertificateAuthority::new("alpha", 10)
        .unwrap()
        .issue("client.alpha", Role::Client, 10)
        .unwrap();
    let mallory = CertificateAuthority::new("mallory", 10)
        .unwrap()
        .issue("m", Role::Client, 10)
        .unwrap();
    let env = f.envelope("put", vec![b("k"), b("v")]).await;
    let mut codes = Vec::new();
    for outsider in [&fake_alpha, &mallory] {
        let mut payload = Payload::decode(env.payload.as_slice()).unwrap();
        payload.header.as_mut().unwrap().creator = Some(outsider.serialized().clone());
        let payload = payload.encode_to_vec();
        codes.push(
            Envelope {
                signature: outsider.sign(&payload).unwrap(),
                payload,
            }
            .encode_to_vec(),
        );
    }
    assert_eq!(
        f.commit(codes).await,
        vec![ValidationCode::BadCreatorSignature; 2]
    );
    // Peers refuse to endorse for outsiders in the first place.
    let p = f.proposal(&mallory, "put", vec![b("k"), b("v")]).await;
    assert!(f.alpha.endorse(p.signed()).await.is_err());
}

#[tokio::test]
async fn replayed_tx_id_is_duplicate_in_a_later_block_and_in_the_same_block() {
    let f = fixture().await;
    let env = f
        .envelope("put", vec![b("k"), b("v")])
        .await
        .encode_to_vec();
    assert_eq!(
        f.commit(vec![env.clone()]).await,
        vec![ValidationCode::Valid]
    );
    assert_eq!(
        f.commit(vec![env]).await,
        vec![ValidationCode::DuplicateTxid]
    );
    let twice = f
        .envelope("put", vec![b("k3"), b("v")])
        .await
        .encode_to_vec();
    assert_eq!(
        f.commit(vec![twice.clone(), twice]).await,
        vec![ValidationCode::Valid, ValidationCode::DuplicateTxid]
    );
}

#[tokio::test]
async fn missing_or_forged_endorsement_fails_the_policy() {
    let f = fixture().await;
    let client = f.id("alpha", "client");
    let p = f.proposal(&client, "put", vec![b("k"), b("v")]).await;
    let only_alpha = f.responses(&p, &[&f.alpha]).await;
    let env = Endorsed::collect(p, only_alpha)
        .unwrap()
        .into_envelope(&client)
        .unwrap();
    let good = f.envelope("put", vec![b("k2"), b("v")]).await;
    let forged = edit_tx(&good, &client, |tx| {
        let s = &mut tx.endorsements[1].signature;
        let last = s.len() - 1;
        s[last] ^= 1;
    });
    // Two endorsements by the same organisation do not make up for the other one.
    let good2 = f.envelope("put", vec![b("k3"), b("v")]).await;
    let doubled = edit_tx(&good2, &client, |tx| {
        let first = tx.endorsements[0].clone();
        tx.endorsements = vec![first.clone(), first];
    });
    let codes = f
        .commit(vec![
            env.encode_to_vec(),
            forged.encode_to_vec(),
            doubled.encode_to_vec(),
        ])
        .await;
    assert_eq!(codes, vec![ValidationCode::EndorsementPolicyFailure; 3]);
    assert_eq!(f.get("k").await, None);
}

/// A committing peer takes an endorsement of its own on trust only over the very result it
/// signed: its signature moved onto another result is verified like anyone's, and fails on
/// both peers alike.
#[tokio::test]
async fn a_peer_s_own_signature_moved_onto_another_result_is_not_trusted() {
    let f = fixture().await;
    let client = f.id("alpha", "client");
    let endorsed_by_both = f.envelope("put", vec![b("k1"), b("v")]).await;
    let tx = EndorserTransaction::decode(
        Payload::decode(endorsed_by_both.payload.as_slice())
            .unwrap()
            .data
            .as_slice(),
    )
    .unwrap();
    let alphas = tx
        .endorsements
        .iter()
        .find(|e| e.endorser.as_ref().is_some_and(|id| id.msp_id == "alpha"))
        .unwrap()
        .clone();
    let p = f.proposal(&client, "put", vec![b("k2"), b("v")]).await;
    let only_beta = f.responses(&p, &[&f.beta]).await;
    let env = Endorsed::collect(p, only_beta)
        .unwrap()
        .into_envelope(&client)
        .unwrap();
    let moved = edit_tx(&env, &client, |tx| tx.endorsements.push(alphas));
    assert_eq!(
        f.commit(vec![
            moved.encode_to_vec(),
            endorsed_by_both.encode_to_vec()
        ])
        .await,
        vec![
            ValidationCode::EndorsementPolicyFailure,
            ValidationCode::Valid
        ]
    );
    assert_eq!(f.get("k2").await, None);
    assert_eq!(f.get("k1").await, Some(b("v")));
}

/// Each endorsing peer keeps the bytes it endorsed with their hashes, and validation takes
/// those hashes only for the very same bytes: a result or a proposal changed after
/// endorsement, under the same transaction id, is judged on its own bytes.
#[tokio::test]
async fn bytes_changed_after_endorsement_are_judged_on_their_own() {
    let f = fixture().await;
    let client = f.id("alpha", "client");
    let env = f.envelope("put", vec![b("k1"), b("v")]).await;
    let result_changed = edit_tx(&env, &client, |tx| {
        let mut r = ProposalResponsePayload::decode(tx.response_payload.as_ref()).unwrap();
        let write = &mut r.results.as_mut().unwrap().ns_rwsets[0].writes[0];
        write.value = b("w");
        tx.response_payload = r.encode_to_vec().into();
    });
    let env2 = f.envelope("put", vec![b("k2"), b("v")]).await;
    let proposal_changed = edit_tx(&env2, &client, |tx| {
        let mut p = Proposal::decode(tx.proposal_bytes.as_ref()).unwrap();
        p.args[1] = b("w");
        tx.proposal_bytes = p.encode_to_vec().into();
    });
    assert_eq!(
        f.commit(vec![
            result_changed.encode_to_vec(),
            proposal_changed.encode_to_vec()
        ])
        .await,
        vec![
            ValidationCode::EndorsementPolicyFailure,
            ValidationCode::InvalidEndorserTransaction
        ]
    );
    assert_eq!(f.get("k1").await, None);
    assert_eq!(f.get("k2").await, None);
}

#[tokio::test]
async fn endorsement_of_another_proposal_is_an_invalid_endorser_transaction() {
    let f = fixture().await;
    let client = f.id("alpha", "client");
    let a = f.envelope("put", vec![b("a"), b("1")]).await;
    let other = f.envelope("put", vec![b("b"), b("2")]).await;
    let other_tx = EndorserTransaction::decode(
        Payload::decode(other.payload.as_slice())
            .unwrap()
            .data
            .as_slice(),
    )
    .unwrap();
    let swapped = edit_tx(&a, &client, |tx| {
        tx.response_payload = other_tx.response_payload.clone();
        tx.endorsements = other_tx.endorsements.clone();
    });
    assert_eq!(
        f.commit(vec![swapped.encode_to_vec()]).await,
        vec![ValidationCode::InvalidEndorserTransaction]
    );
}

#[tokio::test]
async fn a_tx_id_not_derived_from_nonce_and_creator_is_refused() {
    let f = fixture().await;
    let client = f.id("alpha", "client");
    let env = f.envelope("put", vec![b("a"), b("1")]).await;
    let mut payload = Payload::decode(env.payload.as_slice()).unwrap();
    let mut tx = EndorserTransaction::decode(payload.data.as_slice()).unwrap();
    let mut proposal = ledger::proto::Proposal::decode(tx.proposal_bytes.as_ref()).unwrap();
    proposal.tx_id = "00".repeat(32);
    tx.proposal_bytes = proposal.encode_to_vec().into();
    payload.header.as_mut().unwrap().tx_id = proposal.tx_id.clone();
    payload.data = tx.encode_to_vec();
    let payload = payload.encode_to_vec();
    let env = Envelope {
        signature: client.sign(&payload).unwrap(),
        payload,
    };
    assert_eq!(
        f.commit(vec![env.encode_to_vec()]).await,
        vec![ValidationCode::BadProposalTxid]
    );
}

#[tokio::test]
async fn stale_read_is_an_mvcc_conflict() {
    let f = fixture().await;
    // Both read the counter at the same version; the first to commit wins.
    let one = f.envelope("incr", vec![b("n")]).await.encode_to_vec();
    let two = f.envelope("incr", vec![b("n")]).await.encode_to_vec();
    assert_eq!(f.commit(vec![one]).await, vec![ValidationCode::Valid]);
    assert_eq!(
        f.commit(vec![two]).await,
        vec![ValidationCode::MvccReadConflict]
    );
    // Within one block the earlier valid write makes the later read stale too.
    let three = f.envelope("incr", vec![b("n")]).await.encode_to_vec();
    let four = f.envelope("incr", vec![b("n")]).await.encode_to_vec();
    assert_eq!(
        f.commit(vec![three, four]).await,
        vec![ValidationCode::Valid, ValidationCode::MvccReadConflict]
    );
    assert_eq!(f.get("n").await, Some(b("2")));
}

#[tokio::test]
async fn a_key_is_claimed_once_across_blocks_and_within_one() {
    let f = fixture().await;
    // Both endorsed while `x` was unclaimed; the first to commit claims it.
    let one = f
        .envelope("claim", vec![b("x"), b("y")])
        .await
        .encode_to_vec();
    let two = f.envelope("claim", vec![b("x")]).await.encode_to_vec();
    assert_eq!(f.commit(vec![one]).await, vec![ValidationCode::Valid]);
    assert_eq!(
        f.commit(vec![two]).await,
        vec![ValidationCode::MvccReadConflict]
    );
    // Within one block the earlier valid claim wins, and a later claim of another key
    // still commits.
    let three = f.envelope("claim", vec![b("z")]).await.encode_to_vec();
    let four = f
        .envelope("claim", vec![b("z"), b("w")])
        .await
        .encode_to_vec();
    let five = f.envelope("claim", vec![b("w")]).await.encode_to_vec();
    assert_eq!(
        f.commit(vec![three, four, five]).await,
        vec![
            ValidationCode::Valid,
            ValidationCode::MvccReadConflict,
            ValidationCode::Valid
        ]
    );
    // A transaction that claims nothing between two that claim the same key changes
    // nothing; nor does one after the block's last claim.
    let claim_v = || f.envelope("claim", vec![b("v")]);
    let (six, seven) = (
        claim_v().await,
        f.envelope("put", vec![b("p"), b("1")]).await,
    );
    let (eight, nine) = (
        claim_v().await,
        f.envelope("put", vec![b("q"), b("1")]).await,
    );
    assert_eq!(
        f.commit(vec![
            six.encode_to_vec(),
            seven.encode_to_vec(),
            eight.encode_to_vec(),
            nine.encode_to_vec()
        ])
        .await,
        vec![
            ValidationCode::Valid,
            ValidationCode::Valid,
            ValidationCode::MvccReadConflict,
            ValidationCode::Valid
        ]
    );
    // Both peers keep the claims, and a simulation sees them.
    for peer in [&f.alpha, &f.beta] {
        let p = f
            .proposal(&f.id("alpha", "client"), "claim", vec![b("w")])
            .await;
        let refused = peer.endorse(p.signed()).await;
        assert!(
            refused.is_err_and(|e| e.to_string().contains("key `w` is claimed")),
            "a claimed key was claimed again"
        );
    }
}

#[tokio::test]
async fn a_key_relied_on_as_unclaimed_conflicts_once_claimed() {
    let f = fixture().await;
    let relies = f
        .envelope("unless_claimed", vec![b("k"), b("out"), b("1")])
        .await
        .encode_to_vec();
    let claim = f.envelope("claim", vec![b("k")]).await.encode_to_vec();
    assert_eq!(f.commit(vec![claim]).await, vec![ValidationCode::Valid]);
    assert_eq!(
        f.commit(vec![relies]).await,
        vec![ValidationCode::MvccReadConflict]
    );
    let relies = f
        .envelope("unless_claimed", vec![b("j"), b("out"), b("2")])
        .await
        .encode_to_vec();
    let claim = f.envelope("claim", vec![b("j")]).await.encode_to_vec();
    assert_eq!(
        f.commit(vec![claim, relies]).await,
        vec![ValidationCode::Valid, ValidationCode::MvccReadConflict]
    );
    assert_eq!(f.get("out").await, None);
    // Unclaimed at commit, it holds.
    let relies = f
        .envelope("unless_claimed", vec![b("i"), b("out"), b("3")])
        .await
        .encode_to_vec();
    assert_eq!(f.commit(vec![relies]).await, vec![ValidationCode::Valid]);
    assert_eq!(f.get("out").await, Some(b("3")));
}

#[tokio::test]
async fn claims_repeated_or_out_of_order_are_an_illegal_writeset() {
    let f = fixture().await;
    let alpha_client = f.id("alpha", "client");
    let edits: [fn(&mut ledger::proto::NsRwSet); 4] = [
        |ns| ns.claims = vec!["a".into(), "a".into()],
        |ns| ns.claims = vec!["b".into(), "a".into()],
        |ns| ns.unclaimed = vec!["b".into(), "a".into()],
        |ns| ns.claims = vec!["a".into()],
    ];
    let mut codes = Vec::new();
    for edit in edits {
        let env = f.envelope("claim", vec![b("a")]).await;
        let env = edit_tx(&env, &alpha_client, |tx| {
            let mut r =
                ledger::proto::ProposalResponsePayload::decode(tx.response_payload.as_ref())
                    .unwrap();
            let rwset = r.results.as_mut().unwrap();
            edit(&mut rwset.ns_rwsets[0]);
            // The same claims a second time under the same namespace, for the last edit.
            if rwset.ns_rwsets[0].claims == ["a"] {
                let again = rwset.ns_rwsets[0].clone();
                rwset.ns_rwsets.push(again);
            }
            tx.response_payload = r.encode_to_vec().into();
        });
        codes.extend(f.commit(vec![env.encode_to_vec()]).await);
    }
    assert_eq!(codes, vec![ValidationCode::IllegalWriteset; 4]);
    // Nothing was claimed: `a` can still be.
    let env = f.envelope("claim", vec![b("a")]).await.encode_to_vec();
    assert_eq!(f.commit(vec![env]).await, vec![ValidationCode::Valid]);
}

/// Numbered keys a transaction claims travel as runs (`NsRwSet::claim_runs`) and are
/// claimed once all the same: against earlier blocks' runs and keys, within a block, and
/// against keys relied on as unclaimed; and both peers keep them.
#[tokio::test]
async fn claims_carried_as_runs_are_made_once_across_blocks_and_within_one() {
    let f = fixture().await;
    let claim = |ids: &[&str]| f.envelope("claim", ids.iter().map(|id| b(id)).collect());
    let one = claim(&["n10", "n11", "n12", "x"]).await;
    let carried = edit_tx(&one, &f.id("alpha", "client"), |tx| {
        let r =
            ledger::proto::ProposalResponsePayload::decode(tx.response_payload.as_ref()).unwrap();
        let ns = &r.results.unwrap().ns_rwsets[0];
        assert_eq!(ns.claims, vec!["x"]);
        assert_eq!(
            ns.claim_runs,
            vec![ledger::proto::KeyRun {
                prefix: "n".into(),
                suffix: String::new(),
                first: 10,
                last: 12,
            }]
        );
    });
    drop(carried);
    // All endorsed while nothing was claimed.
    let two = claim(&["n12", "n13"]).await.encode_to_vec();
    let three = claim(&["n8", "n9", "x"]).await.encode_to_vec();
    let four = claim(&["n9", "n10"]).await.encode_to_vec();
    let relies = f
        .envelope("unless_claimed", vec![b("n11"), b("out"), b("1")])
        .await
        .encode_to_vec();
    assert_eq!(
        f.commit(vec![one.encode_to_vec()]).await,
        vec![ValidationCode::Valid]
    );
    assert_eq!(
        f.commit(vec![two, three, four]).await,
        vec![ValidationCode::MvccReadConflict; 3]
    );
    let five = claim(&["n20", "n21"]).await.encode_to_vec();
    let six = claim(&["n21", "n22"]).await.encode_to_vec();
    let seven = claim(&["n22"]).await.encode_to_vec();
    let eight = claim(&["n30", "n31"]).await.encode_to_vec();
    assert_eq!(
        f.commit(vec![five, six, seven, eight]).await,
        vec![
            ValidationCode::Valid,
            ValidationCode::MvccReadConflict,
            ValidationCode::Valid,
            ValidationCode::Valid
        ]
    );
    assert_eq!(
        f.commit(vec![relies]).await,
        vec![ValidationCode::MvccReadConflict]
    );
    for peer in [&f.alpha, &f.beta] {
        let p = f
            .proposal(&f.id("alpha", "client"), "claim", vec![b("n31")])
            .await;
        let refused = peer.endorse(p.signed()).await;
        assert!(
            refused.is_err_and(|e| e.to_string().contains("key `n31` is claimed")),
            "a key claimed in a run was claimed again"
        );
    }
}

/// Runs not in the form a peer makes are refused before any key is looked at: runs that
/// overlap or touch, hold a key of the listed claims, are empty or backwards, do not split
/// back into their own prefix and suffix, or claim more keys than a transaction could
/// carry.
#[tokio::test]
async fn claim_runs_not_in_a_peers_form_are_an_illegal_writeset() {
    use ledger::proto::KeyRun;
    let f = fixture().await;
    let alpha_client = f.id("alpha", "client");
    let run = |prefix: &str, first: u64, last: u64| KeyRun {
        prefix: prefix.into(),
        suffix: String::new(),
        first,
        last,
    };
    let edits: Vec<(Vec<KeyRun>, Vec<String>)> = vec![
        (vec![run("n", 1, 5), run("n", 5, 9)], vec![]),
        (vec![run("n", 1, 5), run("n", 6, 9)], vec![]),
        (vec![run("n", 1, 5)], vec!["n3".into()]),
        (vec![run("n", 5, 5)], vec![]),
        (vec![run("n", 6, 5)], vec![]),
        (vec![run("n1", 1, 5)], vec![]),
        (vec![run("n", 1, 1_000_000_000_000_000_000)], vec![]),
        (vec![run("n", 1, 1 << 23)], vec![]),
    ];
    let mut codes = Vec::new();
    for (runs, claims) in edits {
        let env = f.envelope("claim", vec![b("n1"), b("n2")]).await;
        let env = edit_tx(&env, &alpha_client, |tx| {
            let mut r =
                ledger::proto::ProposalResponsePayload::decode(tx.response_payload.as_ref())
                    .unwrap();
            let ns = &mut r.results.as_mut().unwrap().ns_rwsets[0];
            ns.claim_runs = runs.clone();
            ns.claims = claims.clone();
            tx.response_payload = r.encode_to_vec().into();
        });
        codes.extend(f.commit(vec![env.encode_to_vec()]).await);
    }
    assert_eq!(codes, vec![ValidationCode::IllegalWriteset; 8]);
    // Nothing was claimed: they can still be.
    let env = f.envelope("claim", vec![b("n1"), b("n2"), b("n3")]).await;
    assert_eq!(
        f.commit(vec![env.encode_to_vec()]).await,
        vec![ValidationCode::Valid]
    );
}

#[tokio::test]
async fn a_key_appearing_in_a_read_range_is_a_phantom() {
    let f = fixture().await;
    let seed = f
        .envelope("put", vec![b("acct/1"), b("5")])
        .await
        .encode_to_vec();
    assert_eq!(f.commit(vec![seed]).await, vec![ValidationCode::Valid]);
    let sum = f
        .envelope("sum", vec![b("acct/"), b("acct0"), b("total")])
        .await
        .encode_to_vec();
    let insert = f
        .envelope("put", vec![b("acct/2"), b("7")])
        .await
        .encode_to_vec();
    assert_eq!(f.commit(vec![insert]).await, vec![ValidationCode::Valid]);
    assert_eq!(
        f.commit(vec![sum]).await,
        vec![ValidationCode::PhantomReadConflict]
    );
    // In the same block: the insert comes first, the range read after it is a phantom.
    let sum = f
        .envelope("sum", vec![b("acct/"), b("acct0"), b("total")])
        .await
        .encode_to_vec();
    let insert = f
        .envelope("put", vec![b("acct/3"), b("1")])
        .await
        .encode_to_vec();
    assert_eq!(
        f.commit(vec![insert, sum]).await,
        vec![ValidationCode::Valid, ValidationCode::PhantomReadConflict]
    );
    assert_eq!(f.get("total").await, None);
}

#[tokio::test]
async fn a_revoked_certificate_is_refused_after_its_organisation_replaces_its_crl() {
    let f = fixture().await;
    let mut ca = CertificateAuthority::load(&crypto_dir(f.dir.path(), "alpha")).unwrap();
    let doomed = ca.issue("client2.alpha", Role::Client, 10).unwrap();
    let before = f
        .envelope_as(&doomed, KV, "put", vec![b("x"), b("1")])
        .await
        .encode_to_vec();
    assert_eq!(f.commit(vec![before]).await, vec![ValidationCode::Valid]);

    ca.revoke(&doomed).unwrap();
    let crl = ca.crl_pem().unwrap();
    let current = f.ledger(&f.alpha).channel().config().clone();
    let next = next_config(&current, |c| {
        for o in c.orgs.iter_mut().filter(|o| o.msp_id == "alpha") {
            o.crl_pem = crl.clone();
        }
    });
    let (admin_a, admin_b) = (f.id("alpha", "admin"), f.id("beta", "admin"));
    let invalid = vec![ValidationCode::InvalidConfigTransaction];
    // Another organisation's admin alone does not replace alpha's list.
    let other = sign_update(&next, &[&admin_b]).unwrap();
    let other = config_envelope(&other, CH, &admin_b, now_ms()).unwrap();
    assert_eq!(f.commit(vec![other.encode_to_vec()]).await, invalid);
    // A client of alpha's is not its admin.
    let client = sign_update(&next, &[&f.id("alpha", "client")]).unwrap();
    let client = config_envelope(&client, CH, &admin_a, now_ms()).unwrap();
    assert_eq!(f.commit(vec![client.encode_to_vec()]).await, invalid);
    // alpha's admin alone changes nothing but alpha's list: with anything else besides,
    // it is an update of the channel, which needs a majority.
    let more = next_config(&current, |c| {
        for o in c.orgs.iter_mut().filter(|o| o.msp_id == "alpha") {
            o.crl_pem = crl.clone();
        }
        if let Some(o) = c.orderer.as_mut() {
            o.max_message_count += 1;
        }
    });
    let more = sign_update(&more, &[&admin_a]).unwrap();
    let more = config_envelope(&more, CH, &admin_a, now_ms()).unwrap();
    assert_eq!(f.commit(vec![more.encode_to_vec()]).await, invalid);
    let own = sign_update(&next, &[&admin_a]).unwrap();
    let own = config_envelope(&own, CH, &admin_a, now_ms()).unwrap();
    assert_eq!(
        f.commit(vec![own.encode_to_vec()]).await,
        vec![ValidationCode::Valid]
    );
    assert_eq!(f.ledger(&f.beta).channel().config().sequence, 1);

    let after =
        ledger::tx::Proposed::new(&doomed, CH, KV, "put", vec![b("y"), b("1")], now_ms()).unwrap();
    assert!(
        f.alpha.endorse(after.signed()).await.is_err(),
        "peers refuse a revoked creator"
    );
    let mut env = Envelope::decode(
        f.envelope("put", vec![b("y"), b("1")])
            .await
            .encode_to_vec()
            .as_slice(),
    )
    .unwrap();
    let mut payload = Payload::decode(env.payload.as_slice()).unwrap();
    payload.header.as_mut().unwrap().creator = Some(doomed.serialized().clone());
    env.payload = payload.encode_to_vec();
    env.signature = doomed.sign(&env.payload).unwrap();
    assert_eq!(
        f.commit(vec![env.encode_to_vec()]).await,
        vec![ValidationCode::BadCreatorSignature]
    );
    assert_eq!(f.get("y").await, None);
}

/// A block whose signatures a peer checked ahead, while the block before it put a new
/// configuration in force, is checked again under that configuration when it is committed:
/// a creator the new configuration revokes is refused, though its signature passed under
/// the configuration before.
#[tokio::test]
async fn a_block_checked_ahead_of_a_configuration_is_checked_again_under_it() {
    let f = fixture().await;
    let mut ca = CertificateAuthority::load(&crypto_dir(f.dir.path(), "alpha")).unwrap();
    let doomed = ca.issue("client2.alpha", Role::Client, 10).unwrap();
    // Endorsed while the certificate still stands.
    let put = f
        .envelope_as(&doomed, KV, "put", vec![b("z"), b("1")])
        .await
        .encode_to_vec();
    ca.revoke(&doomed).unwrap();
    let crl = ca.crl_pem().unwrap();
    let la = f.ledger(&f.alpha);
    let next = next_config(la.channel().config(), |c| {
        for o in c.orgs.iter_mut().filter(|o| o.msp_id == "alpha") {
            o.crl_pem = crl.clone();
        }
    });
    let admin_a = f.id("alpha", "admin");
    let update = sign_update(&next, &[&admin_a]).unwrap();
    let config = config_envelope(&update, CH, &admin_a, now_ms())
        .unwrap()
        .encode_to_vec();
    let n = la.height();
    let prev = header_hash(la.block(n - 1).unwrap().header.as_ref().unwrap());
    let config_block = new_block(n, prev, vec![config], &f.orderer).unwrap();
    let prev = header_hash(config_block.header.as_ref().unwrap());
    let put_block = new_block(n + 1, prev, vec![put], &f.orderer).unwrap();

    // Checked ahead: the configuration in force does not revoke the creator yet.
    let ahead = la.precheck(put_block).await.unwrap();
    let committed = la.commit(config_block).await.unwrap();
    assert_eq!(committed.txs[0].code, ValidationCode::Valid);
    let committed = la.commit_prechecked(ahead).await.unwrap();
    assert_eq!(committed.txs[0].code, ValidationCode::BadCreatorSignature);
    assert_replays(&la).await;

    // Checked ahead with no configuration in between: judged as `commit` judges it.
    let env = f
        .envelope("put", vec![b("w"), b("1")])
        .await
        .encode_to_vec();
    let n = la.height();
    let prev = header_hash(la.block(n - 1).unwrap().header.as_ref().unwrap());
    let block = new_block(n, prev, vec![env], &f.orderer).unwrap();
    let ahead = la.precheck(block).await.unwrap();
    let committed = la.commit_prechecked(ahead).await.unwrap();
    assert_eq!(committed.txs[0].code, ValidationCode::Valid);
    assert_replays(&la).await;
}

#[tokio::test]
async fn an_organisation_added_by_config_update_can_transact() {
    let f = fixture().await;
    let gamma_ca = CertificateAuthority::new("gamma", 10).unwrap();
    let gamma_client = gamma_ca.issue("client.gamma", Role::Client, 10).unwrap();
    let current = f.ledger(&f.alpha).channel().config().clone();
    let next = next_config(&current, |c| {
        c.orgs.push(OrgConfig {
            msp_id: "gamma".into(),
            ca_cert_pem: gamma_ca.cert_pem().unwrap(),
            crl_pem: gamma_ca.crl_pem().unwrap(),
            ..Default::default()
        })
    });
    let (admin_a, admin_b) = (f.id("alpha", "admin"), f.id("beta", "admin"));
    let p = Proposed::new(&gamma_client, CH, KV, "put", vec![b("g"), b("1")], now_ms()).unwrap();
    assert!(
        f.alpha.endorse(p.signed()).await.is_err(),
        "gamma is not a member yet"
    );
    let update = sign_update(&next, &[&admin_a, &admin_b]).unwrap();
    let env = config_envelope(&update, CH, &admin_b, now_ms()).unwrap();
    assert_eq!(
        f.commit(vec![env.encode_to_vec()]).await,
        vec![ValidationCode::Valid]
    );
    // Replaying the same update is stale (its sequence is used up).
    let env = config_envelope(&update, CH, &admin_b, now_ms()).unwrap();
    assert_eq!(
        f.commit(vec![env.encode_to_vec()]).await,
        vec![ValidationCode::InvalidConfigTransaction]
    );
    let env = f
        .envelope_as(&gamma_client, KV, "put", vec![b("g"), b("1")])
        .await;
    assert_eq!(
        f.commit(vec![env.encode_to_vec()]).await,
        vec![ValidationCode::Valid]
    );
}

#[tokio::test]
async fn lifecycle_approval_by_a_majority_changes_the_policy_in_force() {
    let f = fixture().await;
    let client = f.id("alpha", "client");
    let env = f.alpha_only("before").await;
    assert_eq!(
        f.commit(vec![env]).await,
        vec![ValidationCode::EndorsementPolicyFailure]
    );

    let def = ContractDefinition {
        name: KV.into(),
        version: "2".into(),
        endorsement_policy: "OR('alpha.peer', 'beta.peer')".into(),
    };
    // A client may not approve; an admin may, for its own organisation only.
    let p = Proposed::new(
        &client,
        CH,
        LIFECYCLE,
        "approve",
        vec![def.encode_to_vec()],
        now_ms(),
    )
    .unwrap();
    assert!(f.alpha.endorse(p.signed()).await.is_err());
    assert_eq!(f.approve_as("alpha", &def).await, ValidationCode::Valid);
    // One of two is not a majority: the old policy still holds.
    let env = f.alpha_only("half").await;
    assert_eq!(
        f.commit(vec![env]).await,
        vec![ValidationCode::EndorsementPolicyFailure]
    );
    assert_eq!(f.approve_as("beta", &def).await, ValidationCode::Valid);
    let env = f.alpha_only("after").await;
    assert_eq!(f.commit(vec![env]).await, vec![ValidationCode::Valid]);
    assert_eq!(f.get("after").await, Some(b("1")));
}

#[tokio::test]
async fn a_block_not_signed_by_the_orderer_is_refused_whole() {
    let f = fixture().await;
    let la = f.ledger(&f.alpha);
    let prev = header_hash(la.block(0).unwrap().header.as_ref().unwrap());
    let env = f
        .envelope("put", vec![b("k"), b("v")])
        .await
        .encode_to_vec();
    let rogue = new_block(1, prev.clone(), vec![env.clone()], &f.id("alpha", "peer")).unwrap();
    assert!(la.commit(rogue).await.is_err());
    let mut tampered = new_block(1, prev, vec![env], &f.orderer).unwrap();
    tampered
        .data
        .as_mut()
        .unwrap()
        .envelopes
        .push(vec![1, 2, 3].into());
    assert!(la.commit(tampered).await.is_err());
    assert_eq!(la.height(), 1);
}

/// A `_lifecycle` approval of `def` proposed by `creator` whose result, signed by alpha's
/// peer alone (the lifecycle's policy is ANY), is `rwset`: whatever that peer chose.
fn forged_approval(
    f: &Fixture,
    creator: &SigningIdentity,
    def: &ContractDefinition,
    rwset: ledger::proto::NsRwSet,
) -> Vec<u8> {
    use ledger::proto::{ProposalResponsePayload, Response, TxRwSet};
    let p = Proposed::new(
        creator,
        CH,
        LIFECYCLE,
        "approve",
        vec![def.encode_to_vec()],
        now_ms(),
    )
    .unwrap();
    let payload = ProposalResponsePayload {
        proposal_hash: ledger::crypto::sha256(&p.signed().proposal_bytes),
        results: Some(TxRwSet {
            ns_rwsets: vec![rwset],
        }),
        events: vec![],
        response: Some(Response {
            status: 200,
            ..Default::default()
        }),
    }
    .encode_to_vec();
    let endorsement = f.id("alpha", "peer").endorse(&payload).unwrap();
    let r = ProposalResponse {
        payload: payload.into(),
        endorsement: Some(endorsement),
    };
    Endorsed::collect(p, vec![r])
        .unwrap()
        .into_envelope(creator)
        .unwrap()
        .encode_to_vec()
}

/// The one write an approval of `def` by `org` makes.
fn approval_write(def: &ContractDefinition, org: &str) -> ledger::proto::KvWrite {
    ledger::proto::KvWrite {
        key: ledger::contract::composite_key("approval", &[&def.name, org]),
        is_delete: false,
        value: def.encode_to_vec(),
    }
}

fn lifecycle_rwset(writes: Vec<ledger::proto::KvWrite>) -> ledger::proto::NsRwSet {
    ledger::proto::NsRwSet {
        namespace: LIFECYCLE.into(),
        writes,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_peer_cannot_forge_another_organisations_lifecycle_approval() {
    let f = fixture().await;
    let (admin_a, client_a) = (f.id("alpha", "admin"), f.id("alpha", "client"));
    let def = ContractDefinition {
        name: KV.into(),
        version: "9".into(),
        endorsement_policy: "OR('alpha.peer')".into(),
    };
    // alpha's peer signs a result its contract would never produce: beta's approval.
    let forge = |creator: &SigningIdentity, org: &str| {
        forged_approval(
            &f,
            creator,
            &def,
            lifecycle_rwset(vec![approval_write(&def, org)]),
        )
    };
    let for_beta = forge(&admin_a, "beta");
    let by_client = forge(&client_a, "alpha");
    let own = forge(&admin_a, "alpha");
    let codes = f.commit(vec![for_beta, by_client, own]).await;
    assert_eq!(
        codes,
        vec![
            ValidationCode::IllegalWriteset,
            ValidationCode::IllegalWriteset,
            ValidationCode::Valid
        ]
    );
}

/// The range query of a transaction's first namespace, as its endorsers recorded it.
fn first_range(env: &Envelope) -> ledger::proto::RangeQueryInfo {
    let payload = Payload::decode(env.payload.as_slice()).unwrap();
    let tx = EndorserTransaction::decode(payload.data.as_slice()).unwrap();
    let r = ledger::proto::ProposalResponsePayload::decode(tx.response_payload.as_ref()).unwrap();
    r.results.unwrap().ns_rwsets[0].range_queries[0].clone()
}

#[tokio::test]
async fn a_long_range_is_recorded_by_its_digest_and_checked_as_closely() {
    let f = fixture().await;
    // More keys than a read-write set lists.
    let n = ledger::reads::LISTED_READS_MAX + 8;
    let mut seed = Vec::new();
    for i in 0..n {
        let key = format!("acct/{i:03}");
        seed.push(
            f.envelope("put", vec![b(&key), b("1")])
                .await
                .encode_to_vec(),
        );
    }
    assert!(
        f.commit(seed)
            .await
            .iter()
            .all(|c| *c == ValidationCode::Valid)
    );
    let sum = || f.envelope("sum", vec![b("acct/"), b("acct0"), b("total")]);
    let unchanged = sum().await;
    let q = first_range(&unchanged);
    assert!(q.reads.is_empty(), "a long range is not listed");
    assert_eq!(q.reads_hash.len(), 32);
    assert_eq!(
        f.commit(vec![unchanged.encode_to_vec()]).await,
        vec![ValidationCode::Valid]
    );
    assert_eq!(f.get("total").await, Some(n.to_string().into_bytes()));
    // A key of the range written again (a new version), removed, or added since: each is
    // a phantom, as it is for a listed range.
    for change in [
        vec![b("put"), b("acct/005"), b("1")],
        vec![b("del"), b("acct/006")],
        vec![b("put"), b("acct/9999"), b("1")],
    ] {
        let read = sum().await.encode_to_vec();
        let (function, args) = change.split_first().unwrap();
        let function = String::from_utf8(function.clone()).unwrap();
        let write = f.envelope(&function, args.to_vec()).await.encode_to_vec();
        assert_eq!(f.commit(vec![write]).await, vec![ValidationCode::Valid]);
        assert_eq!(
            f.commit(vec![read]).await,
            vec![ValidationCode::PhantomReadConflict],
            "after {function}"
        );
    }
    // A short range is still listed.
    let short = f
        .envelope("sum", vec![b("acct/00"), b("acct/005"), b("small")])
        .await;
    let q = first_range(&short);
    assert_eq!((q.reads.len(), q.reads_hash.len()), (5, 0));
}

#[tokio::test]
async fn a_lifecycle_approval_is_its_one_write_and_nothing_else() {
    use ledger::proto::{KvRead, RangeQueryInfo};
    let f = fixture().await;
    let admin_a = f.id("alpha", "admin");
    let def = ContractDefinition {
        name: KV.into(),
        version: "9".into(),
        endorsement_policy: "OR('alpha.peer')".into(),
    };
    let other = ContractDefinition {
        name: "other".into(),
        ..def.clone()
    };
    // One peer alone endorses an approval, so anything more in it is that peer's choice,
    // and every read or range query would cost every peer a world-state query to validate.
    let mut ranges = lifecycle_rwset(vec![approval_write(&def, "alpha")]);
    ranges.range_queries = vec![
        RangeQueryInfo {
            start_key: "a".into(),
            end_key: "b".into(),
            ..RangeQueryInfo::default()
        };
        1000
    ];
    let mut reads = lifecycle_rwset(vec![approval_write(&def, "alpha")]);
    reads.reads = vec![KvRead {
        key: "x".into(),
        version: None,
    }];
    let two = lifecycle_rwset(vec![
        approval_write(&def, "alpha"),
        approval_write(&other, "alpha"),
    ]);
    let none = lifecycle_rwset(vec![]);
    let codes = f
        .commit(vec![
            forged_approval(&f, &admin_a, &def, ranges),
            forged_approval(&f, &admin_a, &def, reads),
            forged_approval(&f, &admin_a, &def, two),
            forged_approval(&f, &admin_a, &def, none),
        ])
        .await;
    assert_eq!(codes, vec![ValidationCode::IllegalWriteset; 4]);
}

#[tokio::test]
async fn a_forged_envelope_cannot_burn_a_tx_id_it_copied() {
    let f = fixture().await;
    let mallory = f.id("beta", "client");
    let victim = f.envelope("put", vec![b("v"), b("1")]).await;
    // Mallory copies the victim's payload (and so its tx id) and signs it herself.
    let forged = resign(&victim, &mallory).encode_to_vec();
    let codes = f.commit(vec![forged.clone(), victim.encode_to_vec()]).await;
    assert_eq!(
        codes,
        vec![ValidationCode::BadCreatorSignature, ValidationCode::Valid]
    );
    // In separate blocks too; and the victim's id is then really taken.
    let victim2 = f.envelope("put", vec![b("w"), b("1")]).await;
    assert_eq!(
        f.commit(vec![resign(&victim2, &mallory).encode_to_vec()])
            .await,
        vec![ValidationCode::BadCreatorSignature]
    );
    assert_eq!(
        f.commit(vec![victim2.encode_to_vec()]).await,
        vec![ValidationCode::Valid]
    );
    assert_eq!(
        f.commit(vec![victim2.encode_to_vec()]).await,
        vec![ValidationCode::DuplicateTxid]
    );
    assert_eq!(f.get("w").await, Some(b("1")));
}

#[tokio::test]
async fn the_stateless_seam_judges_envelopes_and_blocks_without_the_world_state() {
    use ledger::validate::{Stateless, check_block_stateless, check_envelope_stateless};
    let f = fixture().await;
    let la = f.ledger(&f.alpha);
    let channel = la.channel();
    let env = f
        .envelope("put", vec![b("k"), b("v")])
        .await
        .encode_to_vec();
    let verdict = check_envelope_stateless(&env, &channel);
    let Stateless::Endorser {
        contract,
        mut endorsers,
        ..
    } = verdict
    else {
        panic!("{verdict:?}");
    };
    endorsers.sort();
    assert_eq!(contract, KV);
    assert_eq!(
        endorsers,
        vec![("alpha".into(), Role::Peer), ("beta".into(), Role::Peer)]
    );
    assert!(matches!(
        check_envelope_stateless(&[0xff, 0xff], &channel),
        Stateless::Invalid {
            code: ValidationCode::BadPayload,
            ..
        }
    ));
    let n = la.height();
    let prev = header_hash(la.block(n - 1).unwrap().header.as_ref().unwrap());
    let block = new_block(n, prev.clone(), vec![env, vec![1, 2, 3]], &f.orderer).unwrap();
    let verdicts = check_block_stateless(&block, n, &prev, &channel).unwrap();
    assert!(matches!(verdicts[0], Stateless::Endorser { .. }));
    assert!(matches!(verdicts[1], Stateless::Invalid { .. }));
    assert!(check_block_stateless(&block, n + 1, &prev, &channel).is_err());
    // Nothing was committed by judging.
    assert_eq!(la.height(), n);
}
