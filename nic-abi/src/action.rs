//! The action of an exact-match entry, as the card executes it, and its fixed word encoding.
//!
//! An [`Action`] is what the card does with every packet that hits the entry: an optional VLAN
//! edit ([`VlanOp`]) followed by one forwarding decision ([`Destination`]). It is the image of
//! an OpenFlow action list after the flow-setup agent has resolved it for one exact flow:
//!
//! | OpenFlow / ovs-ofctl                  | card action                                        |
//! |---------------------------------------|----------------------------------------------------|
//! | `drop`, empty action list             | [`Destination::Drop`]                              |
//! | `output:N`                            | [`Destination::Output`]`(N)`, or `Drop` when N is the key's `in_port` (OpenFlow skips output to the ingress port) |
//! | `in_port`                             | [`Destination::Output`]`(key.in_port)`             |
//! | `flood`                               | [`Destination::Flood`]: every port but the ingress |
//! | `normal`                              | `Output(p)` for a learned destination MAC, else `Flood` (the agent resolves it) |
//! | `controller`                          | [`Destination::ToAgent`]                           |
//! | `mod_vlan_vid:V` (`,mod_vlan_pcp:P`)  | [`VlanOp::Set`]: push a tag if absent, else rewrite the VID (and the PCP if given) |
//! | `strip_vlan`                          | [`VlanOp::Strip`]: pop the outer tag, if any       |
//!
//! The card executes an `Output(p)` exactly as written, even when `p` is the ingress port: the
//! key holds `in_port`, so the agent already knows and applies OpenFlow's rule. A list with
//! several outputs (`output:1,output:2`) or edits between outputs is **not** a card action:
//! the agent forwards such flows in software and installs no entry for them.
//!
//! # Encoding
//!
//! [`ACTION_WORDS`] 32-bit words, stored beside the key in the table and written through the
//! management port's `ACTION_n` registers. Positions are in [`layout`]; the Verilog include
//! carries the same constants.
//!
//! ```text
//! word  31     28 27                17 16  15   13 12 11          0
//!   0  | dest op | reserved (0)        | 0 |  out_port (16 bits)     |   bits 15-0: port for OUTPUT, else 0
//!   1  | vlan op | reserved (0)        |pv | pcp   | 0 | vid        |   pv: PCP given (SET only)
//! ```
//!
//! Dest ops: 0 drop, 1 output, 2 flood, 3 to agent. VLAN ops: 0 keep, 1 set, 2 strip.
//! Everything not used by the op must be 0, so each action has exactly one encoding and
//! all-zero words mean "drop, keep": an entry whose action was never written drops.
//!
//! ```
//! use nic_abi::action::{Action, Destination, VlanId, VlanOp};
//! use nic_abi::key::PortNo;
//!
//! let a = Action {
//!     dest: Destination::Output(PortNo(3)),
//!     vlan: VlanOp::Set { vid: VlanId::new(10)?, pcp: None },
//! };
//! let words = a.to_words();
//! assert_eq!(words, [0x1000_0003, 0x1000_000a]);
//! assert_eq!(Action::try_from(words)?, a);
//! assert_eq!(a.to_string(), "mod_vlan_vid:10,output:3");
//! # Ok::<(), nic_abi::action::ActionError>(())
//! ```

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::key::PortNo;

/// Number of 32-bit words in an encoded [`Action`].
pub const ACTION_WORDS: usize = 2;

/// An encoded action: the form stored in the table and written to the `ACTION_n` registers.
pub type ActionWords = [u32; ACTION_WORDS];

/// Field positions in [`ActionWords`], and the opcode values. The Verilog include is
/// generated from these.
pub mod layout {
    use crate::key::layout::FieldPos;

