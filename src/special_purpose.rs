//! Special-purpose addresses: which addresses are not on the public internet, and why.
//!
//! Owns the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and successors),
//! as of 2026: an address in a block that is not globally reachable is *non-public* and can
//! never be a hosting location. Blocks the registry marks globally reachable (AS112, AMT,
//! 192.0.0.9/32, …) stay public. Pure code, no I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The special-purpose block an address falls in, when that block is not globally reachable.
/// `None` means the address is public.
pub fn non_public_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => ipv4_purpose(v4),
        IpAddr::V6(v6) => ipv6_purpose(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], len: u32) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

/// IPv4 blocks that are not globally reachable, most specific first where they overlap.
const IPV4_BLOCKS: &[([u8; 4], u32, &str)] = &[
    ([0, 0, 0, 0], 8, "\"this network\" (0.0.0.0/8)"),
    ([10, 0, 0, 0], 8, "private (10.0.0.0/8)"),
    (
        [100, 64, 0, 0],
        10,
        "shared address space / CGNAT (100.64.0.0/10)",
    ),
    ([127, 0, 0, 0], 8, "loopback (127.0.0.0/8)"),
    ([169, 254, 0, 0], 16, "link-local (169.254.0.0/16)"),
    ([172, 16, 0, 0], 12, "private (172.16.0.0/12)"),
    (
        [192, 0, 0, 0],
        24,
        "IETF protocol assignments (192.0.0.0/24)",
    ),
    ([192, 0, 2, 0], 24, "documentation (192.0.2.0/24)"),
    (
        [192, 88, 99, 0],
        24,
        "deprecated 6to4 relay anycast (192.88.99.0/24)",
    ),
    ([192, 168, 0, 0], 16, "private (192.168.0.0/16)"),
    ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
    ([198, 51, 100, 0], 24, "documentation (198.51.100.0/24)"),
    ([203, 0, 113, 0], 24, "documentation (203.0.113.0/24)"),
    ([224, 0, 0, 0], 4, "multicast (224.0.0.0/4)"),
    (
        [255, 255, 255, 255],
        32,
        "limited broadcast (255.255.255.255/32)",
    ),
    ([240, 0, 0, 0], 4, "reserved (240.0.0.0/4)"),
];

/// Blocks inside the ones above that the registry marks globally reachable.
const IPV4_GLOBAL_EXCEPTIONS: &[([u8; 4], u32)] = &[
    ([192, 0, 0, 9], 32),  // Port Control Protocol anycast
    ([192, 0, 0, 10], 32), // Traversal Using Relays around NAT anycast
];

fn ipv4_purpose(ip: Ipv4Addr) -> Option<&'static str> {
    if IPV4_GLOBAL_EXCEPTIONS
        .iter()
        .any(|&(net, len)| in_v4(ip, net, len))
    {
        return None;
    }
    IPV4_BLOCKS
        .iter()
        .find(|&&(net, len, _)| in_v4(ip, net, len))
        .map(|&(_, _, name)| name)
}

/// IPv6 blocks that are not globally reachable, most specific first where they overlap.
const IPV6_BLOCKS: &[([u16; 8], u32, &str)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified (::/128)"),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback (::1/128)"),
    (
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "local-use IPv4/IPv6 translation (64:ff9b:1::/48)",
    ),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only (100::/64)"),
    (
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "documentation (2001:db8::/32)",
    ),
    (
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments (2001::/23)",
    ),
    (
        [0x3fff, 0, 0, 0, 0, 0, 0, 0],
        20,
        "documentation (3fff::/20)",
    ),
    (
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "segment routing SIDs (5f00::/16)",
    ),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local (fc00::/7)"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local (fe80::/10)"),
    (
        [0xfec0, 0, 0, 0, 0, 0, 0, 0],
        10,
        "deprecated site-local (fec0::/10)",
    ),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast (ff00::/8)"),
];

