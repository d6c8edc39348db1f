use super::*;
use crate::store::FileRecord;

fn image(id: &str, path: &str, group: &[&str], recipe: Option<BootRecipe>) -> Image {
    Image {
        id: id.into(),
        path: path.into(),
        group: group.iter().map(|g| g.to_string()).collect(),
        size: 1,
        stamp: FileRecord {
            path: format!("isos/{path}"),
            size: 1,
            mtime_ns: 0,
            inode: 1,
        },
        index: Err("not indexed in this test".into()),
        recipe,
    }
}

fn casper() -> BootRecipe {
    BootRecipe {
        layout: "ubuntu-desktop".into(),
        distro: "Ubuntu".into(),
        method: Method::Kernel,
        kernel: Some("casper/vmlinuz".into()),
        initrds: vec!["casper/initrd".into()],
        cmdline: "boot=casper fetch={image_url}/casper/filesystem.squashfs mac={mac}".into(),
        reason: String::new(),
        netboot_url: None,
    }
}

fn site() -> Site {
    Site {
        base: "http://10.0.0.2:8080".into(),
        kernel_args: "console=ttyS0".into(),
        has_wimboot: false,
        has_memdisk: true,
    }
}

#[test]
fn kernel_recipe_becomes_kernel_initrd_boot() {
    let img = image(
        "ubuntu-1",
        "linux/Ubuntu 24.04.iso",
        &["linux"],
        Some(casper()),
    );
    let mac = "52:54:00:00:00:01".parse().unwrap();
    let s = image_script(&img, &site(), mac);
    assert!(s.starts_with("#!ipxe\n"));
    assert!(
        s.contains(
            "kernel http://10.0.0.2:8080/images/ubuntu-1/casper/vmlinuz boot=casper \
fetch=http://10.0.0.2:8080/images/ubuntu-1/casper/filesystem.squashfs mac=52:54:00:00:00:01 \
initrd=initrd console=ttyS0 || goto failed\n"
        ),
        "{s}"
    );
    assert!(s.contains(
        "initrd --name initrd http://10.0.0.2:8080/images/ubuntu-1/casper/initrd || goto failed\n"
    ));
    assert!(s.contains("boot || goto failed\n"));
}

#[test]
fn unknown_isos_sanboot_with_escaped_url() {
    let img = image("odd-2", "my lab/\"quoted\" ${x}.iso", &["my lab"], None);
    let s = image_script(&img, &site(), "52:54:00:00:00:01".parse().unwrap());
    assert!(s.contains("sanboot --no-describe http://10.0.0.2:8080/isos/my%20lab/%22quoted%22%20%24%7Bx%7D.iso"), "{s}");
    assert!(
        s.contains(r#"echo Booting "\"quoted\" $\{x}.iso" from fleetboot"#),
        "{s}"
    );
}

#[test]
fn menu_nests_groups_and_defaults() {
    let images = vec![
        image("top-1", "top.iso", &[], Some(casper())),
        image(
            "srv-2",
            "linux/servers/srv.iso",
            &["linux", "servers"],
            Some(casper()),
        ),
    ];
    let settings = MenuSettings {
        title: "Lab".into(),
        timeout: Duration::from_secs(3),
        default: Some("srv-2".into()),
    };
    let m = menu(&images, &site(), &settings);
    // Root, linux, linux/servers.
    assert!(m.contains("menu \"Lab\"\n"));
    assert!(m.contains("menu \"Lab > linux\"\n"));
    assert!(m.contains("menu \"Lab > linux > servers\"\n"));
    assert!(m.contains("item img0 \"Ubuntu (top.iso) [kernel]\"\n"));
    assert!(m.contains("item img1 \"Default: Ubuntu (srv.iso) [kernel]\"\n"));
    assert!(m.contains("choose --timeout 3000 --default img1 target || goto local\n"));
    assert!(m.contains("item local \"Boot from local disk\"\n"));
    assert!(m.contains(":img1\n"));
    // In the menu the MAC is left to iPXE.
    assert!(m.contains("mac=${netX/mac}"));
    let no_default = MenuSettings {
        default: Some("gone".into()),
        timeout: Duration::ZERO,
        ..settings
    };
    assert!(menu(&images, &site(), &no_default).contains("choose --default local target"));
}

#[test]
fn a_memdisk_override_loads_the_whole_iso_with_memdisk() {
    let mut img = image("tiny-1", "tiny.iso", &[], Some(casper()));
    img.recipe.as_mut().unwrap().method = Method::Memdisk;
    let s = image_script(&img, &site(), "52:54:00:12:34:56".parse().unwrap());
    assert!(
        s.contains("kernel http://10.0.0.2:8080/ipxe/memdisk iso raw || goto failed\n")
            && s.contains("initrd http://10.0.0.2:8080/isos/tiny.iso || goto failed\n"),
        "{s}"
    );
}
