use std::net::Ipv4Addr;

use multicast::{Need, Verdict};

use super::*;

const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));
const INTERVAL: Duration = Duration::from_millis(250);

/// Three chunks of 10 symbols and one of 4.
fn geometry() -> Geometry {
    Geometry {
        size: (3 * 10 + 4) * 8 - 1,
        symbol_size: 8,
        chunk_symbols: 10,
    }
}

fn params(min_receivers: u32, slow: SlowPolicy) -> Params {
    Params {
        min_receivers,
        max_wait: Duration::from_secs(10),
        slow,
        rate: RateBounds::mbit(1000, 100),
        report_interval: INTERVAL,
        burst: 4,
    }
}

fn report(name: &str, needs: &[(u32, u32, u16)], loss: f32, verdict: Verdict) -> Report {
    Report {
        receiver: name.into(),
        chunks_done: 0,
        needs: needs
            .iter()
            .map(|&(first, last, symbols)| Need {
                first,
                last,
                symbols,
            })
            .collect(),
        loss,
        seen: None,
        verdict,
        message: None,
    }
}

fn receiving(name: &str, needs: &[(u32, u32, u16)]) -> Report {
    report(name, needs, 0.0, Verdict::Receiving)
}

fn done(name: &str) -> Report {
    report(name, &[], 0.0, Verdict::Done)
}

/// Steps until the machine waits or is over (bounded).
fn drain(m: &mut Machine, now: Instant) -> Vec<Step> {
    let mut steps = Vec::new();
    for _ in 0..10_000 {
        let step = m.next(now);
        steps.push(step);
        if matches!(step, Step::Wait(_) | Step::Over) {
            return steps;
        }
    }
    panic!("the machine never waits: {:?}", &steps[..20]);
}

