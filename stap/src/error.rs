//! Errors in SystemTap's style: the kind, the message, the token and where it is, the
//! source line and a caret under the column.

use core::fmt;

/// A position in the script, both counting from 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiagKind {
    Parse,
    Semantic,
}

/// A parse or semantic error, found before anything runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    pub kind: DiagKind,
    pub message: String,
    /// What the error is at, as SystemTap words it: `identifier 'x'`, `operator '+'`.
    pub at: Option<String>,
    pub pos: Pos,
}

impl Diag {
    pub fn parse(message: impl Into<String>, pos: Pos) -> Self {
        Self { kind: DiagKind::Parse, message: message.into(), at: None, pos }
    }

    pub fn semantic(message: impl Into<String>, at: impl Into<String>, pos: Pos) -> Self {
        Self { kind: DiagKind::Semantic, message: message.into(), at: Some(at.into()), pos }
    }

    pub fn with_at(mut self, at: impl Into<String>) -> Self {
        self.at = Some(at.into());
        self
    }

    /// The full report: `semantic error: …`, the token and location, the source line and
    /// a caret. `file` is `<input>` for `-e`, else the script's path.
    pub fn render(&self, src: &str, file: &str) -> String {
        let kind = match self.kind {
            DiagKind::Parse => "parse",
            DiagKind::Semantic => "semantic",
        };
        let mut s = format!("{kind} error: {}\n", self.message);
        let at = self.at.as_deref().map(|a| format!("{a} at ")).unwrap_or_default();
        s += &format!("        at: {at}{file}:{}:{}\n", self.pos.line, self.pos.col);
        if let Some(line) = src.lines().nth(self.pos.line.saturating_sub(1) as usize) {
            // Tabs stay tabs under the caret, so that it lines up in a terminal.
            let pad: String = line
                .chars()
                .take(self.pos.col.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            s += &format!("     source: {line}\n");
            s += &format!("             {pad}^\n");
        }
        s
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            DiagKind::Parse => "parse",
            DiagKind::Semantic => "semantic",
        };
        write!(f, "{kind} error: {}", self.message)?;
        if let Some(at) = &self.at {
            write!(f, ": {at}")?;
        }
        write!(f, " at {}:{}", self.pos.line, self.pos.col)
    }
}

impl std::error::Error for Diag {}

/// A runtime error: it ends the session, as SystemTap's `ERROR:` does.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} near {near} at {file}:{}:{} in probe {probe}", pos.line, pos.col)]
pub struct RunError {
    pub message: String,
    /// The token the error happened at: `operator '/'`, `identifier 'a'`.
    pub near: String,
    pub pos: Pos,
    pub file: String,
    /// The probe point whose body was running (`begin`, `kprobe.function("f")`, …).
    pub probe: String,
}