    /// Destination opcode (word 0, bits 31-28): one of the `DEST_*` codes.
    pub const DEST_OP: FieldPos = FieldPos {
        name: "DEST_OP",
        word: 0,
        lsb: 28,
        width: 4,
    };
    /// Output port (word 0, bits 15-0), non-zero for [`DEST_OUTPUT`], else 0.
    pub const OUT_PORT: FieldPos = FieldPos {
        name: "OUT_PORT",
        word: 0,
        lsb: 0,
        width: 16,
    };
    /// VLAN opcode (word 1, bits 31-28): one of the `VLAN_*` codes.
    pub const VLAN_OP: FieldPos = FieldPos {
        name: "VLAN_OP",
        word: 1,
        lsb: 28,
        width: 4,
    };
    /// Set when a [`VLAN_SET`] also sets the priority (word 1, bit 16).
    pub const VLAN_PCP_VALID: FieldPos = FieldPos {
        name: "VLAN_PCP_VALID",
        word: 1,
        lsb: 16,
        width: 1,
    };
    /// Priority a [`VLAN_SET`] writes when [`VLAN_PCP_VALID`] (word 1, bits 15-13).
    pub const VLAN_PCP: FieldPos = FieldPos {
        name: "VLAN_PCP",
        word: 1,
        lsb: 13,
        width: 3,
    };
    /// VLAN id a [`VLAN_SET`] writes (word 1, bits 11-0).
    pub const VLAN_VID: FieldPos = FieldPos {
        name: "VLAN_VID",
        word: 1,
        lsb: 0,
        width: 12,
    };

    /// Every field, in layout order.
    pub const ALL: [FieldPos; 6] = [
        DEST_OP,
        OUT_PORT,
        VLAN_OP,
        VLAN_PCP_VALID,
        VLAN_PCP,
        VLAN_VID,
    ];

    /// Bits of word 0 that no field uses; they must be 0.
    pub const WORD0_RESERVED: u32 = 0x0fff_0000;
    /// Bits of word 1 that no field uses; they must be 0.
    pub const WORD1_RESERVED: u32 = 0x0ffe_1000;

    /// Dest op: drop the packet (counted as dropped by rule).
    pub const DEST_DROP: u32 = 0;
    /// Dest op: send to one port.
    pub const DEST_OUTPUT: u32 = 1;
    /// Dest op: send to every port but the ingress port.
    pub const DEST_FLOOD: u32 = 2;
    /// Dest op: punt to the flow-setup agent through the miss (exception) queue.
    pub const DEST_TO_AGENT: u32 = 3;

    /// VLAN op: leave the tags as they are.
    pub const VLAN_KEEP: u32 = 0;
    /// VLAN op: push a tag if absent, else rewrite the outer tag's VID (and PCP if given).
    pub const VLAN_SET: u32 = 1;
    /// VLAN op: pop the outer tag if there is one.
    pub const VLAN_STRIP: u32 = 2;
}

/// Where the card sends a packet that hit the entry.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// Drop the packet (counted as dropped by rule).
    #[default]
    Drop,
    /// Send to this port (an uplink or a VM's virtual port). Port 0 is never valid.
    Output(PortNo),
    /// Send to every port but the one the packet came in on.
    Flood,
    /// Punt to the flow-setup agent (OpenFlow's `controller`), through the miss queue.
    ToAgent,
}

/// A 12-bit IEEE 802.1Q VLAN identifier (0..=4095).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(try_from = "u16", into = "u16")]
pub struct VlanId(u16);

impl VlanId {
    /// Largest VLAN id.
    pub const MAX: u16 = 0x0fff;

    /// The id `vid`, refused when it does not fit in 12 bits.
    pub fn new(vid: u16) -> Result<VlanId, ActionError> {
        if vid > Self::MAX {
            return Err(ActionError::VlanIdOutOfRange(vid));
        }
        Ok(VlanId(vid))
    }

    /// The id's value.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for VlanId {
    type Error = ActionError;

    fn try_from(vid: u16) -> Result<Self, Self::Error> {
        VlanId::new(vid)
    }
}

impl From<VlanId> for u16 {
    fn from(vid: VlanId) -> u16 {
        vid.0
    }
}

impl fmt::Display for VlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A 3-bit IEEE 802.1Q priority code point (0..=7).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(try_from = "u8", into = "u8")]
pub struct VlanPcp(u8);

impl VlanPcp {
    /// Largest priority.
    pub const MAX: u8 = 7;

