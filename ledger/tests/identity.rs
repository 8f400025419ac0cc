//! Identities: certificates carry organisation and role, signatures verify only with the
//! right key, and membership refuses foreign, expired and revoked certificates.

use ledger::identity::{CertificateAuthority, IdentityError, Membership, Role, SigningIdentity};
use ledger::proto::OrgConfig;
use ledger::tx::now_ms;

fn org(ca: &CertificateAuthority) -> OrgConfig {
    OrgConfig {
        msp_id: ca.msp_id().into(),
        ca_cert_pem: ca.cert_pem().unwrap(),
        crl_pem: ca.crl_pem().unwrap(),
        ..Default::default()
    }
}

#[test]
fn issued_certificates_carry_org_and_role_and_sign() {
    let ca = CertificateAuthority::new("alpha", 30).unwrap();
    let members = Membership::new(&[org(&ca)]).unwrap();
    for role in [Role::Peer, Role::Orderer, Role::Client, Role::Admin] {
        let id = ca.issue(&format!("{role}.alpha"), role, 30).unwrap();
        assert_eq!((id.msp_id(), id.role()), ("alpha", role));
        let sig = id.sign(b"hello").unwrap();
        let p = members
            .verify(id.serialized(), now_ms(), b"hello", &sig)
            .unwrap();
        assert_eq!((p.msp_id.as_str(), p.role), ("alpha", role));
        assert!(matches!(
            members.verify(id.serialized(), now_ms(), b"hellO", &sig),
            Err(IdentityError::BadSignature(_))
        ));
    }
}

#[test]
fn a_certificate_from_another_ca_is_not_a_member() {
    let real = CertificateAuthority::new("alpha", 30).unwrap();
    let impostor = CertificateAuthority::new("alpha", 30).unwrap();
    let members = Membership::new(&[org(&real)]).unwrap();
    let id = impostor.issue("client.alpha", Role::Client, 30).unwrap();
    let sig = id.sign(b"m").unwrap();
    assert!(matches!(
        members.verify(id.serialized(), now_ms(), b"m", &sig),
        Err(IdentityError::NotIssuedByMember { .. })
    ));
    let other = CertificateAuthority::new("beta", 30)
        .unwrap()
        .issue("c", Role::Client, 30)
        .unwrap();
    assert!(
        matches!(members.principal(other.serialized()), Err(IdentityError::UnknownOrg(o)) if o == "beta")
    );
    // Claiming a member's organisation id with another organisation's certificate fails too.
    let mut forged = id.serialized().clone();
    forged.msp_id = "alpha".into();
    forged.cert_pem = other.serialized().cert_pem.clone();
    assert!(members.principal(&forged).is_err());
}

#[test]
fn validity_is_checked_at_the_time_of_use() {
    let ca = CertificateAuthority::new("alpha", 30).unwrap();
    let members = Membership::new(&[org(&ca)]).unwrap();
    let id = ca.issue("client.alpha", Role::Client, 1).unwrap();
    let sig = id.sign(b"m").unwrap();
    let in_two_days = now_ms() + 2 * 86_400_000;
    assert!(matches!(
        members.verify(id.serialized(), in_two_days, b"m", &sig),
        Err(IdentityError::OutsideValidity { .. })
    ));
    let last_year = now_ms() - 365 * 86_400_000;
    assert!(matches!(
        members.verify(id.serialized(), last_year, b"m", &sig),
        Err(IdentityError::OutsideValidity { .. })
    ));
    assert!(
        members
            .verify(id.serialized(), now_ms(), b"m", &sig)
            .is_ok()
    );
}

#[test]
fn revocation_takes_effect_with_a_new_membership_and_survives_save_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let mut ca = CertificateAuthority::new("alpha", 30).unwrap();
    let keep = ca.issue("keep", Role::Client, 30).unwrap();
    let gone = ca.issue("gone", Role::Client, 30).unwrap();
    ca.revoke(&gone).unwrap();
    ca.save(dir.path()).unwrap();
    let ca = CertificateAuthority::load(dir.path()).unwrap();
    let members = Membership::new(&[org(&ca)]).unwrap();
    assert!(members.principal(keep.serialized()).is_ok());
    assert!(matches!(
        members.principal(gone.serialized()),
        Err(IdentityError::Revoked { .. })
    ));
    // A CRL signed by someone else is refused outright.
    let other = CertificateAuthority::new("alpha", 30).unwrap();
    let mut bad = org(&ca);
    bad.crl_pem = other.crl_pem().unwrap();
    assert!(matches!(
        Membership::new(&[bad]),
        Err(IdentityError::BadCrl(_))
    ));
}

#[test]
fn identities_save_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::new("alpha", 30).unwrap();
    let id = ca.issue("peer0.alpha", Role::Peer, 30).unwrap();
    id.save(dir.path(), "peer").unwrap();
    let back = SigningIdentity::load(dir.path(), "peer").unwrap();
    assert_eq!(back.serialized(), id.serialized());
    let members = Membership::new(&[org(&ca)]).unwrap();
    let sig = back.sign(b"x").unwrap();
    assert!(
        members
            .verify(id.serialized(), now_ms(), b"x", &sig)
            .is_ok()
    );
}

#[test]
fn signatures_are_standard_ecdsa_sha256_interchangeable_with_evp() {
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::sign::{Signer, Verifier};
    let key = ledger::crypto::new_p256_key().unwrap();
    let ec = key.ec_key().unwrap();
    let public = PKey::public_key_from_pem(&key.public_key_to_pem().unwrap()).unwrap();
    let msg = b"interoperable";
    let ours = ledger::crypto::sign(&ec, msg).unwrap();
    let mut v = Verifier::new(MessageDigest::sha256(), &public).unwrap();
    assert!(v.verify_oneshot(&ours, msg).unwrap());
    let evp = Signer::new(MessageDigest::sha256(), &key)
        .unwrap()
        .sign_oneshot_to_vec(msg)
        .unwrap();
    let pub_ec = ledger::crypto::public_ec_key(&public).unwrap();
    assert!(ledger::crypto::verify(&pub_ec, msg, &evp));
    assert!(!ledger::crypto::verify(&pub_ec, b"other", &evp));
    assert!(!ledger::crypto::verify(&pub_ec, msg, b"not DER"));
    // Signing parts is signing their concatenation.
    let parts = ledger::crypto::sign_parts(&ec, &[b"inter", b"operable"]).unwrap();
    assert!(ledger::crypto::verify(&pub_ec, msg, &parts));
    assert!(ledger::crypto::verify_parts(
        &pub_ec,
        &[b"interop", b"erable"],
        &ours
    ));
}

#[cfg(unix)]
#[test]
fn private_keys_are_readable_by_their_owner_alone() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    ledger::network::init(
        dir.path(),
        &["alpha".to_string(), "beta".to_string()],
        &ledger::network::InitOptions::default(),
    )
    .unwrap();
    let mut keys = 0;
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "key") {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", p.display());
                keys += 1;
            }
        }
    }
    assert!(
        keys >= 4,
        "every CA, peer, client and the orderer has a key: {keys}"
    );
}
