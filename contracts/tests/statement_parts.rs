//! A statement whose `discrepancies.csv` is larger than one transaction may carry: issued
//! with its first part and the digest of every part, the others handed out by one peer (as
//! it kept them when it computed the statement, or computed again) and attached by
//! transactions that carry their bytes, checked against the digests, and read back whole —
//! the same bytes the statement's hash covers.

mod common;

use common::*;
use contracts::{PartBytes, PartQuery, api, statement::PART_BYTES};

/// alpha's records of October that beta never reported: each is a line of
/// `discrepancies.csv` (`missing_at_payee`).
fn alpha_only(from: usize, to: usize) -> String {
    let mut csv = String::from(
        "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units\n",
    );
    for i in from..to {
        let secs = i * 15;
        csv.push_str(&format!(
            "ALPHA-ONLY-{i:07},voice,alpha,beta,441234567,4930123456,2026-10-{:02}T{:02}:{:02}:{:02}Z,61\n",
            1 + secs / 86_400,
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60
        ));
    }
    csv
}

fn part(index: u32) -> PartQuery {
    PartQuery {
        statement: october_id(),
        index,
    }
}

fn bytes(index: u32, bytes: &[u8]) -> PartBytes {
    PartBytes {
        statement: october_id(),
        index,
        bytes: bytes.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_too_large_for_one_transaction_is_issued_in_parts_and_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &Backend::Sqlite);
    let net = open(dir.path()).await;
    net.call::<api::PublishSheet>("beta", sheet(&fixture("ratesheet.csv")))
        .await
        .unwrap();
    // More discrepancies than a transaction of this network may carry (10 MiB).
    const RECORDS: usize = 150_000;
    for chunk in (0..RECORDS).step_by(20_000) {
        net.call::<api::Submit>(
            "alpha",
            batch("beta", &alpha_only(chunk, (chunk + 20_000).min(RECORDS))),
        )
        .await
        .unwrap();
    }
    // Issued with the first part only: the rest is left to attach.
    let issued = net
        .call::<api::IssueStatement>("alpha", october_id())
        .await
        .unwrap();
    assert!(issued.parts >= 2, "{} parts", issued.parts);
    let st = net
        .call::<api::GetStatement>("beta", october_id())
        .await
        .unwrap();
    assert_eq!(st.discrepancy_parts.len(), issued.parts as usize);
    assert!(st.discrepancies_csv.len() <= PART_BYTES);
    assert!(st.discrepancies_csv.ends_with('\n'));
    assert_eq!(
        net.call::<api::GetPart>("beta", part(1)).await.unwrap(),
        None
    );
    // Part 0 is the statement's own, and there is no part past the last.
    for index in [0, issued.parts] {
        let e = net
            .call::<api::AttachPart>("beta", bytes(index, b""))
            .await
            .unwrap_err();
        assert!(e.contains(&format!("there is no part {index}")), "{e}");
        let e = net
            .call::<api::ComputeParts>("beta", part(index))
            .await
            .unwrap_err();
        assert!(e.contains(&format!("there is no part {index}")), "{e}");
    }
    // The payee has its peer hand out part 1 and those after it: the parts the peer kept
    // while it endorsed the statement, let go once the last is handed out.
    let mut computed = Vec::new();
    for index in 1..issued.parts {
        let got = net
            .call::<api::ComputeParts>("beta", part(index))
            .await
            .unwrap();
        assert_eq!(got.len(), contracts::statement::PARTS_PER_COMPUTE as usize);
        computed.extend(got);
    }
    assert_eq!(computed.len(), issued.parts as usize - 1);
    // Asked again, the peer computes the statement again: the same bytes.
    let again = net
        .call::<api::ComputeParts>("beta", part(1))
        .await
        .unwrap();
    assert_eq!(again[0], computed[0]);
    // Then the payee tries to attach other bytes in part 1's place: a row of alpha's
    // dropped, or one changed. Both peers refuse, and nothing is attached.
    let genuine = computed[0].clone();
    let dropped = genuine.split_inclusive('\n').skip(1).collect::<String>();
    let changed = genuine.replacen(",61,", ",60,", 1);
    assert_ne!(changed, genuine);
    for forged in [dropped.as_bytes(), changed.as_bytes(), b"".as_slice()] {
        let e = net
            .call::<api::AttachPart>("beta", bytes(1, forged))
            .await
            .unwrap_err();
        assert!(e.contains("do not hash to the digest"), "{e}");
    }
    assert_eq!(
        net.call::<api::GetPart>("alpha", part(1)).await.unwrap(),
        None
    );
    // Reading it whole attaches what is missing (either party may), checks each part
    // against its digest, and gives back the very file the statement's hash covers: the
    // parts the peer kept when it computed them again.
    let whole = net
        .client("beta")
        .statement(carrier("alpha"), october_id())
        .await
        .unwrap();
    let hash = ledger::crypto::sha256_parts(&[
        whole.discrepancies_csv.as_bytes(),
        whole.statement_csv.as_bytes(),
        whole.summary_json.as_bytes(),
    ]);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, whole.hash);
    assert_eq!(whole.discrepancies_csv.lines().count(), RECORDS + 1);
    assert_eq!(
        whole.discrepancies_csv,
        st.discrepancies_csv.clone() + &computed.concat()
    );
    let limit = net.network().config().orderer.absolute_max_bytes as usize;
    assert!(
        whole.discrepancies_csv.len() > limit,
        "{} bytes",
        whole.discrepancies_csv.len()
    );
    assert_eq!(
        whole
            .discrepancies_csv
            .lines()
            .filter(|l| l.starts_with("missing_at_payee,ALPHA-ONLY-"))
            .count(),
        RECORDS
    );
    // Attaching again writes nothing, whatever the bytes.
    let again = net
        .call::<api::AttachPart>("alpha", bytes(1, genuine.as_bytes()))
        .await
        .unwrap();
    assert!(!again.written);
    let again = net
        .call::<api::AttachPart>("beta", bytes(1, b"forged"))
        .await
        .unwrap();
    assert!(!again.written);
    assert_eq!(
        net.call::<api::GetPart>("alpha", part(1)).await.unwrap(),
        Some(genuine)
    );
    assert!(
        net.call::<api::GetPart>("alpha", part(1))
            .await
            .unwrap()
            .is_some()
    );
}
