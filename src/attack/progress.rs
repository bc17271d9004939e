//! An optional progress hook for long attack runs: the caller installs it for the duration of a
//! call, the attack engine reports each finished batch of examples. A hook on the calling thread
//! rather than a parameter of every attack, so attacks stay plain configurations.

use std::cell::RefCell;

type Hook = Box<dyn Fn(usize, usize)>;

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Runs `f` with `hook(examples done, examples in the call)` called after every batch an attack
/// finishes on this thread.
pub fn with_progress<T>(hook: impl Fn(usize, usize) + 'static, f: impl FnOnce() -> T) -> T {
    let previous = HOOK.with(|h| h.replace(Some(Box::new(hook))));
    let out = f();
    HOOK.with(|h| *h.borrow_mut() = previous);
    out
}

/// Tells the installed hook, if any.
pub(crate) fn report(done: usize, total: usize) {
    HOOK.with(|h| {
        if let Some(hook) = h.borrow().as_ref() {
            hook(done, total);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn the_hook_sees_reports_only_while_installed() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        report(1, 9); // no hook: nothing happens
        with_progress(
            move |d, t| log.lock().unwrap().push((d, t)),
            || {
                report(2, 4);
                report(4, 4);
            },
        );
        report(5, 9);
        assert_eq!(*seen.lock().unwrap(), vec![(2, 4), (4, 4)]);
    }
}
