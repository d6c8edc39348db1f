use super::*;
use clap::Parser;

fn settings(argv: &[&str], toml_text: Option<&str>) -> Result<Settings, ConfigError> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("fleetboot-config-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut full = vec!["fleetboot", "serve"];
    let file = dir.join("f.toml");
    let file_arg = file.to_string_lossy().into_owned();
    if let Some(text) = toml_text {
        std::fs::write(&file, text).unwrap();
        full.extend(["--config", &file_arg]);
    }
    full.extend(argv);
    let cli = crate::cli::Cli::parse_from(full);
    let resolved = match cli.command {
        crate::cli::Command::Serve(args) => Settings::resolve(&args),
        other => panic!("not serve: {other:?}"),
    };
    std::fs::remove_dir_all(&dir).unwrap();
    resolved
}

#[test]
fn flag_beats_file_beats_default() {
    let s = settings(
        &["--tftp-listen", "127.0.0.1:6969"],
        Some("tftp_listen = \"127.0.0.1:7000\"\nhttp_listen = \"127.0.0.1:8000\"\n"),
    )
    .unwrap();
    assert_eq!(s.tftp_listen, "127.0.0.1:6969".parse().unwrap());
    assert_eq!(s.http_listen, "127.0.0.1:8000".parse().unwrap());
    assert_eq!(s.admin_listen, "0.0.0.0:8081".parse().unwrap());
    assert_eq!(s.data_dir, PathBuf::from("./data"));
}

#[test]
fn windowsize_over_the_documented_cap_is_refused_with_a_clear_error() {
    let e = settings(&[], Some("[tftp]\nmax_windowsize = 1000\n")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid setting: tftp.max_windowsize must be 1..=64, got 1000"
    );
    assert!(settings(&[], Some("[tftp]\nmax_windowsize = 0\n")).is_err());
    let s = settings(&[], Some("[tftp]\nmax_windowsize = 64\n")).unwrap();
    assert_eq!(s.tftp.max_windowsize, 64);
}

#[test]
fn client_limits_from_the_file() {
    let s = settings(&[], None).unwrap();
    assert_eq!(s.clients, crate::clients::table::Limits::default());
    let s = settings(
        &[],
        Some("[clients]\nmax_records = 10\nmax_unknown_per_host = 2\nunknown_expiry_secs = 60\n"),
    )
    .unwrap();
    assert_eq!(
        (s.clients.max_records, s.clients.max_unknown_per_host),
        (10, 2)
    );
    assert_eq!(s.clients.max_unknown_per_segment, 4096);
    assert_eq!(s.clients.unknown_expiry, Duration::from_secs(60));
    assert!(settings(&[], Some("[clients]\nmax_records = 0\n")).is_err());
    assert!(settings(&[], Some("[clients]\nunknown_expiry_secs = 0\n")).is_err());
}

