//! Lint for rule sets: rules that never match, rules that can go, and equal-priority rules
//! that disagree.
//!
//! - **Shadowed**: every packet the rule matches is matched by rules that win over it; it never
//!   decides anything.
//! - **Redundant**: the rule does decide some packets, but removing it changes no decision: each
//!   of those packets would fall to a lower rule with the same actions.
//! - **Conflict**: two overlapping rules with equal priority and different actions; OpenFlow
//!   leaves the winner undefined (our classifiers pick the earlier rule, Open vSwitch may not).
//!
//! Method: an overlap graph (`petgraph`, one node per rule, an edge between rules some packet
//! matches both) limits each question to a rule's neighbours. Matches become *cubes*: per
//! field a value under a bit mask (a port range becomes its prefix cover, so a rule is a union
//! of cubes). Subtracting a cube from a cube splits off one cube per bit the subtrahend fixes
//! and the minuend does not, so a region stays a list of disjoint cubes. A rule is shadowed
//! when subtracting every better neighbour leaves nothing; it is redundant when the worse
//! neighbours, taken in rank order, cover what is left with equal actions only. Each finding
//! carries a witness packet. A rule whose region would need more than [`CUBE_BUDGET`] cubes is
//! reported as undetermined rather than guessed.

use core::fmt;

use nic_abi::key::FlowKey;
use petgraph::graph::{NodeIndex, UnGraph};

use crate::classifier::{from_rules, Classifier, LinearClassifier};
use crate::ofctl::{describe_packet, format_actions};
use crate::rule::{Field, Point, Rule, FIELD_COUNT};

/// Most cubes one rule's analysis may hold before it gives up on that rule.
pub const CUBE_BUDGET: usize = 20_000;

/// Per field: (value, mask), value within mask.
type Cube = [(u128, u128); FIELD_COUNT];

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FindingKind {
    /// The rule never matches.
    Shadowed,
    /// The rule can be removed without changing any decision.
    Redundant,
    /// Overlapping equal-priority rules with different actions.
    Conflict,
}

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The kind.
    pub kind: FindingKind,
    /// The rule the finding is about (0-based index in the rule list).
    pub rule: usize,
    /// The other rules involved: the rules that shadow it, the rules that would decide its
    /// packets instead, or the rule it conflicts with.
    pub others: Vec<usize>,
    /// A packet that shows the finding: matched by `rule` and decided by `others[0]`
    /// (shadowed), decided by `rule` now and by `others[0]` with the same actions without it
    /// (redundant), or matched by both conflicting rules.
    pub witness: FlowKey,
}

/// The result of linting a rule set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintReport {
    /// Findings, by kind, then rule.
    pub findings: Vec<Finding>,
    /// Rules whose shadowing/redundancy analysis exceeded [`CUBE_BUDGET`].
    pub undetermined: Vec<usize>,
    /// Number of edges of the overlap graph.
    pub overlaps: usize,
}

fn rule_cubes(r: &Rule) -> Vec<Cube> {
    let mut cubes: Vec<Cube> = vec![[(0, 0); FIELD_COUNT]];
    for f in Field::ALL {
        let prefixes = r.pattern.get(f).to_prefixes(f);
        if prefixes.len() == 1 {
            for c in &mut cubes {
                c[f.index()] = prefixes[0];
            }
            continue;
        }
        cubes = cubes
            .iter()
            .flat_map(|c| {
                prefixes.iter().map(move |&p| {
                    let mut c = *c;
                    c[f.index()] = p;
                    c
                })
            })
            .collect();
    }
    cubes
}

fn intersect(a: &Cube, b: &Cube) -> Option<Cube> {
    let mut out = *a;
    for i in 0..FIELD_COUNT {
        let (va, ma) = a[i];
        let (vb, mb) = b[i];
        if (va ^ vb) & ma & mb != 0 {
            return None;
        }
        out[i] = (va | vb, ma | mb);
    }
    Some(out)
}

/// `a \ b` as disjoint cubes.
fn subtract(a: &Cube, b: &Cube, out: &mut Vec<Cube>) {
    if intersect(a, b).is_none() {
        out.push(*a);
        return;
    }
    let mut cur = *a;
    for i in 0..FIELD_COUNT {
        let (vb, mb) = b[i];
        let mut extra = mb & !cur[i].1;
        while extra != 0 {
            let bit = 1u128 << (127 - extra.leading_zeros());
            extra &= !bit;
            let mut piece = cur;
            piece[i] = ((cur[i].0 & !bit) | (!vb & bit), cur[i].1 | bit);
            out.push(piece);
            cur[i] = ((cur[i].0 & !bit) | (vb & bit), cur[i].1 | bit);
        }
    }
}

