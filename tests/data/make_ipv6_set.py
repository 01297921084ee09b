#!/usr/bin/env python3
"""Writes ipv6_acl_200: 200 filters in the ClassBench-ng IPv6 filter format, for sNICh's tests.

Not ClassBench-ng output: a seeded imitation of its shape, written because no real IPv6
ClassBench-ng set was at hand. Prefixes come from a few documentation/ULA/global blocks with
lengths clustered as in ACL seeds (/32-/64 networks, /128 hosts, wildcards); ports are the
ClassBench mix (wildcard, exact well-known, 1024:65535, small ranges); protocols TCP, UDP,
ICMPv6 or any; no filter has both addresses wildcarded (it would shadow the rest); the flags
column is written as ClassBench-ng writes it (ignored on import).
Run: python3 tests/data/make_ipv6_set.py > tests/data/ipv6_acl_200
"""
import ipaddress
import random

rng = random.Random(20261205)
BLOCKS = ["2001:db8::/32", "2001:db8:100::/40", "fd00:10::/32", "2a00:1450::/32", "fe80::/10"]


def prefix():
    r = rng.random()
    if r < 0.15:
        return "::/0"
    block = ipaddress.ip_network(rng.choice(BLOCKS))
    if r < 0.45:
        length = 128
    else:
        length = rng.choice([32, 40, 48, 48, 56, 64, 64, 64])
    length = max(length, block.prefixlen)
    host = int(block.network_address) | rng.getrandbits(128 - block.prefixlen)
    net = ipaddress.ip_network((host >> (128 - length) << (128 - length), length))
    return f"{net.network_address}/{length}"


def ports():
    r = rng.random()
    if r < 0.5:
        return "0 : 65535"
    if r < 0.8:
        p = rng.choice([22, 53, 80, 123, 443, 8080])
        return f"{p} : {p}"
    if r < 0.9:
        return "1024 : 65535"
    lo = rng.randrange(0, 60000)
    return f"{lo} : {lo + rng.randrange(1, 2000)}"


for _ in range(200):
    proto = rng.choice(["0x06/0xFF", "0x06/0xFF", "0x11/0xFF", "0x3A/0xFF", "0x00/0x00"])
    src, dst = prefix(), prefix()
    while src == "::/0" and dst == "::/0":
        src = prefix()
    sp, dp = ports(), ports()
    if proto in ("0x3A/0xFF", "0x00/0x00"):
        sp = dp = "0 : 65535"
    print(f"@{src}\t{dst}\t{sp}\t{dp}\t{proto}\t0x0000/0x0000")
