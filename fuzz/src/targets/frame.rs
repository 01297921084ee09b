//! Frames into `nic-abi`'s parsers: the software profile and the card profile, checked
//! differentially against etherparse where both parse (the categories in which they may
//! disagree are `nic-abi`'s differential test's, shared by path).

use nic_abi::key::{MacAddr, PortNo};
use nic_abi::parse::{parse_card, parse_software};

#[allow(dead_code)]
#[path = "../../../nic-abi/tests/integration/etherparse_oracle.rs"]
mod etherparse_oracle;

/// Parses `frame` in both profiles and compares with etherparse.
pub fn run(frame: &[u8]) {
    let ours = parse_software(frame, PortNo(1));
    let card = parse_card(frame, PortNo(1));
    if card.is_parsed() {
        assert_eq!(card, ours, "the card and software profiles disagree");
    }
    if let Ok(eth) = etherparse::Ethernet2HeaderSlice::from_slice(frame) {
        assert_eq!(
            (ours.dl_dst, ours.dl_src),
            (MacAddr(eth.destination()), MacAddr(eth.source())),
            "MAC addresses differ from etherparse's"
        );
    }
    let theirs = etherparse_oracle::etherparse_key(frame);
    let category = etherparse_oracle::categorise(frame, &ours, &theirs);
    assert_ne!(
        category, "unexplained",
        "ours {ours:?}\ntheirs {theirs:?}\nno category explains the difference"
    );
    // The packed key reads back.
    assert_eq!(
        nic_abi::key::FlowKey::from_words(&ours.to_words()),
        Ok(ours.card_view()),
        "the key's word image does not read back"
    );
}
