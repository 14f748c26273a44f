//! The output and control imports, in one place so that native unit tests can stand in for
//! the host (the generated import stubs are `unreachable!()` off wasm).

pub use imp::*;

#[cfg(not(test))]
mod imp {
    use crate::bindings::wprobe::probe::context as ctx;

    pub fn printf(text: &str) {
        ctx::printf(text)
    }
    pub fn warn(text: &str) {
        ctx::warn(text)
    }
    pub fn exit() {
        ctx::exit()
    }
    pub fn next() -> bool {
        ctx::next()
    }
}

#[cfg(test)]
pub mod imp {
    use std::cell::RefCell;

    /// What a test's handler sent to the "host".
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Sent {
        Printf(String),
        Warn(String),
        Exit,
        /// `next()`: the runtime moved the host's cursor.
        Next,
    }

    thread_local! {
        static SENT: RefCell<Vec<Sent>> = const { RefCell::new(Vec::new()) };
    }

    pub fn take() -> Vec<Sent> {
        SENT.with_borrow_mut(std::mem::take)
    }

    pub fn printf(text: &str) {
        SENT.with_borrow_mut(|s| s.push(Sent::Printf(text.into())))
    }
    pub fn warn(text: &str) {
        SENT.with_borrow_mut(|s| s.push(Sent::Warn(text.into())))
    }
    pub fn exit() {
        SENT.with_borrow_mut(|s| s.push(Sent::Exit))
    }
    pub fn next() -> bool {
        SENT.with_borrow_mut(|s| s.push(Sent::Next));
        true
    }
}