    /// The priority `pcp`, refused when it does not fit in 3 bits.
    pub fn new(pcp: u8) -> Result<VlanPcp, ActionError> {
        if pcp > Self::MAX {
            return Err(ActionError::VlanPcpOutOfRange(pcp));
        }
        Ok(VlanPcp(pcp))
    }

    /// The priority's value.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for VlanPcp {
    type Error = ActionError;

    fn try_from(pcp: u8) -> Result<Self, Self::Error> {
        VlanPcp::new(pcp)
    }
}

impl From<VlanPcp> for u8 {
    fn from(pcp: VlanPcp) -> u8 {
        pcp.0
    }
}

impl fmt::Display for VlanPcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What the card does to the packet's VLAN tags before forwarding it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum VlanOp {
    /// Leave the tags as they are.
    #[default]
    Keep,
    /// Open vSwitch's `mod_vlan_vid` (with `mod_vlan_pcp` when `pcp` is given): on an untagged
    /// frame push an 802.1Q tag with this VID and the PCP (0 when not given); on a tagged
    /// frame rewrite the outer tag's VID, and its PCP when given.
    Set {
        /// The VLAN id written.
        vid: VlanId,
        /// The priority written, if any.
        pcp: Option<VlanPcp>,
    },
    /// Open vSwitch's `strip_vlan`: pop the outer tag, if the frame has one.
    Strip,
}

/// An exact-match entry's action: the VLAN edit, then the forwarding decision.
///
/// `Action::default()` is [`Action::DROP`], the meaning of all-zero action words.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct Action {
    /// Where the packet goes.
    pub dest: Destination,
    /// The VLAN edit applied first.
    pub vlan: VlanOp,
}

impl Action {
    /// Drop, no VLAN edit: all-zero words.
    pub const DROP: Action = Action {
        dest: Destination::Drop,
        vlan: VlanOp::Keep,
    };
    /// Punt to the agent, no VLAN edit.
    pub const TO_AGENT: Action = Action {
        dest: Destination::ToAgent,
        vlan: VlanOp::Keep,
    };

    /// Send to `port`, no VLAN edit.
    pub fn output(port: PortNo) -> Action {
        Action {
            dest: Destination::Output(port),
            vlan: VlanOp::Keep,
        }
    }

    /// Checks what the types cannot: an output names a real port (not 0). Exactly the actions
    /// that pass encode to words that decode back to them.
    pub fn validate(&self) -> Result<(), ActionError> {
        match self.dest {
            Destination::Output(PortNo(0)) => Err(ActionError::OutputToPortZero),
            _ => Ok(()),
        }
    }

    /// The same decision in its one canonical form: a VLAN edit on a dropped packet has no
    /// effect, so `Drop` always carries `Keep`. Compare canonical actions when checking two
    /// paths agree.
    pub fn canonical(self) -> Action {
        match self.dest {
            Destination::Drop => Action::DROP,
            _ => self,
        }
    }

    /// Encodes the action (see the module doc for the layout).
    #[inline]
    pub fn to_words(&self) -> ActionWords {
        use layout::*;
        let w0 = match self.dest {
            Destination::Drop => DEST_DROP << DEST_OP.lsb,
            Destination::Output(port) => (DEST_OUTPUT << DEST_OP.lsb) | u32::from(port.0),
            Destination::Flood => DEST_FLOOD << DEST_OP.lsb,
            Destination::ToAgent => DEST_TO_AGENT << DEST_OP.lsb,
        };
        let w1 = match self.vlan {
            VlanOp::Keep => VLAN_KEEP << VLAN_OP.lsb,
            VlanOp::Set { vid, pcp } => {
                let pcp_bits = match pcp {
                    Some(p) => (1 << VLAN_PCP_VALID.lsb) | (u32::from(p.get()) << VLAN_PCP.lsb),
                    None => 0,
                };
                (VLAN_SET << VLAN_OP.lsb) | pcp_bits | u32::from(vid.get())
            }
            VlanOp::Strip => VLAN_STRIP << VLAN_OP.lsb,
        };
        [w0, w1]
    }

    /// Decodes action words; the same as `Action::try_from(*words)`.
    pub fn from_words(words: &ActionWords) -> Result<Action, ActionError> {
        Action::try_from(*words)
    }
}

impl TryFrom<ActionWords> for Action {
    type Error = ActionError;

