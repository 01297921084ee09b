//! Differential test: our software and card parsers against `etherparse`, packet by packet,
//! over real captures. Every disagreement falls in a named category ([`CATEGORIES`] says what
//! each means and why it is not a bug) with an exact expected count, so any change of
//! behaviour fails the test. "unexplained" must stay at 0. The class of our key is not
//! compared (etherparse has none); the card profile is checked against the software profile.

use std::collections::BTreeMap;

use nic_abi::key::{MacAddr, PortNo};
use nic_abi::parse::{parse_card, parse_software};

use crate::capture::ethernet_frames;
use crate::etherparse_oracle::{categorise, etherparse_key, CATEGORIES};

/// Compares every Ethernet frame of `file`; returns the count per category and per card-profile
/// outcome.
fn compare(file: &str) -> (BTreeMap<&'static str, usize>, BTreeMap<String, usize>) {
    let mut cats = BTreeMap::new();
    let mut card_outcomes = BTreeMap::new();
    for (i, frame) in ethernet_frames(file).iter().enumerate() {
        let ours = parse_software(frame, PortNo(1));
        let card = parse_card(frame, PortNo(1));
        if card.is_parsed() {
            assert_eq!(
                card, ours,
                "{file} packet {i}: card and software profiles disagree"
            );
        }
        let outcome = if card == ours {
            "same_as_software".to_string()
        } else {
            format!("card_{:?}", card.class)
        };
        *card_outcomes.entry(outcome).or_default() += 1;
        // Whatever happens deeper, the MAC addresses of any frame with an Ethernet header
        // must be etherparse's (also for frames it refuses).
        if let Ok(eth) = etherparse::Ethernet2HeaderSlice::from_slice(frame) {
            assert_eq!(
                (ours.dl_dst, ours.dl_src),
                (MacAddr(eth.destination()), MacAddr(eth.source())),
                "{file} packet {i}: MAC addresses"
            );
        }
        let theirs = etherparse_key(frame);
        let cat = categorise(frame, &ours, &theirs);
        assert!(CATEGORIES.iter().any(|(c, _)| *c == cat));
        if cat == "unexplained" || std::env::var("SHOW_CAT").is_ok_and(|c| c == cat) {
            eprintln!(
                "{file} packet {i}: ours {ours:?}\n theirs {theirs:?}\n bytes {:02x?}",
                &frame[..frame.len().min(96)]
            );
        }
        *cats.entry(cat).or_default() += 1;
    }
    (cats, card_outcomes)
}

/// Compares `file` and checks the exact count of every category and card outcome.
fn check(file: &str, expected: &[(&str, usize)], expected_card: &[(&str, usize)]) {
    let (cats, card) = compare(file);
    let got: Vec<(&str, usize)> = cats.iter().map(|(c, n)| (*c, *n)).collect();
    let got_card: Vec<(&str, usize)> = card.iter().map(|(c, n)| (c.as_str(), *n)).collect();
    eprintln!("{file}: {got:?}\n card: {got_card:?}");
    assert_eq!(got, expected, "{file}: disagreement categories changed");
    assert_eq!(
        got_card, expected_card,
        "{file}: card-profile outcomes changed"
    );
}

#[test]
fn mix_pcap_agrees_with_etherparse_up_to_explained_categories() {
    check(
        "mix_zeek_sv_tcpdump_k8.pcap.gz",
        &[
            ("agree", 32390),
            ("arp_not_ethernet_ipv4", 2),
            ("both_refuse_malformed", 45),
            ("both_refuse_truncated", 177),
            ("first_fragment_l4_ports", 55),
            ("ip_padding_over_65535", 8),
            ("ipv6_ah_zero_length", 1),
            ("ipv6_later_fragment_nw_proto_44", 94),
            ("ipv6_payload_length_zero", 3),
            ("llc_snap_802_3", 573),
            ("macsec", 8),
            ("sctp_ports", 42),
            ("third_vlan_tag", 11),
            ("udp_length_unchecked", 5),
        ],
        // The card does not walk IPv6 extension headers; every other frame gets the
        // software profile's key.
        &[
            ("card_Unparsed(Ipv6ExtensionHeader)", 382),
            ("same_as_software", 33032),
        ],
    );
}

#[test]
fn wireshark_pcapng_agrees_with_etherparse_up_to_explained_categories() {
    check(
        "pcapparser_wireshark_samples-test.pcapng",
        &[("agree", 5895), ("llc_snap_802_3", 3)],
        &[("same_as_software", 5898)],
    );
}
