//! The value current on this thread while a closure runs: how the futures in [`crate::task`],
//! which get only a `Context`, reach the loop that is polling them.
//!
//! [`enter`] lends the thread a `&mut` for exactly as long as its closure runs: the closure
//! cannot use that borrow itself, and a guard clears the thread-local when the closure
//! returns or unwinds, so the pointer is never used after the borrow ends. [`with`] takes
//! the pointer out of the thread-local while its own closure runs, so there is never more
//! than one `&mut` made from it; a nested [`with`] finds nothing.

use std::any::Any;
use std::cell::Cell;
use std::ptr::NonNull;

type Current = Option<NonNull<dyn Any>>;

thread_local! {
    static CURRENT: Cell<Current> = const { Cell::new(None) };
}

/// Sets the thread-local and puts the previous value back on drop, unwinding included.
struct Replaced {
    previous: Current,
}

impl Replaced {
    fn new(value: Current) -> Self {
        Replaced {
            previous: CURRENT.with(|current| current.replace(value)),
        }
    }
}

impl Drop for Replaced {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.previous));
    }
}

/// Runs `f` with `value` current on this thread.
pub(crate) fn enter<T: Any, R>(value: &mut T, f: impl FnOnce() -> R) -> R {
    let _current = Replaced::new(Some(NonNull::from(value as &mut dyn Any)));
    f()
}

/// Runs `f` with nothing current on this thread.
pub(crate) fn outside<R>(f: impl FnOnce() -> R) -> R {
    let _current = Replaced::new(None);
    f()
}

/// Runs `f` with the current value, if there is one and it is a `T`.
pub(crate) fn with<T: Any, R>(f: impl FnOnce(&mut T) -> R) -> Option<R> {
    let taken = Replaced::new(None);
    let mut value = taken.previous?;
    // SAFETY: the pointer was made from the `&mut` lent to an `enter` that is still running
    // (its guard removes the pointer before `enter` returns), whose closure cannot use that
    // borrow; and the pointer is out of the thread-local until this call returns, so this is
    // the only reference made from it meanwhile.
    let value = unsafe { value.as_mut() };
    value.downcast_mut().map(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_only_inside_enter() {
        assert_eq!(with(|n: &mut u32| *n), None);
        let mut n = 1u32;
        enter(&mut n, || {
            assert_eq!(with(|n: &mut u32| std::mem::replace(n, 2)), Some(1));
            assert_eq!(with(|_: &mut u64| ()), None, "a value of another type");
            outside(|| assert_eq!(with(|n: &mut u32| *n), None));
            assert_eq!(with(|n: &mut u32| *n), Some(2), "back after `outside`");
        });
        assert_eq!(n, 2);
        assert_eq!(with(|n: &mut u32| *n), None);
    }

    #[test]
    fn nested_with_finds_nothing() {
        let mut n = 1u32;
        enter(&mut n, || {
            let nested = with(|_: &mut u32| with(|n: &mut u32| *n));
            assert_eq!(nested, Some(None));
            assert_eq!(
                with(|n: &mut u32| *n),
                Some(1),
                "back after the outer `with`"
            );
        });
    }

    #[test]
    fn a_panic_clears_the_current_value() {
        let mut n = 1u32;
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            enter(&mut n, || with(|_: &mut u32| panic!("inside")))
        }));
        assert!(unwound.is_err());
        assert_eq!(with(|n: &mut u32| *n), None);
    }

    #[test]
    fn enter_inside_with_restores_the_outer_value() {
        let (mut outer, mut inner) = (1u32, 2u32);
        enter(&mut outer, || {
            with(|_: &mut u32| {
                enter(&mut inner, || assert_eq!(with(|n: &mut u32| *n), Some(2)));
                assert_eq!(
                    with(|n: &mut u32| *n),
                    None,
                    "still inside the outer `with`"
                );
            });
            assert_eq!(with(|n: &mut u32| *n), Some(1));
        });
    }
}
