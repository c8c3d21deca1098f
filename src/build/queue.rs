//! The build queue as pure data (cargo's `DependencyQueue`): which packages wait for how many
//! dependencies, which are ready and in what order, and what a finished build releases. No processes, no
//! files: the drain loop asks it what to start and tells it what finished, so its rules are unit-tested
//! here on their own.
//!
//! Guarantees:
//! - a node is ready only once every dependency it was added with has finished successfully (or was
//!   found in the store);
//! - the ready node with the highest priority goes first, ties to the smallest id (so runs are stable);
//! - a node that `settle` finds already stored (early cutoff) never becomes ready: it counts as finished
//!   at once and releases its own dependents, transitively;
//! - after a failure nothing new starts, unless `keep_going`; even then no dependent of a failure
//!   (direct or not) is ever released.

use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

/// What `settle` says about a node whose dependencies are all done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The store already has its output: done without building.
    Stored,
    /// It must be built.
    Build,
    /// It cannot be built (its key could not be made): as if its build failed.
    Failed,
}

pub struct Queue<N> {
    /// Unfinished dependencies of each node still waiting for some.
    waiting: HashMap<N, usize>,
    dependents: HashMap<N, Vec<N>>,
    priority: HashMap<N, f64>,
    ready: BinaryHeap<Ready<N>>,
    keep_going: bool,
    stopped: bool,
}

impl<N: Copy + Eq + Hash + Ord> Queue<N> {
    pub fn new(keep_going: bool) -> Self {
        Queue {
            waiting: HashMap::new(),
            dependents: HashMap::new(),
            priority: HashMap::new(),
            ready: BinaryHeap::new(),
            keep_going,
            stopped: false,
        }
    }

    /// Adds `node`, waiting for `deps` (each of which must be added too; dependencies that are already
    /// done are left out by the caller).
    pub fn add(&mut self, node: N, deps: impl IntoIterator<Item = N>, priority: f64) {
        let mut n = 0;
        for d in deps {
            self.dependents.entry(d).or_default().push(node);
            n += 1;
        }
        self.waiting.insert(node, n);
        self.priority.insert(node, priority);
    }

    /// Settles every node that waits for nothing. Call once, after the last `add`.
    pub fn start(&mut self, settle: impl FnMut(N) -> Settled) {
        let mut free: Vec<N> = self.waiting.iter().filter(|(_, n)| **n == 0).map(|(&i, _)| i).collect();
        // Settle in a fixed order, so what the caller reports does not depend on hashing.
        free.sort_unstable_by(|a, b| b.cmp(a));
        self.settle(free, settle);
    }

    /// The ready node to start next, if any (none after a failure without `keep_going`).
    pub fn pop(&mut self) -> Option<N> {
        if self.stopped {
            return None;
        }
        self.ready.pop().map(|r| r.node)
    }

    /// How many nodes `pop` would hand out now.
    pub fn ready_len(&self) -> usize {
        if self.stopped { 0 } else { self.ready.len() }
    }

    /// `node` built: its dependents that waited only for it are settled.
    pub fn succeeded(&mut self, node: N, settle: impl FnMut(N) -> Settled) {
        let released = self.release(node);
        self.settle(released, settle);
    }

    /// `node` failed: its dependents stay waiting for good, and without `keep_going` nothing else starts.
    pub fn failed(&mut self, _node: N) {
        if !self.keep_going {
            self.stop();
        }
    }

    /// Starts nothing more, whatever `keep_going` says (the jobserver broke).
    pub fn stop(&mut self) {
        self.stopped = true;
        self.ready.clear();
    }

    #[cfg(test)]
    /// Nodes that never became ready: dependents of a failure, or everything after a stop.
    pub fn blocked(&self) -> impl Iterator<Item = N> + '_ {
        self.waiting.keys().copied()
    }

    fn release(&mut self, node: N) -> Vec<N> {
        let mut free = Vec::new();
        for d in self.dependents.remove(&node).unwrap_or_default() {
            if let Some(n) = self.waiting.get_mut(&d) {
                *n -= 1;
                if *n == 0 {
                    free.push(d);
                }
            }
        }
        free
    }

    fn settle(&mut self, start: Vec<N>, mut settle: impl FnMut(N) -> Settled) {
        let mut stack = start;
        while let Some(n) = stack.pop() {
            if self.stopped {
                continue;
            }
            self.waiting.remove(&n);
            match settle(n) {
                Settled::Stored => {
                    let mut free = self.release(n);
                    free.reverse();
                    stack.extend(free);
                }
                Settled::Build => self.ready.push(Ready { priority: self.priority[&n], node: n }),
                Settled::Failed => self.failed(n),
            }
        }
    }
}

/// A ready node in the max-heap: higher priority first, then the smaller id.
struct Ready<N> {
    priority: f64,
    node: N,
}

