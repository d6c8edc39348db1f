//! Deploys in the service, driven directly (the deploy recorded as if its session had started:
//! sessions need a data plane): what deploying machines boot, what their agents' callbacks
//! change, timeouts, a restart.

use dataplane::install::{InstallReport, InstallStage};
use dataplane::{Asker, BootScriptSeen, Detail, Inventory, Mac, ScriptServed, Use};

use super::tests::{debian_image, dir, event, service};
use crate::deploy::{ClientState, Deploy, DeployClient, DeployState};
use crate::service::clients::ClientPatch;
use crate::service::Service;

fn mac(n: u8) -> Mac {
    format!("52:54:00:00:0d:{n:02x}").parse().unwrap()
}

/// A running deploy of `disks/a.img` to machines 1 and 2 (known, assigned the Debian image).
fn deploying(tag: &str) -> (Service, std::path::PathBuf) {
    let dir = dir(tag);
    let (mut s, _) = service(&dir);
    s.images.push(debian_image());
    for n in 1..=3 {
        let assign = ClientPatch {
            assigned: Some(Some("debian-abc123".into())),
            ..ClientPatch::default()
        };
        s.patch_client(&mac(n).to_string(), assign).unwrap();
    }
    let d = Deploy {
        id: 1,
        image: "disks/a.img".into(),
        disk: "/dev/vda".into(),
        group: None,
        rate_mbit: None,
        min_receivers: None,
        max_wait_secs: None,
        timeout_secs: 600,
        session: Some("0badcafe".into()),
        created: crate::coordinator::unix_now(),
        cancelled: None,
        clients: vec![DeployClient::pending(mac(1)), DeployClient::pending(mac(2))],
    };
    s.store.save_deploy(&d).unwrap();
    s.deploys.insert(1, d);
    (s, dir)
}

fn script(s: &mut Service, n: u8) -> (String, ScriptServed) {
    let policy = s.policy();
    let (text, served) = policy.script_for(Asker::Machine(mac(n)), None, Use::Peek);
    (text.into_owned(), served)
}

fn callback(s: &mut Service, n: u8, stage: InstallStage, message: &str) {
    let report = Detail::Install(InstallReport {
        mac: mac(n),
        stage,
        message: message.into(),
    });
    s.on_events(&[event(mac(n), report)]);
}

fn state(s: &Service, n: u8) -> ClientState {
    s.deploy(1).unwrap().deploy.clients[usize::from(n) - 1].state
}

#[test]
fn deploying_machines_boot_the_agent_then_their_disk_or_what_they_had() {
    let (mut s, dir) = deploying("deploy-flow");
    let (agent, served) = script(&mut s, 1);
    assert!(agent.contains("fleetboot.manifest=http://192.0.2.1:8080/multicast/0badcafe "));
    assert!(
        agent.contains("kernel http://192.0.2.1:8080/agent/vmlinuz "),
        "{agent}"
    );
    assert_eq!(
        served,
        ScriptServed::Image {
            id: "deploy-1".into(),
            once: false
        }
    );
    // Not deploying: its assignment as before.
    let (other, _) = script(&mut s, 3);
    assert!(
        other.contains("Booting") && !other.contains("fleetboot.manifest"),
        "{other}"
    );

    // Served the agent: receiving; the agent fails: failed, and it boots its image again.
    let seen = Detail::BootScript(Box::new(BootScriptSeen {
        inventory: Inventory {
            mac: Some(mac(1)),
            ..Default::default()
        },
        served,
        refused: None,
    }));
    s.on_events(&[event(mac(1), seen)]);
    assert_eq!(state(&s, 1), ClientState::Receiving);
    callback(
        &mut s,
        1,
        InstallStage::Progress,
        "failed: no disk /dev/vda",
    );
    assert_eq!(state(&s, 1), ClientState::Failed);
    let view = s.deploy(1).unwrap();
    assert_eq!(
        view.deploy.clients[0].message.as_deref(),
        Some("no disk /dev/vda")
    );
    assert_eq!(
        script(&mut s, 1).0,
        other.replace(&mac(3).to_string(), &mac(1).to_string())
    );

    // The other reports done: it boots its disk, and the deploy has ended.
    callback(&mut s, 2, InstallStage::Done, "ok");
    assert_eq!(state(&s, 2), ClientState::Done);
    assert_eq!(s.deploy(1).unwrap().state, DeployState::Failed);
    let c = s.client(&mac(2).to_string()).unwrap();
    assert!(c.local_boot && c.assigned.is_none(), "{c:?}");
    assert!(script(&mut s, 2).0.contains("booting from local disk"));
    // Nobody deploys now: a late callback is an install's business, and changes nothing here.
    callback(&mut s, 1, InstallStage::Done, "late");
    assert_eq!(state(&s, 1), ClientState::Failed);

    // Saved as it is.
    drop(s.finish());
    let store = crate::store::Store::open(&dir).unwrap();
    let saved = store.deploys().unwrap();
    assert_eq!(saved[0].clients[0].state, ClientState::Failed);
    assert_eq!(saved[0].clients[1].state, ClientState::Done);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn machines_time_out_and_a_restart_fails_what_was_running() {
    let (mut s, dir) = deploying("deploy-timeout");
    let created = s.deploys[&1].created;
    assert_eq!(s.expire_deploys(created + 10), Some(created + 601));
    callback(&mut s, 2, InstallStage::Progress, "receiving");
    assert_eq!(s.expire_deploys(created + 601), None);
    assert_eq!(state(&s, 1), ClientState::Failed);
    assert_eq!(state(&s, 2), ClientState::Failed);
    assert!(!script(&mut s, 1).0.contains("fleetboot.manifest"));

    let (mut s2, dir2) = deploying("deploy-restart");
    s2.end_interrupted_deploys();
    let view = s2.deploy(1).unwrap();
    assert_eq!(view.state, DeployState::Failed);
    assert_eq!(
        view.deploy.clients[1].message.as_deref(),
        Some("the server restarted during the deploy")
    );
    for (s, d) in [(s, dir), (s2, dir2)] {
        drop(s.finish());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