    /// Decodes action words, refusing unknown opcodes, reserved bits that are set, operand
    /// bits an opcode does not use, and output to port 0.
    // Narrowing casts take fields already masked to their width.
    #[allow(clippy::cast_possible_truncation)]
    fn try_from(words: ActionWords) -> Result<Self, Self::Error> {
        use layout::*;
        let [w0, w1] = words;
        if w0 & WORD0_RESERVED != 0 {
            return Err(ActionError::ReservedBits {
                word: 0,
                bits: w0 & WORD0_RESERVED,
            });
        }
        if w1 & WORD1_RESERVED != 0 {
            return Err(ActionError::ReservedBits {
                word: 1,
                bits: w1 & WORD1_RESERVED,
            });
        }
        let port = (w0 & 0xffff) as u16;
        let dest = match w0 >> DEST_OP.lsb {
            DEST_OUTPUT if port == 0 => return Err(ActionError::OutputToPortZero),
            DEST_OUTPUT => Destination::Output(PortNo(port)),
            op @ (DEST_DROP | DEST_FLOOD | DEST_TO_AGENT) => {
                if port != 0 {
                    return Err(ActionError::UnusedOperand {
                        word: 0,
                        op: "destination",
                        code: op,
                        bits: u32::from(port),
                    });
                }
                match op {
                    DEST_DROP => Destination::Drop,
                    DEST_FLOOD => Destination::Flood,
                    _ => Destination::ToAgent,
                }
            }
            op => return Err(ActionError::UnknownDestOp(op)),
        };
        let operand = w1 & 0x0001_ffff;
        let vlan = match w1 >> VLAN_OP.lsb {
            VLAN_SET => {
                let vid = VlanId((w1 & 0x0fff) as u16);
                let pcp_bits = ((w1 >> VLAN_PCP.lsb) & 7) as u8;
                let pcp = if w1 & (1 << VLAN_PCP_VALID.lsb) != 0 {
                    Some(VlanPcp(pcp_bits))
                } else if pcp_bits != 0 {
                    return Err(ActionError::PcpWithoutValid(pcp_bits));
                } else {
                    None
                };
                VlanOp::Set { vid, pcp }
            }
            op @ (VLAN_KEEP | VLAN_STRIP) => {
                if operand != 0 {
                    return Err(ActionError::UnusedOperand {
                        word: 1,
                        op: "VLAN",
                        code: op,
                        bits: operand,
                    });
                }
                if op == VLAN_KEEP {
                    VlanOp::Keep
                } else {
                    VlanOp::Strip
                }
            }
            op => return Err(ActionError::UnknownVlanOp(op)),
        };
        Ok(Action { dest, vlan })
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Drop => f.write_str("drop"),
            Destination::Output(p) => write!(f, "output:{p}"),
            Destination::Flood => f.write_str("flood"),
            Destination::ToAgent => f.write_str("controller"),
        }
    }
}

impl fmt::Display for VlanOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VlanOp::Keep => Ok(()),
            VlanOp::Set { vid, pcp: None } => write!(f, "mod_vlan_vid:{vid}"),
            VlanOp::Set {
                vid,
                pcp: Some(pcp),
            } => write!(f, "mod_vlan_vid:{vid},mod_vlan_pcp:{pcp}"),
            VlanOp::Strip => f.write_str("strip_vlan"),
        }
    }
}

impl fmt::Display for Action {
    /// The action in ovs-ofctl syntax (`mod_vlan_vid:10,output:3`). A VLAN edit on a dropped
    /// packet has no effect and is not shown: `drop` stands alone, as ovs-ofctl requires.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.dest, self.vlan) {
            (Destination::Drop, _) | (_, VlanOp::Keep) => write!(f, "{}", self.dest),
            (dest, vlan) => write!(f, "{vlan},{dest}"),
        }
    }
}