impl<N: Ord> PartialEq for Ready<N> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl<N: Ord> Eq for Ready<N> {}
impl<N: Ord> PartialOrd for Ready<N> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<N: Ord> Ord for Ready<N> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.priority.total_cmp(&other.priority).then_with(|| other.node.cmp(&self.node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_all(_: u32) -> Settled {
        Settled::Build
    }

    /// Pops everything ready now.
    fn drain(q: &mut Queue<u32>) -> Vec<u32> {
        std::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn ready_nodes_come_out_by_priority_then_smallest_id() {
        let mut q = Queue::new(false);
        q.add(1, [], 1.0);
        q.add(2, [], 5.0);
        q.add(3, [], 1.0);
        q.add(4, [], 3.0);
        q.start(build_all);
        assert_eq!(q.ready_len(), 4);
        assert_eq!(drain(&mut q), [2, 4, 1, 3]);
    }

    #[test]
    fn a_node_is_released_only_when_all_its_dependencies_finished() {
        let mut q = Queue::new(false);
        q.add(1, [], 1.0);
        q.add(2, [], 1.0);
        q.add(3, [1, 2], 1.0);
        q.start(build_all);
        assert_eq!(drain(&mut q), [1, 2]);
        q.succeeded(1, build_all);
        assert_eq!(q.pop(), None, "3 still waits for 2");
        q.succeeded(2, build_all);
        assert_eq!(drain(&mut q), [3]);
        q.succeeded(3, build_all);
        assert_eq!(q.blocked().count(), 0);
    }

    #[test]
    fn early_cutoff_cascades_through_stored_nodes() {
        // 1 -> 2 -> 3 -> 4, and 2 -> 5. After 1 builds, 2 and 3 are in the store; 4 and 5 must build.
        let mut q = Queue::new(false);
        q.add(1, [], 4.0);
        q.add(2, [1], 3.0);
        q.add(3, [2], 2.0);
        q.add(4, [3], 1.0);
        q.add(5, [2], 1.0);
        q.start(build_all);
        assert_eq!(drain(&mut q), [1]);
        let mut asked = Vec::new();
        q.succeeded(1, |n| {
            asked.push(n);
            if n == 2 || n == 3 { Settled::Stored } else { Settled::Build }
        });
        asked.sort();
        assert_eq!(asked, [2, 3, 4, 5], "each released node is settled once");
        assert_eq!(drain(&mut q), [4, 5]);
    }

    #[test]
    fn stored_nodes_at_the_start_release_their_dependents() {
        let mut q = Queue::new(false);
        q.add(1, [], 1.0);
        q.add(2, [1], 1.0);
        q.start(|n| if n == 1 { Settled::Stored } else { Settled::Build });
        assert_eq!(drain(&mut q), [2]);
    }

    #[test]
    fn a_failure_stops_new_work_but_running_jobs_still_report() {
        let mut q = Queue::new(false);
        q.add(1, [], 3.0);
        q.add(2, [], 2.0);
        q.add(3, [], 1.0);
        q.add(4, [2], 1.0);
        q.start(build_all);
        let (a, b) = (q.pop().unwrap(), q.pop().unwrap());
        assert_eq!((a, b), (1, 2));
        q.failed(1);
        assert_eq!(q.ready_len(), 0);
        assert_eq!(q.pop(), None, "3 does not start after the failure");
        // 2 was running when 1 failed; it finishes, but releases nothing.
        q.succeeded(2, |n| panic!("{n} settled after a stop"));
        assert_eq!(q.pop(), None);
        let mut blocked: Vec<u32> = q.blocked().collect();
        blocked.sort();
        assert_eq!(blocked, [4]);
    }

    #[test]
    fn keep_going_builds_independents_but_never_dependents_of_a_failure() {
        // 1 -> 2 -> 3 (a chain through the failure), 4 -> 5 (independent).
        let mut q = Queue::new(true);
        q.add(1, [], 5.0);
        q.add(2, [1], 4.0);
        q.add(3, [2], 3.0);
        q.add(4, [], 1.0);
        q.add(5, [4], 1.0);
        q.start(build_all);
        assert_eq!(drain(&mut q), [1, 4]);
        q.failed(1);
        q.succeeded(4, build_all);
        assert_eq!(drain(&mut q), [5]);
        q.succeeded(5, build_all);
        let mut blocked: Vec<u32> = q.blocked().collect();
        blocked.sort();
        assert_eq!(blocked, [2, 3]);
    }

    #[test]
    fn a_node_that_fails_to_settle_counts_as_failed() {
        let mut q = Queue::new(false);
        q.add(1, [], 1.0);
        q.add(2, [], 1.0);
        q.add(3, [1], 1.0);
        q.start(|n| if n == 1 { Settled::Failed } else { Settled::Build });
        assert_eq!(q.pop(), None, "without keep_going nothing starts after it");
        let mut q = Queue::new(true);
        q.add(1, [], 1.0);
        q.add(2, [], 1.0);
        q.add(3, [1], 1.0);
        q.start(|n| if n == 1 { Settled::Failed } else { Settled::Build });
        assert_eq!(drain(&mut q), [2]);
        assert_eq!(q.blocked().collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn stop_overrides_keep_going() {
        let mut q = Queue::new(true);
        q.add(1, [], 1.0);
        q.add(2, [], 1.0);
        q.start(build_all);
        q.stop();
        assert_eq!(q.pop(), None);
    }
}
