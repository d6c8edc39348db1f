//! Work in progress on this core: TFTP transfers running and HTTP requests being answered.
//! A task that would spin instead of sleeping (a lone TFTP client's ACK, [`crate::tftp`])
//! asks whether it is the only one, so spinning never takes the core from other work.

use std::cell::Cell;

thread_local! {
    static BUSY: Cell<usize> = const { Cell::new(0) };
}

/// Counts one piece of work on this core while it lives.
pub(crate) struct Busy(());

impl Busy {
    pub(crate) fn start() -> Busy {
        BUSY.with(|b| b.set(b.get() + 1));
        Busy(())
    }

    /// Whether this is the only work on the core.
    pub(crate) fn alone(&self) -> bool {
        BUSY.with(Cell::get) == 1
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.with(|b| b.set(b.get().saturating_sub(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alone_until_a_second_piece_of_work_starts() {
        let first = Busy::start();
        assert!(first.alone());
        let second = Busy::start();
        assert!(!first.alone());
        drop(second);
        assert!(first.alone());
    }
}
