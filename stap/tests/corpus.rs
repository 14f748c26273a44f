//! The conformance corpus: `corpus/NAME.stp` must print exactly `corpus/NAME.out` (its
//! output, then `WARNING:` lines, then `ERROR: …` if it fails; for a script that does not
//! parse or check, the report). Written from SystemTap's language reference and checked by
//! hand. A first line `# args: A B` gives `$1`/`@1`.

mod common;
use std::fs;
use std::path::Path;

fn outcome(src: &str) -> String {
    let args: Vec<&str> = src
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# args:"))
        .map(|a| a.split_whitespace().collect())
        .unwrap_or_default();
    match common::run(src, &args, &[]) {
        Err(report) => report,
        Ok(o) => {
            let mut s = o.out + &o.err;
            if let Some(e) = o.error {
                s += &format!("ERROR: {e}\n");
            }
            s
        }
    }
}

#[test]
fn corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".stp").map(str::to_string))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "the corpus went missing: {names:?}");
    let mut failures = Vec::new();
    for name in &names {
        let src = fs::read_to_string(dir.join(format!("{name}.stp"))).unwrap();
        let got = outcome(&src);
        let out = dir.join(format!("{name}.out"));
        // A new script's expected output is written once for review (`STAP_BLESS_NEW=1`);
        // existing ones are never rewritten.
        if !out.exists() && std::env::var_os("STAP_BLESS_NEW").is_some() {
            fs::write(&out, &got).unwrap();
        }
        let want = fs::read_to_string(&out).unwrap_or_else(|_| panic!("{name}.stp has no {name}.out"));
        if got != want {
            failures.push(format!("--- {name}: expected\n{want}--- got\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} scripts differ:\n{}", failures.len(), names.len(), failures.join("\n"));
}