/// Error from decoding action words, or from building a VLAN field out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// Bits no field uses are set.
    #[error("action word {word}: reserved bits {bits:#010x} are set")]
    ReservedBits {
        /// Word index.
        word: usize,
        /// The reserved bits that were set.
        bits: u32,
    },
    /// The destination opcode (word 0, bits 31-28) is not one of 0-3.
    #[error("action word 0 bits 31-28: destination opcode {0} is unknown (0 drop, 1 output, 2 flood, 3 to agent)")]
    UnknownDestOp(u32),
    /// The VLAN opcode (word 1, bits 31-28) is not one of 0-2.
    #[error("action word 1 bits 31-28: VLAN opcode {0} is unknown (0 keep, 1 set, 2 strip)")]
    UnknownVlanOp(u32),
    /// An output action names port 0, which is never a port.
    #[error("action word 0 bits 15-0: output to port 0, which is never a valid port")]
    OutputToPortZero,
    /// An opcode that takes no operand has operand bits set.
    #[error("action word {word}: {op} opcode {code} takes no operand, but operand bits {bits:#x} are set")]
    UnusedOperand {
        /// Word index.
        word: usize,
        /// Which opcode field ("destination" or "VLAN").
        op: &'static str,
        /// The opcode.
        code: u32,
        /// The operand bits that were set.
        bits: u32,
    },
    /// A VLAN set carries priority bits without the "PCP given" flag.
    #[error("action word 1 bits 15-13: PCP {0} is set but the PCP-valid bit 16 is clear")]
    PcpWithoutValid(u8),
    /// A VLAN id does not fit in 12 bits.
    #[error("VLAN id {0} is out of range (0..=4095)")]
    VlanIdOutOfRange(u16),
    /// A VLAN priority does not fit in 3 bits.
    #[error("VLAN priority {0} is out of range (0..=7)")]
    VlanPcpOutOfRange(u8),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vid(v: u16) -> VlanId {
        VlanId::new(v).unwrap()
    }

    #[test]
    fn golden_encodings() {
        let cases = [
            (Action::DROP, [0, 0]),
            (Action::output(PortNo(0x1234)), [0x1000_1234, 0]),
            (
                Action {
                    dest: Destination::Flood,
                    vlan: VlanOp::Strip,
                },
                [0x2000_0000, 0x2000_0000],
            ),
            (Action::TO_AGENT, [0x3000_0000, 0]),
            (
                Action {
                    dest: Destination::Output(PortNo(7)),
                    vlan: VlanOp::Set {
                        vid: vid(0xabc),
                        pcp: Some(VlanPcp::new(5).unwrap()),
                    },
                },
                [0x1000_0007, 0x1001_aabc],
            ),
        ];
        for (action, words) in cases {
            assert_eq!(action.to_words(), words, "{action}");
            assert_eq!(Action::try_from(words), Ok(action));
        }
    }

    #[test]
    fn display_is_ovs_ofctl_syntax() {
        let set = VlanOp::Set {
            vid: vid(10),
            pcp: Some(VlanPcp::new(3).unwrap()),
        };
        let show = |dest, vlan| Action { dest, vlan }.to_string();
        assert_eq!(show(Destination::Drop, VlanOp::Keep), "drop");
        assert_eq!(show(Destination::Drop, VlanOp::Strip), "drop");
        assert_eq!(show(Destination::Flood, VlanOp::Strip), "strip_vlan,flood");
        assert_eq!(
            show(Destination::Output(PortNo(2)), set),
            "mod_vlan_vid:10,mod_vlan_pcp:3,output:2"
        );
        assert_eq!(show(Destination::ToAgent, VlanOp::Keep), "controller");
    }

    #[test]
    fn malformed_words_are_refused_with_the_field_named() {
        assert_eq!(
            Action::try_from([0x4000_0000, 0]),
            Err(ActionError::UnknownDestOp(4))
        );
        assert_eq!(
            Action::try_from([0, 0x3000_0000]),
            Err(ActionError::UnknownVlanOp(3))
        );
        assert_eq!(
            Action::try_from([0x1000_0000, 0]),
            Err(ActionError::OutputToPortZero)
        );
        assert_eq!(
            Action::try_from([0x0001_0000, 0]),
            Err(ActionError::ReservedBits {
                word: 0,
                bits: 0x0001_0000
            })
        );
        assert_eq!(
            Action::try_from([0, 0x1000_1000]),
            Err(ActionError::ReservedBits {
                word: 1,
                bits: 0x1000
            })
        );
        assert_eq!(
            Action::try_from([0x2000_0005, 0]),
            Err(ActionError::UnusedOperand {
                word: 0,
                op: "destination",
                code: 2,
                bits: 5
            })
        );
        assert_eq!(
            Action::try_from([0, 0x2000_0001]),
            Err(ActionError::UnusedOperand {
                word: 1,
                op: "VLAN",
                code: 2,
                bits: 1
            })
        );
        assert_eq!(
            Action::try_from([0, 0x1000_6001]),
            Err(ActionError::PcpWithoutValid(3))
        );
        let msg = ActionError::UnknownDestOp(9).to_string();
        assert!(msg.contains("word 0") && msg.contains("opcode 9"), "{msg}");
    }

    #[test]
    fn output_to_port_zero_fails_validation_and_decoding() {
        let a = Action::output(PortNo(0));
        assert_eq!(a.validate(), Err(ActionError::OutputToPortZero));
        assert_eq!(
            Action::try_from(a.to_words()),
            Err(ActionError::OutputToPortZero)
        );
    }

    #[test]
    fn vlan_fields_are_range_checked() {
        assert_eq!(VlanId::new(4096), Err(ActionError::VlanIdOutOfRange(4096)));
        assert_eq!(VlanPcp::new(8), Err(ActionError::VlanPcpOutOfRange(8)));
        assert_eq!(VlanId::new(4095).map(VlanId::get), Ok(4095));
    }

    #[test]
    fn layout_fields_and_reserved_bits_partition_each_word() {
        let mut used = [layout::WORD0_RESERVED, layout::WORD1_RESERVED];
        // Word 1 bit 12 is the CFI position, kept reserved so VID and PCP sit where a TCI
        // has them; it is part of WORD1_RESERVED.
        for f in layout::ALL {
            let mask = if f.width == 32 {
                u32::MAX
            } else {
                ((1u32 << f.width) - 1) << f.lsb
            };
            assert_eq!(used[f.word] & mask, 0, "field {} overlaps", f.name);
            used[f.word] |= mask;
        }
        assert_eq!(used, [u32::MAX, u32::MAX]);
    }

    #[test]
    fn serde_round_trips_and_refuses_out_of_range_vid() {
        let a = Action {
            dest: Destination::Output(PortNo(4)),
            vlan: VlanOp::Set {
                vid: vid(100),
                pcp: None,
            },
        };
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), a);
        let bad = json.replace("100", "5000");
        assert!(serde_json::from_str::<Action>(&bad).is_err());
    }

    pub(crate) fn any_action() -> impl Strategy<Value = Action> {
        let dest = prop_oneof![
            Just(Destination::Drop),
            (1u16..).prop_map(|p| Destination::Output(PortNo(p))),
            Just(Destination::Flood),
            Just(Destination::ToAgent),
        ];
        let vlan = prop_oneof![
            Just(VlanOp::Keep),
            Just(VlanOp::Strip),
            (0u16..=4095, proptest::option::of(0u8..=7)).prop_map(|(v, p)| VlanOp::Set {
                vid: VlanId(v),
                pcp: p.map(VlanPcp),
            }),
        ];
        (dest, vlan).prop_map(|(dest, vlan)| Action { dest, vlan })
    }

    proptest! {
        #[test]
        fn words_round_trip(a in any_action()) {
            prop_assert_eq!(a.validate(), Ok(()));
            prop_assert_eq!(Action::try_from(a.to_words()), Ok(a));
        }

        /// Any words either decode to an action that re-encodes to the same words (one
        /// encoding per action), or are refused; never a panic.
        #[test]
        fn arbitrary_words_decode_canonically_or_fail(w0 in any::<u32>(), w1 in any::<u32>()) {
            if let Ok(a) = Action::try_from([w0, w1]) {
                prop_assert_eq!(a.to_words(), [w0, w1]);
            }
        }

        #[test]
        fn canonical_is_idempotent_and_keeps_forwarding(a in any_action()) {
            let c = a.canonical();
            prop_assert_eq!(c.canonical(), c);
            prop_assert_eq!(c.dest, a.dest);
        }
    }
}
