//! Where log lines go: stderr, one `write` per line, except while a batch of boot events is
//! logged. Under load every served request is a line; written one by one, each `write` wakes
//! whatever reads stderr (journald, a pipe); on a one-core server the thread that logs them
//! took 14 % of the samples of an HTTP load (its neighbour-table reads included). A batch's
//! lines go out in one `write` when it is logged.

use std::cell::RefCell;
use std::io::{self, Write};

thread_local! {
    /// The lines of the batch this thread is logging, if it is logging one.
    static HELD: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// The log's writer (`tracing_subscriber::fmt().with_writer(|| logging::Stderr)`).
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        HELD.with_borrow_mut(|held| match held {
            Some(lines) => {
                lines.extend_from_slice(buf);
                Ok(buf.len())
            }
            None => io::stderr().write(buf),
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Runs `log`, and writes the lines it logged on this thread to stderr in one piece after it,
/// also if it panics. Inside another batch, the lines join that batch's piece.
pub fn in_one_write<R>(log: impl FnOnce() -> R) -> R {
    if HELD.with_borrow(Option::is_some) {
        return log();
    }
    struct Release;
    impl Drop for Release {
        fn drop(&mut self) {
            if let Some(lines) = HELD.take().filter(|l| !l.is_empty()) {
                // Like a line that fails to write unheld: a log that cannot be written is lost.
                let _ = io::stderr().write_all(&lines);
            }
        }
    }
    HELD.set(Some(Vec::new()));
    let _release = Release;
    log()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_logged_in_a_batch_are_held_until_it_ends() {
        in_one_write(|| {
            Stderr.write_all(b"one\n").unwrap();
            Stderr.write_all(b"two\n").unwrap();
            let held = HELD.with_borrow(|h| h.clone());
            assert_eq!(held.as_deref(), Some(&b"one\ntwo\n"[..]));
        });
        assert_eq!(HELD.with_borrow(|h| h.clone()), None);
    }

    #[test]
    fn a_batch_inside_a_batch_keeps_the_outer_lines() {
        in_one_write(|| {
            Stderr.write_all(b"outer\n").unwrap();
            in_one_write(|| Stderr.write_all(b"inner\n").unwrap());
            let held = HELD.with_borrow(|h| h.clone());
            assert_eq!(held.as_deref(), Some(&b"outer\ninner\n"[..]));
        });
        assert_eq!(HELD.with_borrow(|h| h.clone()), None);
    }
}