#[test]
fn ca_file_flag_beats_file_beats_none() {
    let dir = std::env::temp_dir().join(format!("fleetboot-config-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("f.toml");
    std::fs::write(&file, "ca_file = \"/site/ca.pem\"\n").unwrap();
    let flag = Some(PathBuf::from("/flag.pem"));
    assert_eq!(ca_file(flag.clone(), Some(&file)).unwrap(), flag);
    assert_eq!(
        ca_file(None, Some(&file)).unwrap(),
        Some(PathBuf::from("/site/ca.pem"))
    );
    std::fs::write(&file, "").unwrap();
    assert_eq!(ca_file(None, Some(&file)).unwrap(), None);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(settings(&[], Some("ca_file = \"/site/ca.pem\"\n")).is_ok());
}

#[test]
fn typos_in_the_file_are_errors() {
    let e = settings(&[], Some("tftp_listn = \"127.0.0.1:7000\"\n")).unwrap_err();
    assert!(e.to_string().contains("tftp_listn"), "{e}");
    assert!(settings(&["--cores", "0"], None).is_err());
    assert!(settings(&["--tftp-max-per-ip", "0"], None).is_err());
    assert!(settings(&["--driver", "kqueue"], None).is_err());
}

#[test]
fn boot_mac_check_is_strict_unless_turned_off() {
    use dataplane::MacCheck;
    let check = |argv: &[&str], file| settings(argv, file).unwrap().http.boot_mac_check;
    assert_eq!(check(&[], None), MacCheck::Strict);
    let off = Some("[http]\nboot_mac_check = \"off\"\n");
    assert_eq!(check(&[], off), MacCheck::Off);
    assert_eq!(
        check(&["--boot-mac-check", "strict"], off),
        MacCheck::Strict
    );
    assert!(settings(&["--boot-mac-check", "loose"], None).is_err());
}

#[test]
fn zero_copy_is_auto_unless_asked() {
    use dataplane::http::ZeroCopy;
    let mode = |argv: &[&str], file| settings(argv, file).unwrap().http.zero_copy;
    assert_eq!(mode(&[], None), ZeroCopy::Auto);
    let off = Some("[http]\nzero_copy = \"off\"\n");
    assert_eq!(mode(&[], off), ZeroCopy::Off);
    assert_eq!(mode(&["--zero-copy", "on"], off), ZeroCopy::On);
    assert!(settings(&["--zero-copy", "maybe"], None).is_err());
}

#[test]
fn the_command_line_is_well_formed() {
    use clap::CommandFactory;
    crate::cli::Cli::command().debug_assert();
}

#[test]
fn flags_of_a_table_beat_the_same_key_in_the_file() {
    let file = "[tftp]\nmax_per_ip = 3\nmax_transfers = 7\n\
                [dhcp]\nserver_addr = \"192.0.2.7\"\nport = 1067\n\
                [wol]\nport = 7\nbroadcast = \"192.0.2.255\"\n";
    let s = settings(
        &[
            "--tftp-max-per-ip",
            "5",
            "--server-addr",
            "192.0.2.9",
            "--wol-port",
            "4009",
        ],
        Some(file),
    )
    .unwrap();
    assert_eq!((s.tftp.max_per_ip, s.tftp.max_transfers), (5, 7));
    assert_eq!(s.boot.server_addr, Some(Ipv4Addr::new(192, 0, 2, 9)));
    assert_eq!(s.boot.dhcp_port, 1067);
    assert_eq!(s.wol.port, 4009);
    assert_eq!(s.wol.broadcast, Some(Ipv4Addr::new(192, 0, 2, 255)));
}

#[test]
fn defaults_are_those_documented() {
    let s = settings(&[], None).unwrap();
    // The data plane's configs have no PartialEq: compared through Debug.
    let tftp = dataplane::tftp::Config {
        drain_grace: Duration::from_secs(10),
        ..dataplane::tftp::Config::default()
    };
    assert_eq!(format!("{:?}", s.tftp), format!("{tftp:?}"));
    let http = dataplane::http::Config::default();
    assert_eq!(format!("{:?}", s.http), format!("{http:?}"));
    assert_eq!(s.scan_interval, Duration::from_secs(2));
    assert_eq!(s.boot.menu_title, "fleetboot");
    assert_eq!(s.boot.menu_default, None);
    assert_eq!(s.boot.menu_timeout, Duration::from_secs(10));
    assert!(s.boot.dhcp && s.boot.interfaces.is_empty());
    assert_eq!((s.boot.dhcp_port, s.boot.pxe_port), (67, 4011));
    assert_eq!(s.boot.uefi_bootfile, "ipxe.efi");
    assert_eq!(
        s.admin,
        AdminSettings {
            max_connections: 256,
            request_timeout: Duration::from_secs(30),
            upload_max_bytes: 20 << 30,
            session_ttl: Duration::from_secs(43_200),
            login_max_failures: 5,
            metrics_listen: None,
        }
    );
    assert_eq!(
        s.wol,
        WolSettings {
            port: 9,
            broadcast: None
        }
    );
}

#[test]
fn admin_settings_from_file_and_flags() {
    let file = "[admin]\nmax_connections = 8\nrequest_timeout_ms = 500\n\
                upload_max_bytes = 1024\nsession_ttl_secs = 60\nlogin_max_failures = 2\n\
                metrics_listen = \"127.0.0.1:9100\"\n";
    let s = settings(
        &["--upload-max-bytes", "2048", "--admin-max-connections", "9"],
        Some(file),
    )
    .unwrap();
    assert_eq!(
        s.admin,
        AdminSettings {
            max_connections: 9,
            request_timeout: Duration::from_millis(500),
            upload_max_bytes: 2048,
            session_ttl: Duration::from_secs(60),
            login_max_failures: 2,
            metrics_listen: Some("127.0.0.1:9100".parse().unwrap()),
        }
    );
    let s = settings(
        &[
            "--metrics-listen",
            "127.0.0.1:9200",
            "--login-max-failures",
            "3",
        ],
        None,
    )
    .unwrap();
    assert_eq!(
        s.admin.metrics_listen,
        Some("127.0.0.1:9200".parse().unwrap())
    );
    assert_eq!(s.admin.login_max_failures, 3);
    let e = settings(&["--admin-max-connections", "0"], None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid setting: admin.max_connections must be at least 1"
    );
    assert!(settings(&[], Some("[admin]\nsession_ttl_secs = 0\n")).is_err());
    assert!(settings(&[], Some("[wol]\nport = 0\n")).is_err());
}

#[test]
fn an_error_in_the_file_names_the_file_and_the_key() {
    let e = settings(&[], Some("[tftp]\nmax_per_ip = \"many\"\n")).unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("invalid config "), "{text}");
    assert!(text.contains("f.toml"), "{text}");
    assert!(text.contains("tftp.max_per_ip"), "{text}");
    let e = settings(&[], Some("[wol]\nbroadcst = \"192.0.2.255\"\n")).unwrap_err();
    assert!(e.to_string().contains("broadcst"), "{e}");
    let e = settings(&[], Some("[tftp\n")).unwrap_err();
    assert!(e.to_string().starts_with("invalid config "), "{e}");
}

#[test]
fn a_missing_config_file_is_an_error() {
    let cli = crate::cli::Cli::parse_from([
        "fleetboot",
        "serve",
        "--config",
        "/nonexistent/fleetboot.toml",
    ]);
    let crate::cli::Command::Serve(args) = cli.command else {
        unreachable!("parsed as serve")
    };
    let e = Settings::resolve(&args).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot read config /nonexistent/fleetboot.toml"),
        "{e}"
    );
}

