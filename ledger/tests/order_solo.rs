//! The ordering-service suite on the solo orderer.

mod order_suite;

use std::path::Path;
use std::sync::Arc;

use ledger::identity::SigningIdentity;
use ledger::order::{OrderingService, SoloOrderer};
use ledger::proto::Block;

struct Solo;

impl order_suite::Backend for Solo {
    async fn start(
        &self,
        dir: &Path,
        identity: SigningIdentity,
        genesis: &[Block],
    ) -> Arc<dyn OrderingService> {
        SoloOrderer::start(dir, identity, genesis, false)
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solo_passes_the_ordering_suite() {
    order_suite::run_all(&Solo).await;
}

/// A channel created on the running network (SPEC §11, `channel create --with`): the
/// solo orderer makes it only when an admin of each of its members signed exactly the
/// configuration the consortium gives them, keeps it across a restart, and its block 0
/// carries the signed request for every peer to check again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_is_created_only_with_every_members_admin() {
    use ledger::channel::{ChannelState, config_envelope, genesis_config};
    use ledger::network::{self, CONSORTIUM_CHANNEL, InitOptions, crypto_dir, load_genesis};
    use ledger::order::OrderError;
    use ledger::order::config_update_of;
    use ledger::system::config::{
        check_creation, check_creation_since, member_channel, sign_update,
    };
    use ledger::tx::now_ms;

    let dir = tempfile::tempdir().unwrap();
    let opts = InitOptions {
        pair_channels: false,
        sync: false,
        ..InitOptions::default()
    };
    let orgs = ["alpha".into(), "beta".into(), "gamma".into()];
    network::init(dir.path(), &orgs, &opts).unwrap();
    let genesis = load_genesis(dir.path(), CONSORTIUM_CHANNEL).unwrap();
    let id =
        |org: &str, name: &str| SigningIdentity::load(&crypto_dir(dir.path(), org), name).unwrap();
    let store = dir.path().join("orderer-store");
    let start = || async {
        SoloOrderer::start(
            &store,
            id(network::ORDERER_ORG, "orderer"),
            std::slice::from_ref(&genesis),
            false,
        )
        .await
        .unwrap()
    };
    let orderer = start().await;
    let consortium = genesis_config(&genesis).unwrap();
    let config = member_channel(&consortium, "alpha.gamma", &["gamma", "alpha"]).unwrap();
    assert_eq!(
        config
            .orgs
            .iter()
            .map(|o| o.msp_id.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "gamma"],
        "the consortium's order, whatever the order asked"
    );
    let (alpha, beta, gamma) = (
        id("alpha", "admin"),
        id("beta", "admin"),
        id("gamma", "admin"),
    );
    let create = |signers: &[&SigningIdentity], cfg: &ledger::proto::ChannelConfig| {
        let update = sign_update(cfg, signers).unwrap();
        config_envelope(&update, &cfg.channel_id, signers[0], now_ms()).unwrap()
    };
    let refused = |e: OrderError| e.to_string();
    // alpha alone, or alpha with beta (not a member of the channel): refused.
    for signers in [vec![&alpha], vec![&alpha, &beta]] {
        let e = refused(
            orderer
                .broadcast(create(&signers, &config))
                .await
                .unwrap_err(),
        );
        assert!(e.contains("an admin of gamma"), "{e}");
    }
    // A client is not an admin.
    let e = refused(
        orderer
            .broadcast(create(&[&alpha, &id("gamma", "client")], &config))
            .await
            .unwrap_err(),
    );
    assert!(e.contains("an admin of gamma"), "{e}");
    // Another batch size than the consortium's is not the channel it gives them.
    let mut other = config.clone();
    if let Some(o) = other.orderer.as_mut() {
        o.max_message_count += 1;
    }
    let e = refused(
        orderer
            .broadcast(create(&[&alpha, &gamma], &other))
            .await
            .unwrap_err(),
    );
    assert!(
        e.contains("not the one the consortium in force gives"),
        "{e}"
    );
    // A member the consortium does not have.
    let e = member_channel(&consortium, "alpha.delta", &["alpha", "delta"]).unwrap_err();
    assert!(e.to_string().contains("`delta` is not a member"), "{e}");
    assert!(orderer.height("alpha.gamma").is_none());

    let request = create(&[&alpha, &gamma], &config);
    orderer.broadcast(request.clone()).await.unwrap();
    // The same request sent again, as by a client whose connection broke after the
    // orderer took it: told the channel is made, and nothing more is ordered.
    orderer.broadcast(request.clone()).await.unwrap();
    // A second request for it is an update of the channel that exists, and refused.
    let e = refused(
        orderer
            .broadcast(create(&[&gamma, &alpha], &config))
            .await
            .unwrap_err(),
    );
    assert!(e.contains("sequence 0, expected 1"), "{e}");
    assert_eq!(orderer.height("alpha.gamma"), Some(1));
    let block0 = orderer
        .deliver("alpha.gamma", 0)
        .await
        .unwrap()
        .recv()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(genesis_config(&block0), Some(config.clone()));
    let env = &block0.data.as_ref().unwrap().envelopes[0];
    let (update, at) = config_update_of(env).unwrap();
    let state = ChannelState::new(consortium.clone()).unwrap();
    assert_eq!(check_creation(&state, &update, at).unwrap(), config);
    // Once alpha replaced its revocation list in the consortium, the request is no longer
    // what the consortium gives its members, yet a peer joining late still accepts it: the
    // same members with the same CAs, signed by both admins.
    let mut ca =
        ledger::identity::CertificateAuthority::load(&crypto_dir(dir.path(), "alpha")).unwrap();
    ca.revoke(&id("alpha", "client")).unwrap();
    let mut later = consortium.clone();
    later.sequence += 1;
    for o in later.orgs.iter_mut().filter(|o| o.msp_id == "alpha") {
        o.crl_pem = ca.crl_pem().unwrap();
    }
    let later_state = ChannelState::new(later.clone()).unwrap();
    assert!(check_creation(&later_state, &update, at).is_err());
    assert_eq!(
        check_creation_since(&later_state, &update, at).unwrap(),
        config
    );
    // Not when the consortium's alpha has another CA than the request's.
    let mut other_ca = later.clone();
    let impostor = ledger::identity::CertificateAuthority::new("alpha", 30).unwrap();
    for o in other_ca.orgs.iter_mut().filter(|o| o.msp_id == "alpha") {
        o.ca_cert_pem = impostor.cert_pem().unwrap();
        o.crl_pem = impostor.crl_pem().unwrap();
    }
    let other_state = ChannelState::new(other_ca).unwrap();
    assert!(check_creation_since(&other_state, &update, at).is_err());

    drop(orderer);
    let again = start().await;
    assert_eq!(
        again.height("alpha.gamma"),
        Some(1),
        "kept across a restart"
    );
    assert_eq!(again.config("alpha.gamma"), Some(config));
    // After the restart too: the request is the one the channel's block 0 carries.
    again.broadcast(request).await.unwrap();
    assert_eq!(again.height("alpha.gamma"), Some(1));
}
