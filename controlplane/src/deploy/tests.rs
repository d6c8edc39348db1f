use super::*;

fn mac(n: u8) -> Mac {
    format!("52:54:00:00:00:{n:02x}").parse().unwrap()
}

fn deploy(n: u8) -> Deploy {
    Deploy {
        id: 1,
        image: "disks/a.img".into(),
        disk: DEFAULT_DISK.into(),
        group: None,
        rate_mbit: None,
        min_receivers: None,
        max_wait_secs: None,
        timeout_secs: 100,
        session: Some("00000007".into()),
        created: 1000,
        cancelled: None,
        clients: (1..=n).map(|i| DeployClient::pending(mac(i))).collect(),
    }
}

#[test]
fn the_state_is_the_sum_of_the_machines() {
    let mut d = deploy(3);
    assert_eq!(d.state(), DeployState::Running);
    assert_eq!(d.counts().pending, 3);
    d.client_mut(mac(1)).unwrap().on_agent_served(1001);
    d.client_mut(mac(2)).unwrap().on_progress("receiving", 1002);
    let c = d.counts();
    assert_eq!((c.pending, c.receiving), (1, 2));
    assert_eq!(d.clients[1].message.as_deref(), Some("receiving"));
    for i in 1..=3 {
        d.client_mut(mac(i)).unwrap().on_done(1010);
    }
    assert_eq!(d.state(), DeployState::Done);
    assert!(!d.deploys_to(mac(1)));
    // A late callback changes nothing once a machine has ended.
    d.client_mut(mac(1))
        .unwrap()
        .on_progress("failed: late", 1020);
    assert_eq!(d.state(), DeployState::Done);
}

#[test]
fn a_failure_message_fails_the_machine_and_the_deploy_once_all_ended() {
    let mut d = deploy(2);
    d.client_mut(mac(1))
        .unwrap()
        .on_progress("failed: sha256 mismatch after repair", 1005);
    let c = &d.clients[0];
    assert_eq!(c.state, ClientState::Failed);
    assert_eq!(c.message.as_deref(), Some("sha256 mismatch after repair"));
    assert_eq!(c.finished, Some(1005));
    assert_eq!(d.state(), DeployState::Running);
    assert!(d.deploys_to(mac(2)) && !d.deploys_to(mac(1)));
    d.client_mut(mac(2)).unwrap().on_done(1006);
    assert_eq!(d.state(), DeployState::Failed);
}

#[test]
fn machines_not_done_by_the_timeout_fail() {
    let mut d = deploy(2);
    d.client_mut(mac(1)).unwrap().on_done(1050);
    assert_eq!(d.deadline(), Some(1101));
    assert!(d.expire(1100).is_empty(), "not late yet");
    assert_eq!(d.expire(1101), vec![mac(2)]);
    assert_eq!(d.clients[1].state, ClientState::Failed);
    assert_eq!(
        d.clients[1].message.as_deref(),
        Some("timed out after 100 s")
    );
    assert_eq!(d.clients[0].state, ClientState::Done);
    assert_eq!(d.state(), DeployState::Failed);
    assert_eq!(d.deadline(), None);
}

#[test]
fn a_cancelled_deploy_boots_no_agent() {
    let mut d = deploy(1);
    d.cancelled = Some(1001);
    assert_eq!(d.state(), DeployState::Cancelled);
    assert!(!d.deploys_to(mac(1)));
    assert!(d.expire(5000).is_empty());
}

#[test]
fn disks_are_device_paths() {
    for ok in [
        "/dev/sda",
        "/dev/nvme0n1",
        "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4",
    ] {
        assert_eq!(check_disk(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        "/dev/",
        "sda",
        "/tmp/x",
        "/dev/sda quiet",
        "/dev/../etc/passwd",
        "/dev/sda;reboot",
    ] {
        assert!(check_disk(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn records_round_trip_as_json() {
    let mut d = deploy(1);
    d.client_mut(mac(1)).unwrap().on_progress("receiving", 1001);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["clients"][0]["mac"], "52:54:00:00:00:01");
    assert_eq!(json["clients"][0]["state"], "receiving");
    assert_eq!(serde_json::from_value::<Deploy>(json).unwrap(), d);
}