#[test]
fn list_and_keyword_values_are_converted() {
    let s = settings(
        &[
            "--dhcp-interface",
            "eth0, br1,,",
            "--menu-default",
            "debian-12",
        ],
        Some("[dhcp]\nuefi_pxe = \"boot-server\"\nmode = \"off\"\n[menu]\ndefault = \"x\"\n"),
    )
    .unwrap();
    assert_eq!(s.boot.interfaces, ["eth0", "br1"]);
    assert_eq!(s.boot.menu_default.as_deref(), Some("debian-12"));
    assert_eq!(s.boot.uefi, dataplane::dhcp::UefiStrategy::BootServer);
    assert!(!s.boot.dhcp);
    let e = settings(&["--dhcp-mode", "full"], None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid setting: dhcp mode \"full\" (proxy, off)"
    );
}

#[test]
fn multicast_defaults_and_file_values_are_checked() {
    let s = settings(&[], None).unwrap();
    assert_eq!(
        s.multicast,
        MulticastSettings {
            group: "239.255.70.66".parse().unwrap(),
            port: 7000,
            ttl: 1,
            rate_mbit: 900,
            min_rate_mbit: 100,
            interface: None,
            slow: dataplane::multicast::SlowPolicy::Wait,
        }
    );
    let text = "[multicast]\ngroup = \"ff15::42\"\ninterface = \"eth1\"\nslow = \"unicast\"\n";
    let s = settings(&[], Some(text)).unwrap();
    assert_eq!(s.multicast.group, "ff15::42".parse::<IpAddr>().unwrap());
    assert_eq!(s.multicast.interface.as_deref(), Some("eth1"));
    assert_eq!(s.multicast.slow, dataplane::multicast::SlowPolicy::Unicast);
    for (bad, why) in [
        ("group = \"10.0.0.1\"", "not a multicast group"),
        ("ttl = 0", "multicast.ttl must be 1..=255"),
        ("min_rate_mbit = 2000", "is above multicast.rate_mbit"),
        ("slow = \"drop\"", "unknown slow-receiver policy"),
    ] {
        let e = settings(&[], Some(&format!("[multicast]\n{bad}\n"))).unwrap_err();
        assert!(e.to_string().contains(why), "{bad}: {e}");
    }
}