fn subtract_rule(region: Vec<Cube>, rule: &[Cube]) -> Vec<Cube> {
    let mut region = region;
    for rc in rule {
        let mut next = Vec::new();
        for c in &region {
            subtract(c, rc, &mut next);
        }
        region = next;
        if region.is_empty() {
            break;
        }
    }
    region
}

fn witness(c: &Cube) -> FlowKey {
    let mut p = Point::default();
    for (i, &(v, _)) in c.iter().enumerate() {
        p.0[i] = v;
    }
    p.to_key()
}

/// Lints `rules` (rank: priority descending, then list order).
pub fn lint(rules: &[Rule]) -> LintReport {
    let n = rules.len();
    let mut graph: UnGraph<usize, ()> = UnGraph::with_capacity(n, n);
    let nodes: Vec<NodeIndex> = (0..n).map(|i| graph.add_node(i)).collect();
    for i in 0..n {
        for j in i + 1..n {
            if rules[i].pattern.overlaps(&rules[j].pattern) {
                graph.add_edge(nodes[i], nodes[j], ());
            }
        }
    }
    let better = |a: usize, b: usize| {
        (std::cmp::Reverse(rules[a].priority), a) < (std::cmp::Reverse(rules[b].priority), b)
    };
    let cubes: Vec<Vec<Cube>> = rules.iter().map(rule_cubes).collect();
    let mut report = LintReport {
        overlaps: graph.edge_count(),
        ..LintReport::default()
    };
    let neighbours = |i: usize, want_better: bool| -> Vec<usize> {
        let mut v: Vec<usize> = graph
            .neighbors(nodes[i])
            .map(|x| graph[x])
            .filter(|&j| better(j, i) == want_better)
            .collect();
        v.sort_by_key(|&j| (std::cmp::Reverse(rules[j].priority), j));
        v
    };
    for i in 0..n {
        let higher = neighbours(i, true);
        let mut region = cubes[i].clone();
        let mut over_budget = false;
        for &j in &higher {
            region = subtract_rule(region, &cubes[j]);
            if region.len() > CUBE_BUDGET {
                over_budget = true;
                break;
            }
            if region.is_empty() {
                break;
            }
        }
        if over_budget {
            report.undetermined.push(i);
            continue;
        }
        if region.is_empty() {
            // Any packet of the rule is a witness; say which better rule takes it.
            let w = witness(&cubes[i][0]);
            let winner = higher
                .iter()
                .copied()
                .find(|&j| rules[j].pattern.matches(&w));
            let mut others = higher.clone();
            if let Some(wj) = winner {
                others.retain(|&j| j != wj);
                others.insert(0, wj);
            }
            report.findings.push(Finding {
                kind: FindingKind::Shadowed,
                rule: i,
                others,
                witness: w,
            });
            continue;
        }
        // Redundancy: lower rules must cover what is left, with the same actions.
        let decided = region.clone();
        let mut left = region;
        let mut takers = Vec::new();
        let mut redundant = false;
        for &j in &neighbours(i, false) {
            let touches = left
                .iter()
                .any(|c| cubes[j].iter().any(|rc| intersect(c, rc).is_some()));
            if !touches {
                continue;
            }
            if rules[j].actions != rules[i].actions {
                break;
            }
            takers.push(j);
            left = subtract_rule(left, &cubes[j]);
            if left.len() > CUBE_BUDGET {
                report.undetermined.push(i);
                break;
            }
            if left.is_empty() {
                redundant = true;
                break;
            }
        }
        if redundant {
            let w = witness(&decided[0]);
            let taker = takers
                .iter()
                .copied()
                .find(|&j| rules[j].pattern.matches(&w));
            let mut others = takers.clone();
            if let Some(t) = taker {
                others.retain(|&j| j != t);
                others.insert(0, t);
            }
            report.findings.push(Finding {
                kind: FindingKind::Redundant,
                rule: i,
                others,
                witness: w,
            });
        }
    }
    for e in graph.edge_indices() {
        let Some((a, b)) = graph.edge_endpoints(e) else {
            continue;
        };
        let (a, b) = (graph[a].min(graph[b]), graph[a].max(graph[b]));
        if rules[a].priority == rules[b].priority && rules[a].actions != rules[b].actions {
            let w = cubes[a]
                .iter()
                .flat_map(|ca| cubes[b].iter().filter_map(move |cb| intersect(ca, cb)))
                .next()
                .map(|c| witness(&c));
            if let Some(w) = w {
                report.findings.push(Finding {
                    kind: FindingKind::Conflict,
                    rule: a,
                    others: vec![b],
                    witness: w,
                });
            }
        }
    }
    report
        .findings
        .sort_by(|x, y| (x.kind, x.rule, &x.others).cmp(&(y.kind, y.rule, &y.others)));
    report
}

