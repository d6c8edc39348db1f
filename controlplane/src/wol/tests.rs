use super::*;

/// 52:54:00:12:34:56's magic packet, written out by hand.
const MAGIC_525400123456: [u8; PACKET_LEN] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, //
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, //
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, //
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, //
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, //
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, //
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, //
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, //
];

#[test]
fn the_magic_packet_is_six_ff_then_sixteen_macs() {
    let mac: Mac = "52:54:00:12:34:56".parse().unwrap();
    assert_eq!(magic_packet(mac), MAGIC_525400123456);
    let other = magic_packet(Mac([0xff, 0, 0, 0, 0, 1]));
    assert_eq!(
        other[..12],
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1]
    );
    assert_eq!(other[96..], [0xff, 0, 0, 0, 0, 1]);
}

fn iface(name: &str, index: u32, addr: [u8; 4], prefix: u8) -> InterfaceAddr {
    InterfaceAddr {
        name: name.into(),
        index,
        addr: addr.into(),
        prefix,
    }
}

fn local() -> Vec<InterfaceAddr> {
    vec![
        iface("eth0", 2, [10, 1, 0, 5], 24),
        iface("eth1", 3, [172, 16, 8, 1], 22),
        // A second address on eth1, and a point-to-point link without a broadcast address.
        iface("eth1", 3, [192, 168, 50, 1], 24),
        iface("wg0", 4, [10, 9, 9, 1], 31),
    ]
}

const AUTO: WolSettings = WolSettings {
    port: 9,
    broadcast: None,
};

fn summary(plan: (Reach, Vec<Route>)) -> (Reach, Vec<(Option<String>, String)>) {
    let routes = plan
        .1
        .into_iter()
        .map(|r| {
            (
                r.via.map(|v| format!("{} {}", v.name, v.addr)),
                r.to.to_string(),
            )
        })
        .collect();
    (plan.0, routes)
}

fn via(s: &str, to: &str) -> (Option<String>, String) {
    (Some(s.into()), to.into())
}

#[test]
fn a_known_address_in_a_local_subnet_gets_that_subnets_broadcast_out_of_that_interface() {
    let got = summary(plan(&local(), Some([172, 16, 10, 77].into()), &AUTO));
    assert_eq!(
        got,
        (
            Reach::Subnet,
            vec![via("eth1 172.16.8.1", "172.16.11.255:9")]
        )
    );
    let got = summary(plan(&local(), Some([10, 1, 0, 200].into()), &AUTO));
    assert_eq!(
        got,
        (Reach::Subnet, vec![via("eth0 10.1.0.5", "10.1.0.255:9")])
    );
}

#[test]
fn otherwise_the_limited_broadcast_leaves_by_every_interface_once() {
    let everywhere = (
        Reach::Everywhere,
        vec![
            via("eth0 10.1.0.5", "255.255.255.255:9"),
            via("eth1 172.16.8.1", "255.255.255.255:9"),
            via("wg0 10.9.9.1", "255.255.255.255:9"),
        ],
    );
    assert_eq!(summary(plan(&local(), None, &AUTO)), everywhere);
    // Routed elsewhere, or on a /31 which has no broadcast address.
    assert_eq!(
        summary(plan(&local(), Some([10, 2, 0, 1].into()), &AUTO)),
        everywhere
    );
    assert_eq!(
        summary(plan(&local(), Some([10, 9, 9, 0].into()), &AUTO)),
        everywhere
    );
    assert_eq!(plan(&[], None, &AUTO), (Reach::Everywhere, Vec::new()));
}

#[test]
fn a_configured_broadcast_wins() {
    let fixed = |addr: [u8; 4]| WolSettings {
        port: 4009,
        broadcast: Some(addr.into()),
    };
    let last = Some([10, 1, 0, 200].into());
    let got = summary(plan(&local(), last, &fixed([192, 168, 50, 255])));
    assert_eq!(
        got,
        (
            Reach::Configured,
            vec![via("eth1 192.168.50.1", "192.168.50.255:4009")]
        )
    );
    // Not on any local subnet: the routing table decides.
    let got = summary(plan(&local(), last, &fixed([10, 50, 0, 255])));
    assert_eq!(
        got,
        (Reach::Configured, vec![(None, "10.50.0.255:4009".into())])
    );
    let got = summary(plan(&local(), last, &fixed([255, 255, 255, 255])));
    assert_eq!(got.0, Reach::Everywhere);
    assert_eq!(got.1.len(), 3);
}

#[test]
fn subnet_arithmetic() {
    let i = iface("x", 1, [192, 168, 1, 130], 25);
    assert_eq!(i.broadcast(), Ipv4Addr::new(192, 168, 1, 255));
    assert!(i.holds([192, 168, 1, 128].into()) && !i.holds([192, 168, 1, 127].into()));
    let all = iface("x", 1, [10, 0, 0, 1], 0);
    assert_eq!(all.broadcast(), Ipv4Addr::BROADCAST);
    assert!(all.holds([8, 8, 8, 8].into()));
    assert!(!iface("x", 1, [10, 0, 0, 1], 32).holds([10, 0, 0, 1].into()));
}

#[test]
fn this_hosts_interfaces_are_listed_without_loopback() {
    let listed = interfaces().unwrap();
    assert!(
        listed
            .iter()
            .all(|i| i.name != "lo" && !i.addr.is_loopback()),
        "{listed:?}"
    );
}
