//! The scheduler: packages build in parallel under one jobserver whose limit holds across all makes.

use crate::harness::{E, Test, recipe};

/// A Makefile with four slow targets; each prints start/end timestamps (ns) to the build log.
const MAKEFILE: &str =
    "all: t1 t2 t3 t4\nt%:\n\t@echo \"span $$(date +%s%N) start\"; sleep 0.4; echo \"span $$(date +%s%N) end\"\n";

fn spans(log: &str) -> Vec<(u128, i32)> {
    log.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "span").then_some(())?;
            let t: u128 = w.next()?.parse().ok()?;
            Some((t, if w.next()? == "start" { 1 } else { -1 }))
        })
        .collect()
}

fn max_concurrency(mut events: Vec<(u128, i32)>) -> i32 {
    events.sort_by_key(|&(t, d)| (t, d)); // an end at the same instant frees its slot first
    let (mut cur, mut max) = (0, 0);
    for (_, d) in events {
        cur += d;
        max = max.max(cur);
    }
    max
}

#[test]
fn all_makes_together_never_exceed_the_job_limit() {
    let build = "make";
    let install = "mkdir -p \"$DESTDIR/etc\"; echo $PACKAGE > \"$DESTDIR/etc/$PACKAGE\"";
    let script = format!("{build}\n{install}");
    for jobs in ["2", "3"] {
        let t = Test::new()
            .tarball("mk.tar.gz", &[E::File("mk/Makefile", MAKEFILE, 0o644)])
            .recipe("top", &recipe("top", "mk.tar.gz", &[], &["left", "right"], install))
            .recipe("left", &recipe("left", "mk.tar.gz", &[], &[], &script))
            .recipe("right", &recipe("right", "mk.tar.gz", &[], &[], &script))
            .build("top", &["-j", jobs]);
        t.run().success();
        let mut events = Vec::new();
        for p in ["left", "right"] {
            let log = std::fs::read_to_string(t.path(&format!("cache/logs/{p}.log"))).unwrap();
            assert_eq!(spans(&log).len(), 8, "{p}: {log}");
            events.extend(spans(&log));
        }
        let n: i32 = jobs.parse().unwrap();
        let max = max_concurrency(events);
        assert!(max <= n, "{max} make jobs ran at once with -j {n}");
        assert_eq!(max, n, "the jobserver should let {n} jobs run at once across both packages");
    }
}
