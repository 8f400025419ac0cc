//! SPEC §11 material through the binary: `org init` keeps each organisation's keys in its
//! own directory, mode 0600, and `channel genesis` gives the same bytes for the same
//! `org.json` files in any order.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

fn iclear(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_iclear"))
        .args(args)
        .output()
        .expect("running iclear");
    assert!(
        out.status.success(),
        "iclear {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn keys(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for sub in ["crypto", "tls"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "key") {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn each_organisation_keeps_its_own_keys_and_genesis_is_deterministic() {
    let root = tempfile::tempdir().unwrap();
    let dir = |o: &str| root.path().join(o);
    let orgs = [
        ("ordering", "127.0.0.1:7050", true),
        ("alpha", "127.0.0.1:7051", false),
        ("beta", "alpha.example:7051", false),
        ("gamma", "127.0.0.1:7053", false),
    ];
    for (org, addr, orderer) in orgs {
        let d = dir(org);
        let mut args = vec!["--dir", d.to_str().unwrap(), "org", "init", "--org", org];
        args.extend(["--address", addr]);
        if orderer {
            args.push("--orderer");
        }
        iclear(&args);
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("org.json")).unwrap()).unwrap();
        assert_eq!(info["org"], org);
        assert_eq!(info["address"], addr);
        let text = std::fs::read_to_string(d.join("org.json")).unwrap();
        assert!(!text.contains("PRIVATE KEY"), "org.json holds a key");
        let ks = keys(&d);
        assert!(ks.len() >= 6, "{ks:?}");
        for k in ks {
            let mode = std::fs::metadata(&k).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", k.display());
        }
    }
    // No directory holds a certificate or key of another organisation's CA.
    let own_ca = |o: &str| std::fs::read(dir(o).join("crypto/ca.pem")).unwrap();
    assert_ne!(own_ca("alpha"), own_ca("beta"));
    let out1 = root.path().join("g1");
    let out2 = root.path().join("g2");
    let json = |o: &str| dir(o).join("org.json").to_str().unwrap().to_string();
    let (o, a, b, g) = (json("ordering"), json("alpha"), json("beta"), json("gamma"));
    let o1 = out1.to_str().unwrap();
    let o2 = out2.to_str().unwrap();
    iclear(&[
        "channel", "genesis", "--org", &o, "--org", &a, "--org", &b, "--org", &g, "--out", o1,
    ]);
    iclear(&[
        "channel", "genesis", "--org", &g, "--org", &b, "--org", &o, "--org", &a, "--out", o2,
    ]);
    let (g1, g2) = (std::fs::read(&out1).unwrap(), std::fs::read(&out2).unwrap());
    assert_eq!(g1, g2, "the same org.json files gave different bytes");
    let genesis: serde_json::Value = serde_json::from_slice(&g1).unwrap();
    let names: Vec<&str> = genesis["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["consortium", "alpha.beta", "alpha.gamma", "beta.gamma"]
    );
    // Blocks are cut after the network's default batch timeout unless one is given.
    assert_eq!(
        genesis["params"]["batch_timeout_ms"],
        ledger::network::OrdererParams::default().batch_timeout_ms
    );
    iclear(&[
        "channel",
        "genesis",
        "--org",
        &o,
        "--org",
        &a,
        "--batch-timeout-ms",
        "250",
        "--out",
        o2,
    ]);
    let slower: serde_json::Value = serde_json::from_slice(&std::fs::read(&out2).unwrap()).unwrap();
    assert_eq!(slower["params"]["batch_timeout_ms"], 250);
    // No ordering organisation, two with solo ordering, Kafka without brokers and brokers
    // without Kafka are usage errors, each saying so.
    let d2 = dir("ordering2");
    let mut args = vec![
        "--dir",
        d2.to_str().unwrap(),
        "org",
        "init",
        "--org",
        "ordering2",
    ];
    args.extend(["--address", "127.0.0.1:7054", "--orderer"]);
    iclear(&args);
    let o2org = json("ordering2");
    let refused = |args: &[&str], says: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_iclear"))
            .args(["channel", "genesis"])
            .args(args)
            .args(["--out", o1])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    };
    refused(
        &["--org", &a, "--org", &b],
        "exactly one ordering organisation, 0 given",
    );
    let two = ["--org", &o, "--org", &o2org, "--org", &a, "--org", &b];
    refused(&two, "exactly one ordering organisation, 2 given");
    refused(
        &[&two[..], &["--ordering", "kafka"]].concat(),
        "needs --brokers",
    );
    refused(
        &[
            &two[..],
            &["--ordering", "kafka", "--brokers", "k1:9092,kafka2"],
        ]
        .concat(),
        "broker `kafka2` is not HOST:PORT",
    );
    refused(
        &["--org", &o, "--org", &a, "--brokers", "k:9092"],
        "--brokers is for --ordering kafka",
    );
    // A block is cut after at least a millisecond and at most a minute.
    for ms in ["0", "60001"] {
        refused(
            &["--org", &o, "--org", &a, "--batch-timeout-ms", ms],
            "is not in 1..=60000",
        );
    }
    // Kafka ordering with two ordering organisations: both are in every channel's orderer
    // section, and the file is the same whatever the order of the inputs.
    let kafka = [
        &two[..],
        &["--ordering", "kafka", "--brokers", "k1:9092,k2:9092"],
    ]
    .concat();
    iclear(&[&["channel", "genesis"], &kafka[..], &["--out", o1]].concat());
    let reordered = ["--org", &b, "--org", &o2org, "--org", &a, "--org", &o];
    let kafka2 = [
        &reordered[..],
        &["--ordering", "kafka", "--brokers", "k1:9092,k2:9092"],
    ]
    .concat();
    iclear(&[&["channel", "genesis"], &kafka2[..], &["--out", o2]].concat());
    let (k1, k2) = (std::fs::read(&out1).unwrap(), std::fs::read(&out2).unwrap());
    assert_eq!(k1, k2, "the same org.json files gave different bytes");
    let genesis: serde_json::Value = serde_json::from_slice(&k1).unwrap();
    assert_eq!(genesis["orderer"]["org"], "ordering");
    assert_eq!(genesis["more_orderers"][0]["org"], "ordering2");
    assert_eq!(genesis["params"]["mode"]["service"], "kafka");
    assert_eq!(genesis["params"]["mode"]["brokers"][1], "k2:9092");
}
