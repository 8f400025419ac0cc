//! The command line's contract (SPEC §10): exit statuses, error messages that name file,
//! line and field, no partial output on failure, the rejects file always written, and the
//! four rounding modes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn small(name: &str) -> String {
    format!("{}/fixtures/small/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn iclear(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iclear"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    fs::write(&p, text).expect("temp file");
    p.display().to_string()
}

struct Rate {
    dir: tempfile::TempDir,
}

impl Rate {
    fn new() -> Rate {
        Rate {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("rated.csv")
    }

    /// `iclear rate` on the small fixtures with extra flags replacing the defaults.
    fn run(&self, extra: &[&str]) -> Output {
        let out = self.out().display().to_string();
        let mut args = vec!["rate"];
        let defaults = [
            ("--ratesheet", small("ratesheet.csv")),
            ("--service", "voice".into()),
            ("--currency", "EUR".into()),
            ("--cdrs", small("beta.csv")),
            ("--out", out),
        ];
        let owned: Vec<(String, String)> = defaults
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        for (k, v) in &owned {
            if !extra.contains(&k.as_str()) {
                args.push(k);
                args.push(v);
            }
        }
        args.extend_from_slice(extra);
        iclear(&args)
    }
}

#[test]
fn bad_usage_exits_2() {
    let r = Rate::new();
    for (extra, says) in [
        (vec!["--decimals", "10"], "decimals must be between 0 and 9"),
        (vec!["--decimals", "1"], "less than EUR's minor unit"),
        (vec!["--reporter", "Beta"], "not a carrier id"),
        (vec!["--rounding", "sideways"], "not a rounding mode"),
        (vec!["--service", "fax"], "not a service"),
        (vec!["--currency", "euro"], "not a currency code"),
        (vec!["--format", "asterisk"], "need --orig and --term"),
        (
            vec![
                "--format",
                "asterisk",
                "--orig",
                "alpha",
                "--term",
                "beta",
                "--tz",
                "Mars/Olympus",
            ],
            "not an IANA time zone",
        ),
        (
            vec!["--orig", "alpha"],
            "are for --format asterisk or freeswitch",
        ),
        (vec!["--no-such-flag"], "unexpected argument"),
    ] {
        let o = r.run(&extra);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{extra:?}: {}", stderr(&o));
        assert!(!r.out().exists(), "{extra:?} left output");
    }
    let o = iclear(&[
        "reconcile",
        "--ratesheet",
        "x",
        "--service",
        "voice",
        "--currency",
        "EUR",
        "--payer",
        "alpha",
        "--payee",
        "beta",
        "--payer-cdrs",
        "a",
        "--payee-cdrs",
        "b",
        "--from",
        "2026-11-01",
        "--to",
        "2026-10-01",
        "--out-dir",
        "o",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("must be after --from"));
    let o = iclear(&[
        "reconcile",
        "--ratesheet",
        "x",
        "--service",
        "voice",
        "--currency",
        "EUR",
        "--payer",
        "alpha",
        "--payee",
        "beta",
        "--payer-cdrs",
        "a",
        "--payee-cdrs",
        "b",
        "--from",
        "2026-10-32",
        "--to",
        "2026-11-01",
        "--out-dir",
        "o",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn unreadable_inputs_exit_1_and_write_nothing() {
    let r = Rate::new();
    let missing = r.dir.path().join("nope.csv").display().to_string();
    for flag in ["--cdrs", "--ratesheet"] {
        let o = r.run(&[flag, &missing]);
        assert_eq!(o.status.code(), Some(1), "{flag}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("nope.csv: cannot open"),
            "{}",
            stderr(&o)
        );
        assert!(
            fs::read_dir(r.dir.path()).unwrap().next().is_none(),
            "{flag} left files behind"
        );
    }
    // A CDR file whose header names a column twice is refused whole.
    let cdrs = write(
        r.dir.path(),
        "dup.csv",
        "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units,units\n",
    );
    let o = r.run(&["--cdrs", &cdrs]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("dup.csv: CDR file refused: line 1: column `units` is named twice"),
        "{}",
        stderr(&o)
    );
    assert!(!r.out().exists());
}

#[test]
fn a_bad_ratesheet_lists_every_problem() {
    let r = Rate::new();
    let sheet = write(
        r.dir.path(),
        "bad-rates.csv",
        "prefix,destination,rate,effective_from\n49,Germany,0.01,2026-01-01\n4x,Bad,0.01,2026-01-01\n44,UK,1,5,2026-01-01\n49,Germany,0.02,2026-01-01\n",
    );
    let o = r.run(&["--ratesheet", &sheet]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    for want in [
        "bad-rates.csv: ratesheet refused",
        "3 problem(s)",
        "line 3: prefix `4x`",
        "line 4: 5 fields where the header has 4",
        "line 5: prefix 49 and effective_from",
    ] {
        assert!(e.contains(want), "{want}: {e}");
    }
}

#[test]
fn a_bad_deal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let deal = fs::read_to_string(small("deal.toml")).unwrap();
    let cases = [
        (
            "float.toml",
            deal.replacen("\"0.0020\"", "0.0020", 1),
            "TOML float",
        ),
        (
            "usd.toml",
            deal.replacen("currency = \"EUR\"", "currency = \"USD\"", 1),
            "currency USD differs from the ratesheet's EUR",
        ),
        (
            "noid.toml",
            deal.lines()
                .filter(|l| !l.starts_with("id ="))
                .collect::<Vec<_>>()
                .join("\n"),
            "no `id`",
        ),
        (
            "tiers.toml",
            deal.replacen("{ rate = ", "{ up_to = \"999999\", rate = ", 1),
            "last tier must have no up_to",
        ),
        (
            "typo.toml",
            deal.replacen("shortfall_rate", "shortfal_rate", 1),
            "line 14, column 1: unknown key `shortfal_rate` in commitment[0]",
        ),
    ];
    for (name, text, says) in cases {
        assert_ne!(text, deal, "{name}: the edit must change the deal");
        let path = write(dir.path(), name, &text);
        let out = dir.path().join(format!("out-{name}"));
        let o = iclear(&[
            "reconcile",
            "--ratesheet",
            &small("ratesheet.csv"),
            "--service",
            "voice",
            "--currency",
            "EUR",
            "--payer",
            "alpha",
            "--payee",
            "beta",
            "--payer-cdrs",
            &small("alpha.csv"),
            "--payee-cdrs",
            &small("beta.csv"),
            "--from",
            "2026-10-01",
            "--to",
            "2026-11-01",
            "--deal",
            &path,
            "--out-dir",
            &out.display().to_string(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{name}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(name),
            "the message names the file: {}",
            stderr(&o)
        );
        assert!(!out.exists(), "{name}: output written");
    }
}

#[test]
fn the_rejects_file_is_always_written() {
    let r = Rate::new();
    let cdrs = write(
        r.dir.path(),
        "clean.csv",
        "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units\nR1,voice,alpha,beta,441234567,4930123456,2026-10-01T00:00:00Z,60\n",
    );
    let o = r.run(&["--cdrs", &cdrs]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(r.dir.path().join("rated.rejects.csv")).unwrap(),
        "line,reason,raw\n"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 rows, 1 accepted, 0 rejected"));
}

#[test]
fn each_rounding_mode() {
    let r = Rate::new();
    // 0.0125 per minute for 30 s billed 1/1 is 0.00625: a tie at 4 decimals, and 0.0063…
    // rounds up or down. 31 s is 0.006458333…, not a tie.
    let sheet = write(
        r.dir.path(),
        "r.csv",
        "prefix,destination,rate,effective_from\n39,Italy,0.0125,2026-01-01\n",
    );
    let cdrs = write(
        r.dir.path(),
        "c.csv",
        "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units\n\
         T,voice,alpha,beta,441234567,3906123456,2026-10-01T00:00:00Z,30\n\
         N,voice,alpha,beta,441234567,3906123456,2026-10-01T00:00:00Z,31\n\
         E,voice,alpha,beta,441234567,3906123456,2026-10-01T00:00:00Z,6\n",
    );
    // 6 s: 0.00125 exactly, a tie whose even neighbour is below (0.0012).
    for (mode, tie, non_tie, even_tie) in [
        ("half_up", "0.0063", "0.0065", "0.0013"),
        ("half_even", "0.0062", "0.0065", "0.0012"),
        ("up", "0.0063", "0.0065", "0.0013"),
        ("down", "0.0062", "0.0064", "0.0012"),
    ] {
        let o = r.run(&["--ratesheet", &sheet, "--cdrs", &cdrs, "--rounding", mode]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let rated = fs::read_to_string(r.out()).unwrap();
        let charges: Vec<&str> = rated
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(13).unwrap())
            .collect();
        assert_eq!(charges, [tie, non_tie, even_tie], "{mode}");
    }
}

/// Data as varied as switch exports (`fixtures generate --varied`: numbers and times in
/// every form, a few percent of rejects of every reason) reconciles to exactly what the
/// generator meant: each form means the same number and instant, and each bad row is
/// rejected for the reason it was written with. The same with ids that do not ascend
/// (`--scattered-ids`): each duplicate is still found, and nothing else is one.
#[test]
fn varied_data_reconciles_to_what_the_generator_meant() {
    for ids in [fixtures::Ids::Ascending, fixtures::Ids::Scattered] {
        varied_data_reconciles_with(ids);
    }
}

fn varied_data_reconciles_with(ids: fixtures::Ids) {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = fixtures::generate(
        &fixtures::GenConfig {
            records: 20_000,
            seed: 5,
            variety: fixtures::Variety::Varied,
            ids,
        },
        dir.path(),
    )
    .expect("generate");
    let out = dir.path().join("out");
    let p = |p: &Path| p.display().to_string();
    let o = iclear(&[
        "reconcile",
        "--ratesheet",
        &p(&s.ratesheet),
        "--service",
        "voice",
        "--currency",
        "EUR",
        "--payer",
        "alpha",
        "--payee",
        "beta",
        "--payer-cdrs",
        &p(&s.payer_cdrs),
        "--payee-cdrs",
        &p(&s.payee_cdrs),
        "--from",
        "2026-10-01",
        "--to",
        "2026-11-01",
        "--deal",
        &p(&s.deal),
        "--out-dir",
        &p(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("summary.json")).expect("summary"))
            .expect("JSON");
    let outcomes = &summary["outcomes"];
    let want = s.outcomes;
    for (name, n) in [
        ("matched", want.matched),
        ("units_mismatch", want.units_mismatch),
        ("missing_at_payer", want.missing_at_payer),
        ("missing_at_payee", want.missing_at_payee),
        ("no_rate", want.no_rate),
    ] {
        assert_eq!(outcomes[name].as_u64(), Some(n), "{name}: {summary}");
    }
    assert_eq!(summary["out_of_scope"].as_u64(), Some(s.out_of_scope));

    let mut found = std::collections::BTreeMap::<(String, String), u64>::new();
    let mut rejects = csv::Reader::from_path(out.join("rejects.csv")).expect("rejects");
    for row in rejects.records() {
        let row = row.expect("a rejects row");
        *found
            .entry((row[0].to_string(), row[2].to_string()))
            .or_default() += 1;
    }
    for (side, r) in [("payer", s.payer_rejects), ("payee", s.payee_rejects)] {
        for (reason, n) in [
            ("bad_row", r.bad_row),
            ("bad_service", r.bad_service),
            ("bad_number", r.bad_number),
            ("bad_time", r.bad_time),
            ("bad_units", r.bad_units),
            ("duplicate", r.duplicate),
            ("bad_record_id", r.bad_record_id),
            ("bad_carrier", r.bad_carrier),
            ("not_party", r.not_party),
        ] {
            assert!(n > 0, "{ids:?} {side} {reason}: none written");
            let got = found.remove(&(side.to_string(), reason.to_string()));
            assert_eq!(got, Some(n), "{ids:?} {side} {reason}");
        }
    }
    assert!(
        found.is_empty(),
        "rejects the generator did not write: {found:?}"
    );
}
