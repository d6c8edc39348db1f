//! The settings' layers as the binary sees them: a `FLEETBOOT_*` variable beats the TOML
//! file, a flag beats the variable, and a bad value anywhere stops the start with a message
//! naming the setting. Values are made invalid on purpose so that `serve` stops at once, and
//! the message tells which layer won.

use std::process::{Command, Output};

use fleetboot_tests::{binary, run, TempDir};

fn serve(file: &str, env: &[(&str, &str)], flags: &[&str]) -> Output {
    let dir = TempDir::new("settings");
    let config = dir.path().join("fleetboot.toml");
    std::fs::write(&config, file).unwrap();
    let mut cmd = Command::new(binary());
    cmd.args(["serve", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args([
            "--tftp-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .args(["--admin-listen", "127.0.0.1:0", "--dhcp-mode", "off"])
        .args(flags);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd, 15)
}

fn refused_with(o: &Output, message: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "started anyway: {o:?}");
    assert!(err.contains(message), "wanted {message:?} in {err}");
}

#[test]
fn the_environment_beats_the_file_and_a_flag_beats_the_environment() {
    // The file alone is fine up to its [admin] table; the variable's 0 wins over the file's 5.
    let file = "[tftp]\nmax_per_ip = 5\n[admin]\nsession_ttl_secs = 0\n";
    let env = [("FLEETBOOT_TFTP_MAX_PER_IP", "0")];
    refused_with(
        &serve(file, &env, &[]),
        "invalid setting: tftp.max_per_ip must be at least 1",
    );
    // The flag's 3 wins over the variable: the check goes on to the next table.
    refused_with(
        &serve(file, &env, &["--tftp-max-per-ip", "3"]),
        "invalid setting: admin.session_ttl_secs must be at least 1",
    );
}

#[test]
fn the_new_tables_are_read_from_the_file_the_environment_and_flags() {
    refused_with(
        &serve("[wol]\nport = 0\n", &[], &[]),
        "invalid setting: wol.port must be at least 1",
    );
    refused_with(
        &serve("", &[("FLEETBOOT_ADMIN_MAX_CONNECTIONS", "0")], &[]),
        "invalid setting: admin.max_connections must be at least 1",
    );
    refused_with(
        &serve(
            "[admin]\nmax_connections = 4\n",
            &[],
            &["--login-max-failures", "0"],
        ),
        "invalid setting: admin.login_max_failures must be at least 1",
    );
}

#[test]
fn a_typo_in_a_table_names_the_file_and_the_key() {
    let o = serve("[admin]\nsession_ttl = 60\n", &[], &[]);
    refused_with(&o, "fleetboot.toml: unknown field: found `session_ttl`");
}
