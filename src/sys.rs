//! The one module that calls libc directly: signal delivery into the poll loop and local time.
//!
//! Everything else in the crate is `unsafe`-free; each function here keeps its
//! unsafe block to the single libc call it wraps.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

/// Write end of the self-pipe the signal handler reports into (-1: none).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // Only async-signal-safe calls here: save errno, write one byte, restore errno.
        // SAFETY: __errno_location returns this thread's errno slot; write() on a
        // non-blocking pipe with a one-byte stack buffer is async-signal-safe.
        unsafe {
            let errno = *libc::__errno_location();
            let byte = signal as u8;
            libc::write(fd, (&byte as *const u8).cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

/// Routes `signals` to a byte (the signal number) written on `pipe_fd`, which
/// must be the non-blocking write end of a pipe the poll loop reads.
pub fn route_signals_to_pipe(pipe_fd: RawFd, signals: &[libc::c_int]) -> io::Result<()> {
    SIGNAL_PIPE.store(pipe_fd, Ordering::Relaxed);
    for &signal in signals {
        // SAFETY: a zeroed sigaction is valid; we set a plain handler with
        // SA_RESTART and an empty mask, and pass valid pointers.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Broken-down local time of a unix timestamp, with the zone's offset from UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Seconds east of UTC.
    pub utc_offset: i32,
}

/// The local time of `unix` seconds, per the process's TZ setting.
pub fn local_time(unix: i64) -> LocalTime {
    let t = unix as libc::time_t;
    // SAFETY: localtime_r only writes into the tm we own; a zeroed tm is valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return LocalTime {
            year: 1970,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            utc_offset: 0,
        };
    }
    LocalTime {
        year: tm.tm_year + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        utc_offset: tm.tm_gmtoff as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_is_sane() {
        let t = local_time(0);
        assert!(t.year == 1970 || t.year == 1969);
        assert!(t.utc_offset.abs() <= 14 * 3600);
        let later = local_time(1_577_180_478); // 2019-12-24T09:41:18Z
        assert_eq!(later.year, 2019);
        assert_eq!(later.month, 12);
    }
}
