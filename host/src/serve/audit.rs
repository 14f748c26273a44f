//! The audit log: one JSON line per decision (who attached what and when, every refusal
//! with its rule, every end), appended to `server.audit_log` and also said on stderr.

use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

pub struct Audit {
    file: Option<Mutex<File>>,
}

/// Who acted, and on which session: the part of an audit line that stays the same.
#[derive(Clone, Copy, Serialize)]
pub struct Who<'a> {
    pub uid: u32,
    pub pid: u32,
    pub tenant: Option<&'a str>,
    pub session: Option<u64>,
    pub handler: Option<&'a str>,
}

impl Audit {
    pub fn open(path: Option<&Path>) -> std::io::Result<Audit> {
        let file = match path {
            Some(p) => Some(Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(p)?)),
            None => None,
        };
        Ok(Audit { file })
    }

    /// One line: `event` (attached, refused, ended, failed, stop) by `who`, on `probes`;
    /// `rule` names the rule of a refusal.
    pub fn log(&self, event: &str, who: &Who<'_>, probes: &[String], rule: Option<&str>, detail: Option<&str>) {
        #[derive(Serialize)]
        struct Line<'a> {
            time_unix_ms: u128,
            event: &'a str,
            #[serde(flatten)]
            who: &'a Who<'a>,
            probes: &'a [String],
            rule: Option<&'a str>,
            detail: Option<&'a str>,
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let Ok(mut line) =
            serde_json::to_vec(&Line { time_unix_ms: now.as_millis(), event, who, probes, rule, detail })
        else {
            return;
        };
        line.push(b'\n');
        if let Some(f) = &self.file {
            let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
            // An audit line that cannot be written is said on stderr below all the same.
            let _ = f.write_all(&line);
        }
        let _ = std::io::stderr().write_all(&[b"wprobe serve: audit: ".as_slice(), &line].concat());
    }
}
