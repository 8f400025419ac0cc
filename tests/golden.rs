//! Golden cases: every folder under `fixtures/small/expected/` holds an `args` file (one
//! argument a line, `{OUT}` for the output directory) and the files the command must write,
//! byte for byte. Expected files were worked out by hand (see `fixtures/small/README.md`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The first line where two texts differ, for a message that points at it.
fn first_difference(want: &str, got: &str) -> String {
    for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        if w != g {
            return format!("line {}:\n  want: {w}\n  got:  {g}", i + 1);
        }
    }
    format!(
        "the files agree for {} lines, then one of them ends (want {} lines, got {})",
        want.lines().count().min(got.lines().count()),
        want.lines().count(),
        got.lines().count()
    )
}

fn check_case(case: &Path) -> Result<(), String> {
    let out = tempfile::tempdir().map_err(|e| e.to_string())?;
    let args_text = fs::read_to_string(case.join("args")).map_err(|e| e.to_string())?;
    let args: Vec<String> = args_text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|l| {
            let l = l.replace("{OUT}", &out.path().display().to_string());
            let mut parts: Vec<String> = Vec::new();
            match l.split_once(' ') {
                Some((flag, value)) => {
                    parts.push(flag.to_string());
                    parts.push(value.to_string());
                }
                None => parts.push(l),
            }
            parts
        })
        .collect();
    let run = Command::new(env!("CARGO_BIN_EXE_iclear"))
        .args(&args)
        .current_dir(root())
        .output()
        .map_err(|e| e.to_string())?;
    if !run.status.success() {
        return Err(format!(
            "exit {:?}: {}",
            run.status.code(),
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    let mut expected: Vec<String> = fs::read_dir(case)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n != "args")
        .collect();
    expected.sort();
    let mut written: Vec<String> = fs::read_dir(out.path())
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    written.sort();
    if expected != written {
        return Err(format!("wrote {written:?}, expected {expected:?}"));
    }
    for name in &expected {
        let want = fs::read(case.join(name)).map_err(|e| e.to_string())?;
        let got = fs::read(out.path().join(name)).map_err(|e| e.to_string())?;
        if want != got {
            return Err(format!(
                "{name}: {}",
                first_difference(
                    &String::from_utf8_lossy(&want),
                    &String::from_utf8_lossy(&got)
                )
            ));
        }
    }
    Ok(())
}

#[test]
fn every_golden_case() {
    let dir = root().join("fixtures/small/expected");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("fixtures/small/expected exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("args").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 4, "golden cases missing: {cases:?}");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check_case(c).err().map(|e| format!("{}: {e}", c.display())))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
