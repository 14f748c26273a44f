//! Value types, inferred as SystemTap does: every variable is a long, a string or (globals
//! only) a statistics aggregate.

use core::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Unknown,
    Long,
    Str,
    Stat,
    /// Functions called for their effect (`printf`, `exit`).
    Void,
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ty::Unknown => "unknown",
            Ty::Long => "long",
            Ty::Str => "string",
            Ty::Stat => "stats",
            Ty::Void => "void",
        })
    }
}
