//! Run-time storage: globals, arrays and their keys.

use crate::stats::Stat;
use indexmap::IndexMap;
use rustc_hash::FxBuildHasher;

/// One key column's value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KPart {
    I(i64),
    S(String),
}

/// A whole key: arrays with one long key (the common `a[pid()]`) use a map keyed by i64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyVal {
    I(i64),
    G(Vec<KPart>),
}

impl KeyVal {
    pub fn part(&self, i: usize) -> KPart {
        match self {
            KeyVal::I(v) => KPart::I(*v),
            KeyVal::G(parts) => parts[i].clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub enum AVal {
    L(i64),
    S(String),
    T(Stat),
}

#[derive(Debug)]
enum Store {
    Int(IndexMap<i64, AVal, FxBuildHasher>),
    Gen(IndexMap<Vec<KPart>, AVal, FxBuildHasher>),
}

/// An associative array, in insertion order (SystemTap's unsorted `foreach` order is its
/// hash table's; insertion order is a deterministic stand-in).
#[derive(Debug)]
pub struct Array {
    store: Store,
    pub max: usize,
}

pub struct Overflow;

impl Array {
    pub fn new(int_keyed: bool, max: usize) -> Self {
        let store = if int_keyed { Store::Int(IndexMap::default()) } else { Store::Gen(IndexMap::default()) };
        Self { store, max }
    }

    pub fn get(&self, k: &KeyVal) -> Option<&AVal> {
        match (&self.store, k) {
            (Store::Int(m), KeyVal::I(i)) => m.get(i),
            (Store::Gen(m), KeyVal::G(parts)) => m.get(parts.as_slice()),
            _ => unreachable!("key shape checked at compile time"),
        }
    }

    /// The element, created with `init` when absent (with a copy of the key); fails when the
    /// array is full.
    #[inline]
    pub fn entry(&mut self, k: &KeyVal, init: impl FnOnce() -> AVal) -> Result<&mut AVal, Overflow> {
        let max = self.max;
        if let KeyVal::I(i) = k {
            return self.int_entry(*i, init);
        }
        match (&mut self.store, k) {
            (Store::Gen(m), KeyVal::G(parts)) => {
                if let Some(i) = m.get_index_of(parts.as_slice()) {
                    return Ok(&mut m[i]);
                }
                if m.len() >= max {
                    return Err(Overflow);
                }
                let (i, _) = m.insert_full(parts.clone(), init());
                Ok(&mut m[i])
            }
            _ => unreachable!("key shape checked at compile time"),
        }
    }

    /// [`Array::entry`] of an array keyed by one long, without building a [`KeyVal`]: the
    /// per-event path of `a[pid()] <<< x` and `a[pid()]++`.
    #[inline]
    pub fn int_entry(&mut self, k: i64, init: impl FnOnce() -> AVal) -> Result<&mut AVal, Overflow> {
        let Store::Int(m) = &mut self.store else { unreachable!("key shape checked at compile time") };
        let len = m.len();
        match m.entry(k) {
            indexmap::map::Entry::Occupied(o) => Ok(o.into_mut()),
            indexmap::map::Entry::Vacant(_) if len >= self.max => Err(Overflow),
            indexmap::map::Entry::Vacant(v) => Ok(v.insert(init())),
        }
    }

    pub fn remove(&mut self, k: &KeyVal) {
        match (&mut self.store, k) {
            (Store::Int(m), KeyVal::I(i)) => {
                m.shift_remove(i);
            }
            (Store::Gen(m), KeyVal::G(parts)) => {
                m.shift_remove(parts.as_slice());
            }
            _ => unreachable!("key shape checked at compile time"),
        }
    }

    pub fn clear(&mut self) {
        match &mut self.store {
            Store::Int(m) => m.clear(),
            Store::Gen(m) => m.clear(),
        }
    }

    /// Every (key, value), in insertion order, for `foreach`.
    pub fn snapshot(&self) -> Vec<(KeyVal, AVal)> {
        match &self.store {
            Store::Int(m) => m.iter().map(|(k, v)| (KeyVal::I(*k), v.clone())).collect(),
            Store::Gen(m) => m.iter().map(|(k, v)| (KeyVal::G(k.clone()), v.clone())).collect(),
        }
    }
}

#[derive(Debug)]
pub enum GVal {
    L(i64),
    S(String),
    T(Stat),
    A(Array),
}
