//! A report's `needs`: what a receiver misses, as few runs of chunks as fit a report.
//!
//! The sender serves the neediest receiver of each chunk, so a run may ask for more than
//! some of its chunks miss (rounded up to the run's worst chunk), never less.

use crate::manifest::{Need, MAX_NEEDS};

/// Runs of `missing` (`(chunk, symbols)` in increasing chunk order, chunks that miss
/// nothing left out), at most [`MAX_NEEDS`] of them.
pub fn needs(missing: impl IntoIterator<Item = (u32, u16)>) -> Vec<Need> {
    let mut runs: Vec<Need> = Vec::new();
    for (chunk, symbols) in missing {
        match runs.last_mut() {
            Some(run) if run.last.checked_add(1) == Some(chunk) && run.symbols == symbols => {
                run.last = chunk;
            }
            _ => runs.push(Need {
                first: chunk,
                last: chunk,
                symbols,
            }),
        }
    }
    merge_to(runs, MAX_NEEDS)
}

/// Symbols the sender would send needlessly if runs `a` and `b` (`a` before `b`) were one.
fn merge_cost(a: &Need, b: &Need) -> u64 {
    let top = u64::from(a.symbols.max(b.symbols));
    let span = |n: &Need| u64::from(n.last - n.first) + 1;
    let gap = u64::from(b.first - a.last - 1);
    gap * top + span(a) * (top - u64::from(a.symbols)) + span(b) * (top - u64::from(b.symbols))
}

/// Joins neighbouring runs, cheapest joins first, until at most `max` remain.
fn merge_to(runs: Vec<Need>, max: usize) -> Vec<Need> {
    if runs.len() <= max {
        return runs;
    }
    // The joins to make: the `len - max` cheapest boundaries between runs (each costed as if
    // alone: after a chain of joins the real cost is a little higher, which only matters to
    // the sender's bandwidth, never to correctness).
    let mut boundaries: Vec<(u64, usize)> = runs
        .windows(2)
        .enumerate()
        .map(|(i, pair)| (merge_cost(&pair[0], &pair[1]), i))
        .collect();
    boundaries.sort_unstable();
    let mut join = vec![false; runs.len()];
    for &(_, i) in &boundaries[..runs.len() - max] {
        join[i] = true;
    }
    let mut merged: Vec<Need> = Vec::with_capacity(max);
    let mut joining = false;
    for (run, join_next) in runs.into_iter().zip(join) {
        match merged.last_mut() {
            Some(last) if joining => {
                last.last = run.last;
                last.symbols = last.symbols.max(run.symbols);
            }
            _ => merged.push(run),
        }
        joining = join_next;
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(first: u32, last: u32, symbols: u16) -> Need {
        Need {
            first,
            last,
            symbols,
        }
    }

    #[test]
    fn neighbours_missing_alike_share_a_run() {
        let missing = [(0, 5), (1, 5), (2, 7), (4, 7), (5, 7), (9, 512)];
        assert_eq!(
            needs(missing),
            vec![need(0, 1, 5), need(2, 2, 7), need(4, 5, 7), need(9, 9, 512)]
        );
        assert!(needs([]).is_empty());
    }

    #[test]
    fn too_many_runs_are_joined_where_it_wastes_least() {
        let runs = vec![
            need(0, 0, 3),
            need(1, 1, 4),    // joined to the first: costs 1 symbol
            need(10, 10, 4),  // 8 empty chunks away: costs 32
            need(20, 20, 50), // costs 46 + 9 * 50
        ];
        assert_eq!(
            merge_to(runs.clone(), 3),
            vec![need(0, 1, 4), need(10, 10, 4), need(20, 20, 50)]
        );
        assert_eq!(
            merge_to(runs.clone(), 2),
            vec![need(0, 10, 4), need(20, 20, 50)]
        );
        assert_eq!(merge_to(runs, 1), vec![need(0, 20, 50)]);
    }

    #[test]
    fn a_report_never_holds_more_than_max_needs_and_covers_every_miss() {
        // Every other chunk misses a different count: no two neighbours share a run.
        let missing: Vec<(u32, u16)> = (0..5000u32)
            .filter(|c| c % 2 == 0)
            .map(|c| (c, (c % 7 + 1) as u16))
            .collect();
        let runs = needs(missing.iter().copied());
        assert_eq!(runs.len(), MAX_NEEDS);
        for (chunk, symbols) in missing {
            let run = runs
                .iter()
                .find(|n| (n.first..=n.last).contains(&chunk))
                .unwrap_or_else(|| panic!("chunk {chunk} is in no run"));
            assert!(run.symbols >= symbols);
        }
        assert!(runs.windows(2).all(|w| w[0].last < w[1].first));
    }
}
