//! Which probe bodies run for each probe of the session. The session's probe table comes
//! from the host (`pp()` spellings, with globs expanded and paths made absolute); each
//! entry runs the bodies of the script's probe points that match it.

use crate::ast::{Literal, ProbePoint};
use crate::{PointKind, Script};

/// For each probe of the session, the indices of the script's `probe` clauses to run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Binding {
    pub bodies: Vec<Vec<usize>>,
    /// Said once to the user: events of probes that no probe point names (a replayed file
    /// recorded with other probes) and what runs for them.
    pub notes: Vec<String>,
}

/// `*`, `?` and `[…]` globs, as the probe points' strings take them.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some('[') => {
                let Some(close) = p.iter().position(|c| *c == ']') else {
                    return t.first() == Some(&'[') && go(&p[1..], &t[1..]);
                };
                let Some(c) = t.first() else { return false };
                let set = &p[1..close];
                let (neg, set) = match set.first() {
                    Some('!') | Some('^') => (true, &set[1..]),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != neg && go(&p[close + 1..], &t[1..])
            }
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether the script's probe point `want` names the session's probe `got`.
pub fn point_matches(want: &ProbePoint, got: &ProbePoint) -> bool {
    if want.components.len() != got.components.len() {
        return false;
    }
    want.components.iter().zip(&got.components).all(|(w, g)| {
        if !glob(&w.name, &g.name) {
            return false;
        }
        match (&w.arg, &g.arg) {
            (None, None) => true,
            (Some(Literal::Num(a)), Some(Literal::Num(b))) => a == b,
            (Some(Literal::Str(a)), Some(Literal::Str(b))) if w.name == "process" => {
                // The host makes paths absolute and finds commands in $PATH.
                a == b || file_name(a) == file_name(b)
            }
            (Some(Literal::Str(a)), Some(Literal::Str(b))) => glob(a, b),
            _ => false,
        }
    })
}

/// Binds the session's probes (their `pp()` spellings) to the script's probe clauses.
pub fn bind(script: &Script, pps: &[&str]) -> Result<Binding, String> {
    let events: Vec<usize> =
        script.points().iter().filter(|p| p.kind == PointKind::Event).map(|p| p.probe).collect::<Vec<_>>();
    let mut distinct = events.clone();
    distinct.dedup();
    let mut binding = Binding::default();
    let mut unmatched = Vec::new();
    for pp in pps {
        let got = crate::parse_point(pp);
        let mut bodies = Vec::new();
        if let Some(got) = &got {
            for p in script.points() {
                if p.kind == PointKind::Event && point_matches(&script.point_ast(p), got) && !bodies.contains(&p.probe)
                {
                    bodies.push(p.probe);
                }
            }
        }
        if bodies.is_empty() {
            unmatched.push(*pp);
        }
        binding.bodies.push(bodies);
    }
    if unmatched.is_empty() {
        return Ok(binding);
    }
    if unmatched.len() < pps.len() {
        // Some probes are the script's: the others are not, and their events are skipped.
        binding
            .notes
            .push(format!("no probe point of the script names {}: its events are skipped", unmatched.join(", ")));
        return Ok(binding);
    }
    match distinct.as_slice() {
        // None of the probes is the script's, and it has one event body: a file recorded
        // from other probes replays through it, as a handler component runs on every probe
        // it is given.
        [only] => {
            for b in binding.bodies.iter_mut().filter(|b| b.is_empty()) {
                b.push(*only);
            }
            let pp = script.points().iter().find(|p| p.probe == *only).map(|p| p.text.clone()).unwrap_or_default();
            binding.notes.push(format!(
                "{} is not one of the script's probe points; its events run the body of {pp}",
                unmatched.join(", ")
            ));
            Ok(binding)
        }
        [] => Ok(binding),
        _ => Err(format!(
            "the events of {} match none of the script's probe points ({}), and the script has several probe bodies to choose from",
            unmatched.join(", "),
            script
                .points()
                .iter()
                .filter(|p| p.kind == PointKind::Event)
                .map(|p| p.text.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