/// Blocks inside 2001::/23 that the registry marks globally reachable.
const IPV6_GLOBAL_EXCEPTIONS: &[([u16; 8], u32)] = &[
    ([0x2001, 1, 0, 0, 0, 0, 0, 1], 128), // Port Control Protocol anycast
    ([0x2001, 1, 0, 0, 0, 0, 0, 2], 128), // TURN anycast
    ([0x2001, 1, 0, 0, 0, 0, 0, 3], 128), // DNS-SD SRP anycast
    ([0x2001, 3, 0, 0, 0, 0, 0, 0], 32),  // AMT
    ([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48), // AS112-v6
    ([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28), // ORCHIDv2
    ([0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28), // Drone Remote ID Protocol Entity Tags
];

fn ipv6_purpose(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return ipv4_purpose(v4);
    }
    if IPV6_GLOBAL_EXCEPTIONS
        .iter()
        .any(|&(net, len)| in_v6(ip, net, len))
    {
        return None;
    }
    if let Some(&(_, _, name)) = IPV6_BLOCKS
        .iter()
        .find(|&&(net, len, _)| in_v6(ip, net, len))
    {
        return Some(name);
    }
    // The NAT64 well-known prefix carries a public IPv4 address; judge that one.
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        let [.., a, b, c, d] = ip.octets();
        return ipv4_purpose(Ipv4Addr::new(a, b, c, d));
    }
    // Only 2000::/3 is allocated as global unicast; everything else is reserved by the IETF.
    if !in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        return Some("reserved by the IETF (outside 2000::/3)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ip: &str, expected: Option<&str>) {
        let got = non_public_purpose(ip.parse().unwrap());
        match expected {
            None => assert_eq!(got, None, "{ip} should be public"),
            Some(fragment) => assert!(
                got.is_some_and(|purpose| purpose.contains(fragment)),
                "{ip}: expected {fragment:?}, got {got:?}"
            ),
        }
    }

    #[test]
    fn ipv4_registry() {
        for (ip, expected) in [
            ("95.211.0.1", None),
            ("8.8.8.8", None),
            ("0.1.2.3", Some("this network")),
            ("10.1.2.3", Some("private")),
            ("100.64.0.1", Some("CGNAT")),
            ("100.128.0.1", None),
            ("127.0.0.1", Some("loopback")),
            ("169.254.169.254", Some("link-local")),
            ("172.16.0.1", Some("private")),
            ("172.32.0.1", None),
            ("192.0.0.8", Some("IETF")),
            ("192.0.0.9", None),
            ("192.0.2.1", Some("documentation")),
            ("192.31.196.1", None),
            ("192.88.99.1", Some("6to4")),
            ("192.168.1.1", Some("private")),
            ("192.175.48.1", None),
            ("198.18.0.1", Some("benchmarking")),
            ("198.19.255.255", Some("benchmarking")),
            ("198.51.100.7", Some("documentation")),
            ("203.0.113.9", Some("documentation")),
            ("224.0.0.1", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            ("240.0.0.1", Some("reserved")),
            ("255.255.255.255", Some("broadcast")),
        ] {
            check(ip, expected);
        }
    }

    #[test]
    fn ipv6_registry() {
        for (ip, expected) in [
            ("2a00:1450::1", None),
            ("2606:4700::1111", None),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("::ffff:10.0.0.1", Some("private")),
            ("::ffff:95.211.0.1", None),
            ("64:ff9b::95.211.0.1", None),
            ("64:ff9b::10.0.0.1", Some("private")),
            ("64:ff9b:1::1", Some("translation")),
            ("100::1", Some("discard")),
            ("2001::1", Some("IETF")),
            ("2001:1::1", None),
            ("2001:4:112::1", None),
            ("2001:db8::1", Some("documentation")),
            ("3fff::1", Some("documentation")),
            ("5f00::1", Some("segment routing")),
            ("fd00::1", Some("unique local")),
            ("fe80::1", Some("link-local")),
            ("fec0::1", Some("site-local")),
            ("ff02::1", Some("multicast")),
            ("4000::1", Some("reserved")),
            ("::2", Some("reserved")),
        ] {
            check(ip, expected);
        }
    }
}
