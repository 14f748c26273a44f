//! Compiled components are cached by content and engine.

use super::*;
use wprobe::sandbox::CacheOutcome;

#[test]
fn second_load_comes_from_the_cache_and_a_damaged_entry_is_rebuilt() {
    let dir = scratch_dir("component-cache");
    let rt = Runtime::new(RuntimeConfig { cache_dir: Some(dir.clone()), ..Default::default() }).unwrap();
    let path = handler("count");
    assert_eq!(rt.load(&path).unwrap().cache_outcome(), CacheOutcome::Compiled);
    assert_eq!(rt.load(&path).unwrap().cache_outcome(), CacheOutcome::Hit);

    // A fresh runtime (a second `wprobe` start) hits too.
    let rt2 = Runtime::new(RuntimeConfig { cache_dir: Some(dir.clone()), ..Default::default() }).unwrap();
    let loaded = rt2.load(&path).unwrap();
    assert_eq!(loaded.cache_outcome(), CacheOutcome::Hit);
    let mut h = rt2.start(&loaded, &session(&[]), Limits::default()).unwrap();
    run_records(&mut h, Arch::X86_64, &[seed_entry(1, 0)], 1).result.unwrap();

    // Damage every entry: the next load recompiles instead of failing.
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    assert_eq!(rt2.load(&path).unwrap().cache_outcome(), CacheOutcome::Compiled);

    // Other content, other entry.
    assert_eq!(rt2.load(&handler("regs")).unwrap().cache_outcome(), CacheOutcome::Compiled);
}
