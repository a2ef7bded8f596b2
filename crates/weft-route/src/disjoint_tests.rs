//! Tests of [`super::disjoint_paths`], including a brute-force reference.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::testkit::{self, SmallGraph};

/// Both directions of each `(a, b, cost)`.
fn bidi(n: u32, links: &[(u32, u32, u32)]) -> Graph {
    let both: Vec<_> = links.iter().flat_map(|&(a, b, c)| [(a, b, 1, c), (b, a, 1, c)]).collect();
    testkit::graph(n, &both)
}

fn nodes(ix: &[u32]) -> Vec<NodeIx> {
    ix.iter().copied().map(NodeIx).collect()
}

/// The trap: s=0, a=1, b=2, t=3. Shortest 0-1-2-3 (cost 3) blocks any
/// disjoint backup; the best pair is 0-1-3 and 0-2-3 (cost 4 each).
fn trap() -> Graph {
    bidi(4, &[(0, 1, 1), (1, 2, 1), (2, 3, 1), (0, 2, 3), (1, 3, 3)])
}

#[test]
fn the_trap_topology_gives_up_the_shortest_path_to_get_a_backup() {
    let g = trap();
    let one = disjoint_paths(&g, NodeIx(0), NodeIx(3), 1, g.cost_column()).unwrap();
    assert_eq!(one, vec![DisjointPath { weight: 3, nodes: nodes(&[0, 1, 2, 3]) }]);
    let two = disjoint_paths(&g, NodeIx(0), NodeIx(3), 2, g.cost_column()).unwrap();
    assert_eq!(
        two,
        vec![
            DisjointPath { weight: 4, nodes: nodes(&[0, 1, 3]) },
            DisjointPath { weight: 4, nodes: nodes(&[0, 2, 3]) },
        ]
    );
}

#[test]
fn fewer_paths_come_back_when_fewer_exist() {
    let g = trap();
    let all = disjoint_paths(&g, NodeIx(0), NodeIx(3), 4, g.cost_column()).unwrap();
    assert_eq!(all.len(), 2);
    let line = bidi(3, &[(0, 1, 1), (1, 2, 1)]);
    assert_eq!(
        disjoint_paths(&line, NodeIx(0), NodeIx(2), 3, line.cost_column()).unwrap().len(),
        1
    );
    let cut = testkit::graph(3, &[(0, 1, 1, 1)]);
    assert!(disjoint_paths(&cut, NodeIx(0), NodeIx(2), 2, cut.cost_column()).unwrap().is_empty());
}

#[test]
fn a_path_count_outside_one_to_four_is_refused() {
    let g = trap();
    for k in [0, 5] {
        assert_eq!(
            disjoint_paths(&g, NodeIx(0), NodeIx(3), k, g.cost_column()),
            Err(RouteError::BadPathCount { asked: k, max: 4 })
        );
    }
}

#[test]
fn zero_weights_still_never_share_a_link_in_opposite_directions() {
    // With all weights zero the flow may use a->b and b->a; the fix-up
    // cancels them. Square 0-1-2-3 with diagonal 1-2.
    let g = bidi(4, &[(0, 1, 1), (0, 2, 1), (1, 2, 1), (1, 3, 1), (2, 3, 1)]);
    let zero = vec![0u64; g.edge_count()];
    let paths = disjoint_paths(&g, NodeIx(0), NodeIx(3), 4, &zero).unwrap();
    assert_eq!(paths.len(), 2);
    assert_disjoint(&paths);
}

#[test]
fn flow_on_both_directions_of_a_link_is_cancelled_before_decomposing() {
    // Flow 0->1->2->3 plus 0->2->1->3 uses link 1-2 both ways; the fix-up
    // must turn it into 0->1->3 and 0->2->3.
    let g = bidi(4, &[(0, 1, 1), (0, 2, 1), (1, 2, 1), (1, 3, 1), (2, 3, 1)]);
    let mut flow = vec![false; g.edge_count()];
    for path in [[0, 1, 2, 3], [0, 2, 1, 3]] {
        for e in g.edges_of(&nodes(&path)).unwrap() {
            flow[e.index()] = true;
        }
    }
    cancel_opposing_pairs(&g, &mut flow);
    let mut got: Vec<_> =
        std::iter::from_fn(|| take_path(&g, NodeIx(0), NodeIx(3), &mut flow)).collect();
    got.sort();
    assert_eq!(got, vec![nodes(&[0, 1, 3]), nodes(&[0, 2, 3])]);
    assert!(flow.iter().all(|&f| !f), "all flow decomposed");
}

#[test]
fn the_source_reaches_itself_by_the_empty_path() {
    let g = trap();
    let p = disjoint_paths(&g, NodeIx(2), NodeIx(2), 3, g.cost_column()).unwrap();
    assert_eq!(p, vec![DisjointPath { weight: 0, nodes: nodes(&[2]) }]);
}

fn assert_disjoint(paths: &[DisjointPath]) {
    let mut used = BTreeSet::new();
    for p in paths {
        for link in testkit::physical_links(&p.nodes) {
            assert!(used.insert(link), "link {link:?} used twice in {paths:?}");
        }
    }
}

/// The largest family (capped at `k`) of physically link-disjoint simple
/// paths, and the least total cost among families of that size.
fn brute_force(g: &Graph, paths: &[Vec<NodeIx>], k: usize) -> (usize, u64) {
    struct Search<'a> {
        g: &'a Graph,
        paths: &'a [Vec<NodeIx>],
        k: usize,
        used: BTreeSet<(NodeIx, NodeIx)>,
        best: (usize, u64),
    }
    impl Search<'_> {
        fn go(&mut self, from: usize, count: usize, cost: u64) {
            if count > self.best.0 || (count == self.best.0 && cost < self.best.1) {
                self.best = (count, cost);
            }
            if count == self.k {
                return;
            }
            for i in from..self.paths.len() {
                let links = testkit::physical_links(&self.paths[i]);
                if links.iter().any(|l| self.used.contains(l)) {
                    continue;
                }
                self.used.extend(links.iter().copied());
                let c = testkit::sum(self.g, &self.paths[i], |e| self.g.cost(e));
                self.go(i + 1, count + 1, cost + c);
                for l in &links {
                    self.used.remove(l);
                }
            }
        }
    }
    let mut s = Search { g, paths, k, used: BTreeSet::new(), best: (0, 0) };
    s.go(0, 0, 0);
    s.best
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn disjoint_paths_are_valid_share_no_link_and_are_as_many_and_cheap_as_brute_force(
        sg in testkit::small_graph(6),
        k in 1usize..=4,
    ) {
        let SmallGraph { graph: g, n } = &sg;
        let src = NodeIx(0);
        for t in 1..*n {
            let dst = NodeIx(t);
            let got = disjoint_paths(g, src, dst, k, g.cost_column()).unwrap();
            for p in &got {
                prop_assert_eq!(p.nodes.first(), Some(&src));
                prop_assert_eq!(p.nodes.last(), Some(&dst));
                prop_assert!(g.edges_of(&p.nodes).is_some(), "not a path of up links: {:?}", p);
                prop_assert_eq!(testkit::sum(g, &p.nodes, |e| g.cost(e)), p.weight);
            }
            assert_disjoint(&got);
            prop_assert!(got.windows(2).all(|w| w[0].weight <= w[1].weight));
            let simple = testkit::simple_paths(g, src, dst);
            let (count, cost) = brute_force(g, &simple, k);
            prop_assert_eq!(got.len(), count);
            prop_assert_eq!(got.iter().map(|p| p.weight).sum::<u64>(), cost);
        }
    }
}
