//! Shared text for the fields that repeat from event to event: the host, the process image and
//! the user. Events hold them as `Arc<str>`, made once per distinct value and thread, so an
//! event kept as evidence does not carry its own copies, and normalising an event allocates
//! none for them once their values have been seen.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;

/// Distinct values remembered per thread; past this the set starts over (a fleet has fewer
/// hosts, images and users than this in any stretch of its logs).
const MAX_VALUES: usize = 16_384;

/// Values longer than this are not remembered (a command line pasted into an odd field).
const MAX_LEN: usize = 512;

thread_local! {
    // Seeded at random, as the detectors' tables are, so no input can choose its collisions.
    static VALUES: RefCell<HashSet<Arc<str>, foldhash::fast::RandomState>> = RefCell::new(HashSet::default());
}

/// `text` as shared text: the value made earlier on this thread when there is one.
pub fn shared(text: &str) -> Arc<str> {
    if text.len() > MAX_LEN {
        return Arc::from(text);
    }
    VALUES.with(|values| {
        let mut values = values.borrow_mut();
        if let Some(value) = values.get(text) {
            return value.clone();
        }
        if values.len() >= MAX_VALUES {
            values.clear();
        }
        let value: Arc<str> = Arc::from(text);
        values.insert(value.clone());
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_values_are_one_allocation() {
        let a = shared("C:\\Windows\\System32\\svchost.exe");
        let b = shared("C:\\Windows\\System32\\svchost.exe");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "C:\\Windows\\System32\\svchost.exe");
        let other = shared("C:\\Windows\\explorer.exe");
        assert!(!Arc::ptr_eq(&a, &other));
    }

    #[test]
    fn long_values_and_a_full_set_still_give_the_text() {
        let long = "x".repeat(MAX_LEN + 1);
        assert_eq!(&*shared(&long), long);
        for i in 0..MAX_VALUES + 10 {
            assert_eq!(&*shared(&format!("host-{i}")), format!("host-{i}"));
        }
        VALUES.with(|v| assert!(v.borrow().len() <= MAX_VALUES));
    }
}
