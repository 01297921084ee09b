//! What classifying miss records costs the host core that classifies them, from the agent's [`AgentCosts`].
//!
//! The agent accounts its own host CPU time ([`Agent::host_cpu_time`]) as it works. Before
//! a batch of records is classified, the core is charged the least the batch can cost
//! (each record is at least held); once the agent has classified it, the core is charged
//! what it spent beyond that, before the releases go out. So a flow setup's latency
//! includes the agent's time, and the total charged is what the agent accounted.
//!
//! ```
//! use flow_setup::agent::AgentCosts;
//! use nic_abi::time::SimDuration;
//! use snich_system::agent_pricing::AgentPricing;
//!
//! let costs = AgentCosts::default();
//! let pricing = AgentPricing::new(costs);
//! let upfront = pricing.upfront(4);
//! assert_eq!(upfront, costs.held.min(costs.setup).times(4));
//! // The agent spent 10 us on the batch: the rest is charged after it.
//! let spent = SimDuration::from_ns(10_000);
//! let before = SimDuration::ZERO;
//! assert_eq!(
//!     pricing.remainder(before, before + spent, upfront).as_ps(),
//!     spent.as_ps().saturating_sub(upfront.as_ps())
//! );
//! ```
//!
//! [`Agent::host_cpu_time`]: flow_setup::agent::Agent::host_cpu_time

use flow_setup::agent::AgentCosts;
use nic_abi::time::SimDuration;

/// The agent's prices, as the control plane charges them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentPricing {
    costs: AgentCosts,
}

impl AgentPricing {
    /// Prices from the agent's costs.
    pub fn new(costs: AgentCosts) -> AgentPricing {
        AgentPricing { costs }
    }

    /// The least `records` miss records can cost (each is at least held), charged before
    /// they are classified.
    pub fn upfront(&self, records: usize) -> SimDuration {
        let least = self.costs.held.min(self.costs.setup);
        least.times(records as u64)
    }

    /// What the agent spent on a batch beyond its `upfront` charge, given its CPU time
    /// `before` and `after` classifying it.
    pub fn remainder(
        &self,
        before: SimDuration,
        after: SimDuration,
        upfront: SimDuration,
    ) -> SimDuration {
        SimDuration(
            after
                .as_ps()
                .saturating_sub(before.as_ps())
                .saturating_sub(upfront.as_ps()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_more_is_charged_when_the_batch_cost_only_its_upfront_price() {
        let costs = AgentCosts {
            setup: SimDuration::from_ns(4_000),
            per_visit: SimDuration::from_ns(2),
            held: SimDuration::from_ns(100),
            software_forward: SimDuration::from_ns(4_000),
        };
        let p = AgentPricing::new(costs);
        let upfront = p.upfront(3);
        assert_eq!(upfront, SimDuration::from_ns(300));
        let before = SimDuration::from_ns(1_000);
        let after = SimDuration(before.as_ps() + upfront.as_ps());
        assert_eq!(p.remainder(before, after, upfront), SimDuration::ZERO);
        // One setup among three records: 4,000 + 2 x 100 spent, 300 charged up front.
        let after = SimDuration(before.as_ps() + 4_200_000);
        assert_eq!(
            p.remainder(before, after, upfront),
            SimDuration::from_ns(3_900)
        );
    }
}