/// Checks each finding's witness with the linear classifier: shadowed rules' witnesses are
/// decided by the named rule; redundant rules' witnesses get the same actions without the
/// rule; conflicting rules both match theirs. Returns the first finding that fails.
pub fn verify(rules: &[Rule], report: &LintReport) -> Result<(), String> {
    let all: LinearClassifier = from_rules(rules);
    for f in &report.findings {
        let p = Point::from(&f.witness);
        let decided = all.lookup(&p).map(|id| id.0 as usize);
        let ok = match f.kind {
            FindingKind::Shadowed => {
                rules[f.rule].pattern.matches(&f.witness) && decided == f.others.first().copied()
            }
            FindingKind::Redundant => {
                let mut without = all.clone();
                let removed = without.remove(crate::classifier::rule_id(f.rule)).is_ok();
                let after = without.lookup(&p).map(|id| id.0 as usize);
                removed
                    && decided == Some(f.rule)
                    && after.is_some_and(|j| rules[j].actions == rules[f.rule].actions)
            }
            FindingKind::Conflict => f.others.iter().all(|&j| {
                rules[j].pattern.matches(&f.witness) && rules[f.rule].pattern.matches(&f.witness)
            }),
        };
        if !ok {
            return Err(format!("finding does not hold: {}", f.display(rules)));
        }
    }
    Ok(())
}

impl Finding {
    /// The finding as one line of text, naming rules by 1-based position and text.
    pub fn display<'a>(&'a self, rules: &'a [Rule]) -> impl fmt::Display + 'a {
        FindingText {
            finding: self,
            rules,
        }
    }
}

struct FindingText<'a> {
    finding: &'a Finding,
    rules: &'a [Rule],
}

impl fmt::Display for FindingText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.finding;
        let name = |i: usize| format!("rule {} ({})", i + 1, self.rules[i]);
        let list = |v: &[usize]| {
            v.iter()
                .map(|i| format!("{}", i + 1))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match x.kind {
            FindingKind::Shadowed => write!(
                f,
                "shadowed: {} never matches: rules {} take every packet it matches first; \
                 witness {} is decided by rule {}",
                name(x.rule),
                list(&x.others),
                describe_packet(&x.witness),
                x.others.first().map_or(0, |i| i + 1),
            ),
            FindingKind::Redundant => write!(
                f,
                "redundant: {} can be removed: rules {} decide its packets with the same \
                 actions ({}); witness {} would go to rule {}",
                name(x.rule),
                list(&x.others),
                format_actions(&self.rules[x.rule].actions),
                describe_packet(&x.witness),
                x.others.first().map_or(0, |i| i + 1),
            ),
            FindingKind::Conflict => {
                let other = x.others.first().copied().unwrap_or(x.rule);
                write!(
                    f,
                    "conflict: {} and {} overlap at priority {} with different actions \
                     ({} vs {}); witness {}",
                    name(x.rule),
                    name(other),
                    self.rules[x.rule].priority,
                    format_actions(&self.rules[x.rule].actions),
                    format_actions(&self.rules[other].actions),
                    describe_packet(&x.witness),
                )
            }
        }
    }
}

impl LintReport {
    /// The report as text: one line per finding, then a summary line.
    pub fn render(&self, rules: &[Rule]) -> String {
        let mut s = String::new();
        for f in &self.findings {
            s.push_str(&f.display(rules).to_string());
            s.push('\n');
        }
        for &u in &self.undetermined {
            s.push_str(&format!(
                "undetermined: rule {} needs more than {CUBE_BUDGET} cubes; not analysed\n",
                u + 1
            ));
        }
        let count = |k| self.findings.iter().filter(|f| f.kind == k).count();
        s.push_str(&format!(
            "{} rules, {} overlapping pairs: {} shadowed, {} redundant, {} conflicts, {} undetermined\n",
            rules.len(),
            self.overlaps,
            count(FindingKind::Shadowed),
            count(FindingKind::Redundant),
            count(FindingKind::Conflict),
            self.undetermined.len()
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtraction_is_exact() {
        let full: Cube = [(0, 0); FIELD_COUNT];
        let mut b = full;
        b[Field::TpDst.index()] = (0x50, 0xfff0);
        let mut out = Vec::new();
        subtract(&full, &b, &mut out);
        assert_eq!(out.len(), 12);
        // Every 16-bit tp_dst value is in exactly one of out ∪ {b}.
        for v in 0..=0xffffu128 {
            let inside = |c: &Cube| v & c[Field::TpDst.index()].1 == c[Field::TpDst.index()].0;
            let n = out.iter().filter(|c| inside(c)).count() + usize::from(inside(&b));
            assert_eq!(n, 1, "{v}");
        }
    }
}
