//! Long work in bounded slices: between slices, latency-critical services (the TWAMP and UDP echo reflectors) answer what waits.
//!
//! The loop is single-threaded, so a 10,000-parameter GetParameterValues or
//! an 8 MiB download would make every socket wait until it is done. Code
//! doing such work calls [`pause_point`] once per item (parameter, chunk);
//! when a slice ([`SLICE`]) has passed since the urgent handlers last ran,
//! they run there and then: each reads its sockets until they are empty
//! (bounded) and answers, without waiting on anything. Services offer a
//! handler through `Service::urgent`; the daemon installs them with
//! [`install`]. After a quiet spell the first pause point serves at once. The work itself is not reordered, so nothing it does can
//! observe the pause.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Work that must not wait behind long work.
pub trait Urgent {
    /// Serves waiting packets now, never blocking and with a bounded amount of work.
    fn serve_now(&mut self);
}

/// An urgent handler shared between its service and this module.
pub type SharedUrgent = Rc<RefCell<dyn Urgent>>;

/// How long long work runs before the urgent handlers get their turn.
pub const SLICE: Duration = Duration::from_micros(100);

struct Slices {
    handlers: Vec<SharedUrgent>,
    last_served: Option<Instant>,
}

thread_local! {
    static SLICES: RefCell<Slices> = const {
        RefCell::new(Slices {
            handlers: Vec::new(),
            last_served: None,
        })
    };
}

/// Replaces the urgent handlers (the daemon's services offer them).
pub fn install(handlers: Vec<SharedUrgent>) {
    SLICES.with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            s.handlers = handlers;
            s.last_served = None;
        }
    });
}

/// A point where long work may pause: once a slice has passed, runs the
/// urgent handlers. Cheap when nothing is due (one monotonic clock read,
/// which items of long work may take tens of microseconds each to justify).
pub fn pause_point() {
    let due: Vec<SharedUrgent> = SLICES.with(|s| {
        let Ok(mut s) = s.try_borrow_mut() else {
            return Vec::new();
        };
        if s.handlers.is_empty() {
            return Vec::new();
        }
        let now = Instant::now();
        if s.last_served.is_some_and(|t| now.duration_since(t) < SLICE) {
            return Vec::new();
        }
        s.last_served = Some(now);
        s.handlers.clone()
    });
    for handler in due {
        // A handler already running (the pause point is inside it) is skipped.
        if let Ok(mut handler) = handler.try_borrow_mut() {
            handler.serve_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u32);

    impl Urgent for Counter {
        fn serve_now(&mut self) {
            self.0 += 1;
        }
    }

    #[test]
    fn handlers_run_once_a_slice_has_passed() {
        let counter = Rc::new(RefCell::new(Counter(0)));
        install(vec![counter.clone()]);
        pause_point();
        assert_eq!(counter.borrow().0, 1, "the first pause point serves");
        pause_point();
        assert_eq!(counter.borrow().0, 1, "the slice has not passed yet");
        std::thread::sleep(SLICE * 2);
        pause_point();
        assert_eq!(counter.borrow().0, 2);
        // A handler that is running is not entered again.
        let guard = counter.borrow_mut();
        std::thread::sleep(SLICE * 2);
        pause_point();
        drop(guard);
        assert_eq!(counter.borrow().0, 2);
        install(Vec::new());
    }
}
