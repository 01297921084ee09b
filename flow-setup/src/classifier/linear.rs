//! The reference classifier: every rule in rank order, the first match wins.

use super::{rank, Classifier, ClassifierError, Compiled, FlowMask, Lookup};
use crate::rule::{Match, Point, RuleId};

/// Rules sorted by rank; lookup tries them in order. Obviously correct, O(n) per packet.
#[derive(Debug, Clone, Default)]
pub struct LinearClassifier {
    rules: Vec<Compiled>,
}

impl LinearClassifier {
    /// An empty classifier.
    pub fn new() -> LinearClassifier {
        LinearClassifier::default()
    }

    /// Rule ids in rank order (winners first).
    pub fn ids(&self) -> impl Iterator<Item = RuleId> + '_ {
        self.rules.iter().map(|c| c.id)
    }
}

impl Classifier for LinearClassifier {
    fn insert(
        &mut self,
        id: RuleId,
        priority: u16,
        pattern: &Match,
    ) -> Result<(), ClassifierError> {
        if self.rules.iter().any(|c| c.id == id) {
            return Err(ClassifierError::DuplicateId(id));
        }
        let r = rank(priority, id);
        let pos = self.rules.partition_point(|c| c.rank < r);
        self.rules.insert(pos, Compiled::new(id, priority, pattern));
        Ok(())
    }

    fn remove(&mut self, id: RuleId) -> Result<(), ClassifierError> {
        let pos = self
            .rules
            .iter()
            .position(|c| c.id == id)
            .ok_or(ClassifierError::UnknownId(id))?;
        self.rules.remove(pos);
        Ok(())
    }

    fn lookup(&self, p: &Point) -> Option<RuleId> {
        self.rules.iter().find(|c| c.matches(p)).map(|c| c.id)
    }

    fn lookup_megaflow(&self, p: &Point) -> Lookup {
        let mut megaflow = FlowMask::default();
        for c in &self.rules {
            if c.matches(p) {
                c.add_match_evidence(p, &mut megaflow);
                return Lookup {
                    rule: Some(c.id),
                    megaflow,
                };
            }
            c.add_mismatch_evidence(p, &mut megaflow);
        }
        Lookup {
            rule: None,
            megaflow,
        }
    }

    fn len(&self) -> usize {
        self.rules.len()
    }
}