/// Every (chunk, esi) of source symbols among `steps`.
fn sources(steps: &[Step]) -> Vec<(u32, u32)> {
    steps
        .iter()
        .flat_map(|s| match *s {
            Step::Source {
                chunk,
                first,
                count,
            } => (first..first + count).map(|e| (chunk, e)).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Runs the first round to its end; returns the time it ended.
fn first_round(m: &mut Machine, t: Instant) -> Instant {
    let steps = drain(m, t);
    assert_eq!(sources(&steps).len(), 34, "{steps:?}");
    t
}

#[test]
fn waits_for_min_receivers_with_idle_datagrams_then_sends() {
    let t = Instant::now();
    let mut m = Machine::new(geometry(), params(2, SlowPolicy::Wait), t);
    assert_eq!(m.next(t), Step::Idle);
    assert_eq!(m.next(t), Step::Wait(t + IDLE_EVERY));
    assert_eq!(m.state(), SessionState::Waiting);
    let a = t + Duration::from_millis(1500);
    m.report(a, HOST, &receiving("a", &[(0, 3, 10)])).unwrap();
    assert_eq!(m.next(a), Step::Idle, "one of two: still waiting");
    m.report(a, HOST, &receiving("b", &[(0, 3, 10)])).unwrap();
    assert_eq!(
        m.next(a),
        Step::Source {
            chunk: 0,
            first: 0,
            count: 4
        }
    );
    assert_eq!(m.state(), SessionState::Sending);
}

#[test]
fn max_wait_starts_without_receivers() {
    let t = Instant::now();
    let mut m = Machine::new(geometry(), params(5, SlowPolicy::Wait), t);
    assert!(matches!(drain(&mut m, t).last(), Some(Step::Wait(_))));
    let late = t + Duration::from_secs(10);
    assert!(matches!(m.next(late), Step::Source { chunk: 0, .. }));
}

#[test]
fn the_first_round_sends_every_source_symbol_once_in_order_then_nobody_left_finishes() {
    let t = Instant::now();
    let mut m = Machine::new(geometry(), params(0, SlowPolicy::Wait), t);
    let steps = drain(&mut m, t);
    let expected: Vec<(u32, u32)> = (0..4)
        .flat_map(|c| (0..if c < 3 { 10 } else { 4 }).map(move |e| (c, e)))
        .collect();
    assert_eq!(sources(&steps), expected);
    // Bursts never straddle chunks and hold at most `burst` symbols.
    assert!(steps.iter().all(|s| match s {
        Step::Source { count, .. } => (1..=4).contains(count),
        _ => true,
    }));
    // Nobody reported: after the round, nobody is left; End three times, then over.
    let mut now = t;
    let mut ends = steps.iter().filter(|s| **s == Step::End).count();
    loop {
        match m.next(now) {
            Step::End => ends += 1,
            Step::Wait(at) => now = at,
            Step::Over => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ends, 3);
    assert_eq!(m.state(), SessionState::Finished);
}

#[test]
fn repair_rounds_follow_fresh_reports_with_fresh_repair_symbols() {
    let t = Instant::now();
    let mut m = Machine::new(geometry(), params(2, SlowPolicy::Wait), t);
    m.report(t, HOST, &receiving("a", &[(0, 3, 10)])).unwrap();
    m.report(t, HOST, &receiving("b", &[(0, 3, 10)])).unwrap();
    let end = first_round(&mut m, t);
    // Reports from before the round's end are stale: the machine waits for new ones.
    assert!(matches!(m.next(end), Step::Idle | Step::Wait(_)));
    let after = end + SETTLE + Duration::from_millis(10);
    m.report(after, HOST, &receiving("a", &[(1, 1, 2)]))
        .unwrap();
    assert!(
        matches!(m.next(after), Step::Wait(_) | Step::Idle),
        "b has not reported yet"
    );
    m.report(after, HOST, &receiving("b", &[(1, 1, 1), (3, 3, 2)]))
        .unwrap();
    let steps = drain(&mut m, after);
    let expected = [
        // Chunk 1: the neediest misses 2 of 10: fresh repair symbols 0..4 (2 + margin 2).
        Step::Repair {
            chunk: 1,
            first: 0,
            count: 4,
        },
        // Chunk 3: 2 of 4 is half: its source symbols again.
        Step::Source {
            chunk: 3,
            first: 0,
            count: 4,
        },
    ];
    assert_eq!(&steps[..2], &expected);
    assert_eq!(m.repair_rounds(), 1);
    // The next round's repair symbols of chunk 1 follow the first round's.
    let again = after + Duration::from_secs(1);
    m.report(again, HOST, &receiving("a", &[(1, 1, 1)]))
        .unwrap();
    m.report(again, HOST, &done("b")).unwrap();
    let steps = drain(&mut m, again);
    assert_eq!(
        steps[0],
        Step::Repair {
            chunk: 1,
            first: 4,
            count: 3
        }
    );
    // Everyone done: End, and the answer says so.
    let last = again + Duration::from_secs(1);
    m.report(last, HOST, &done("a")).unwrap();
    assert_eq!(m.next(last), Step::End);
    assert_eq!(m.state(), SessionState::Finished);
}

#[test]
fn a_lossy_receiver_gets_proactive_repair_after_every_chunk_and_a_prompt_idle_after() {
    let t = Instant::now();
    let mut m = Machine::new(geometry(), params(1, SlowPolicy::Wait), t);
    m.report(
        t,
        HOST,
        &report("a", &[(0, 3, 10)], 0.1, Verdict::Receiving),
    )
    .unwrap();
    let steps = drain(&mut m, t);
    // 10 % of 10 symbols: 1 expected + 3 × √1 + margin 2 = 6 fresh repair symbols per chunk.
    let chunk0: Vec<Step> = steps[..5].to_vec();
    assert_eq!(
        chunk0,
        [
            Step::Source {
                chunk: 0,
                first: 0,
                count: 4
            },
            Step::Source {
                chunk: 0,
                first: 4,
                count: 4
            },
            Step::Source {
                chunk: 0,
                first: 8,
                count: 2
            },
            Step::Repair {
                chunk: 0,
                first: 0,
                count: 4
            },
            Step::Repair {
                chunk: 0,
                first: 4,
                count: 2
            },
        ]
    );
    assert_eq!(sources(&steps).len(), 34);
    // The last chunk (4 symbols): 0.4 + 3 × 0.63 → 3, + 2.
    assert!(steps.contains(&Step::Repair {
        chunk: 3,
        first: 0,
        count: 4
    }));
    assert!(steps.contains(&Step::Repair {
        chunk: 3,
        first: 4,
        count: 1
    }));
    // After the round, the wait for reports ends with an Idle that asks for them.
    assert_eq!(steps.last(), Some(&Step::Wait(t + SETTLE)));
    assert_eq!(m.next(t + SETTLE), Step::Idle);
    // A later round's repair symbols come after the proactive ones.
    let after = t + SETTLE + Duration::from_millis(1);
    m.report(after, HOST, &receiving("a", &[(2, 2, 1)]))
        .unwrap();
    assert_eq!(
        m.next(after),
        Step::Repair {
            chunk: 2,
            first: 6,
            count: 3
        }
    );
}

#[test]
fn a_report_made_before_reading_the_round_to_its_end_is_stale() {
    let t = Instant::now();
    let mut m = Machine::new(geometry(), params(1, SlowPolicy::Wait), t);
    m.report(t, HOST, &receiving("a", &[(0, 3, 10)])).unwrap();
    let end = first_round(&mut m, t);
    // Every datagram is numbered as stepped: 34 symbols so far, the next is the Idle.
    assert_eq!(m.sequence(), 34);
    assert_eq!(m.next(end + SETTLE), Step::Idle);
    // A busy receiver reports later, still holding part of the round unread in its
    // socket: it lists chunks the round already carried, and must not have them sent again.
    let later = end + SETTLE + Duration::from_millis(10);
    let backlog = Report {
        seen: Some(20),
        ..receiving("a", &[(2, 3, 10)])
    };
    m.report(later, HOST, &backlog).unwrap();
    assert!(
        matches!(m.next(later), Step::Wait(_) | Step::Idle),
        "a stale report planned a round"
    );
    // Once it has read the Idle that followed the round, its needs count.
    let caught_up = Report {
        seen: Some(34),
        ..receiving("a", &[(3, 3, 1)])
    };
    m.report(later, HOST, &caught_up).unwrap();
    assert!(matches!(m.next(later), Step::Repair { chunk: 3, .. }));
}

#[test]
fn a_receiver_done_before_the_first_round_ends_finishes_it_early() {
    // A restarted receiver that already has the file.
    let t = Instant::now();
    let mut m = Machine::new(geometry(), params(1, SlowPolicy::Wait), t);
    m.report(t, HOST, &receiving("a", &[(0, 3, 10)])).unwrap();
    assert!(matches!(m.next(t), Step::Source { .. }));
    m.report(t, HOST, &done("a")).unwrap();
    assert_eq!(m.next(t), Step::End);
}

#[test]
fn cancel_sends_end_and_tells_receivers_to_use_http() {
    let t = Instant::now();
    let mut m = Machine::new(geometry(), params(1, SlowPolicy::Wait), t);
    m.report(t, HOST, &receiving("a", &[(0, 3, 10)])).unwrap();
    assert!(matches!(m.next(t), Step::Source { .. }));
    m.cancel(t);
    assert_eq!(m.state(), SessionState::Cancelled);
    let answer = m.report(t, HOST, &receiving("a", &[(0, 3, 10)])).unwrap();
    assert!(answer.unicast);
    assert_eq!(answer.state, SessionState::Cancelled);
    assert_eq!(m.next(t), Step::End);
    m.cancel(t);
    assert!(
        matches!(m.next(t), Step::Wait(_)),
        "cancel twice: no restart"
    );
}

#[test]
fn silent_receivers_are_forgotten_and_the_session_ends_without_them() {
    let t = Instant::now();
    let mut m = Machine::new(geometry(), params(1, SlowPolicy::Wait), t);
    m.report(t, HOST, &receiving("a", &[(0, 3, 10)])).unwrap();
    first_round(&mut m, t);
    assert!(matches!(
        m.next(t + FORGET_AFTER / 2),
        Step::Idle | Step::Wait(_)
    ));
    let later = t + FORGET_AFTER;
    assert_eq!(m.next(later), Step::End);
    assert_eq!(m.receivers().count(), 0);
}

#[test]
fn the_wait_policy_slows_down_for_a_lossy_receiver() {
    let t = Instant::now();
    let mut m = Machine::new(geometry(), params(2, SlowPolicy::Wait), t);
    let mut now = t;
    for _ in 0..4 {
        m.report(
            now,
            HOST,
            &report("slow", &[(0, 3, 10)], 0.3, Verdict::Receiving),
        )
        .unwrap();
        let answer = m
            .report(now, HOST, &receiving("fine", &[(0, 3, 10)]))
            .unwrap();
        assert!(!answer.unicast);
        now += 2 * INTERVAL;
        m.next(now);
    }
    assert!(m.rate_bps() < 500_000_000, "{}", m.rate_bps());
    assert!(m.rate_bps() >= 100_000_000);
    assert!(m.receivers().all(|(_, r)| !r.unicast));
}

#[test]
fn the_unicast_policy_drops_the_lossy_receiver_and_keeps_the_rate() {
    let t = Instant::now();
    let mut m = Machine::new(geometry(), params(2, SlowPolicy::Unicast), t);
    let mut now = t;
    let mut told = Vec::new();
    for _ in 0..4 {
        m.report(now, HOST, &receiving("fine", &[(0, 3, 10)]))
            .unwrap();
        let lossy = report("slow", &[(0, 3, 10)], 0.3, Verdict::Receiving);
        told.push(m.report(now, HOST, &lossy).unwrap().unicast);
        now += 2 * INTERVAL;
        m.next(now);
    }
    assert_eq!(told, [false, false, true, true]);
    // Two lossy reports were counted before the drop: the rate fell, then recovers.
    for _ in 0..20 {
        m.report(now, HOST, &receiving("fine", &[(0, 3, 10)]))
            .unwrap();
        now += 2 * INTERVAL;
        m.next(now);
    }
    assert_eq!(m.rate_bps(), 1_000_000_000);
}

#[test]
fn everyone_losing_is_the_network_not_a_slow_receiver() {
    let t = Instant::now();
    let mut m = Machine::new(geometry(), params(2, SlowPolicy::Unicast), t);
    for i in 0..5 {
        let now = t + i * 2 * INTERVAL;
        for name in ["a", "b"] {
            let lossy = report(name, &[(0, 3, 10)], 0.3, Verdict::Receiving);
            assert!(!m.report(now, HOST, &lossy).unwrap().unicast);
        }
        m.next(now);
    }
    assert!(m.rate_bps() < 1_000_000_000);
}

#[test]
fn hostile_reports_change_nothing() {
    let t = Instant::now();
    let mut m = Machine::new(geometry(), params(1, SlowPolicy::Wait), t);
    let bad = [
        receiving("a", &[(0, 4, 1)]),
        receiving("a", &[(u32::MAX, u32::MAX, 1)]),
        report("a", &[], -0.5, Verdict::Receiving),
        report("a", &[], f32::INFINITY, Verdict::Receiving),
        receiving("", &[]),
    ];
    for r in &bad {
        assert!(m.report(t, HOST, r).is_err(), "{r:?}");
    }
    assert_eq!(m.receivers().count(), 0);
    assert_eq!(m.next(t), Step::Idle, "still waiting for a real receiver");
    // A need beyond a chunk's symbols is clipped: its source again, not 60,000 repairs.
    m.report(t, HOST, &receiving("a", &[(0, 0, 60_000)]))
        .unwrap();
    let end = first_round(&mut m, t);
    let after = end + SETTLE;
    m.report(after, HOST, &receiving("a", &[(0, 0, 60_000)]))
        .unwrap();
    assert_eq!(
        m.next(after),
        Step::Source {
            chunk: 0,
            first: 0,
            count: 4
        }
    );
}

#[test]
fn a_lagging_receiver_is_dropped_under_the_unicast_policy_only() {
    for (slow, dropped) in [(SlowPolicy::Unicast, true), (SlowPolicy::Wait, false)] {
        let t = Instant::now();
        let mut m = Machine::new(geometry(), params(1, slow), t);
        m.report(t, HOST, &receiving("a", &[(0, 3, 10)])).unwrap();
        let mut now = first_round(&mut m, t);
        let mut unicast = false;
        for _ in 0..=MAX_LAG_ROUNDS {
            now += Duration::from_secs(1);
            unicast = m
                .report(now, HOST, &receiving("a", &[(2, 2, 1)]))
                .unwrap()
                .unicast;
            drain(&mut m, now);
        }
        now += Duration::from_secs(1);
        unicast |= m
            .report(now, HOST, &receiving("a", &[(2, 2, 1)]))
            .unwrap()
            .unicast;
        assert_eq!(unicast, dropped, "{slow}");
    }
}
