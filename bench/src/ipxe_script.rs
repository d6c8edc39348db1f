//! What a simulated iPXE does with a boot script, without I/O: settings expanded, `chain`
//! followed, `kernel` and `initrd` collected until `boot`. Straight-line scripts only (what
//! an assignment renders); a menu (`choose`) or `sanboot` is reported as not bootable here,
//! so a storm that forgot its assignments fails loudly instead of measuring menus.

use std::collections::HashMap;

/// What the script asks for next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Fetch this URL and run it as the next script.
    Chain(String),
    /// Fetch the kernel and initrds, then start the kernel.
    Boot {
        /// Kernel URL.
        kernel: String,
        /// Initrd URLs, in order.
        initrds: Vec<String>,
    },
}

/// The settings iPXE would expand (`${name}` or `${name:type}`); unknown ones expand to "",
/// as in iPXE.
#[derive(Debug, Clone, Default)]
pub struct Settings(HashMap<String, String>);

impl Settings {
    /// Sets `name` (e.g. `netX/mac`).
    pub fn set(mut self, name: &str, value: &str) -> Settings {
        self.0.insert(name.to_owned(), value.to_owned());
        self
    }

    /// `text` with every `${...}` replaced.
    pub fn expand(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let Some(len) = rest[at..].find('}') else {
                out.push_str(&rest[at..]);
                return out;
            };
            let name = &rest[at + 2..at + len];
            let name = name.split_once(':').map_or(name, |(n, _)| n);
            out.push_str(self.0.get(name).map_or("", String::as_str));
            rest = &rest[at + len + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// Runs `script` up to its first `chain` or `boot`.
///
/// # Errors
/// Why the script does not boot a kernel: not a script, a menu, `sanboot`, `exit`, or no
/// `boot` after the kernel.
pub fn run(script: &str, settings: &Settings) -> Result<Next, String> {
    let mut lines = script.lines().map(str::trim);
    if lines.next() != Some("#!ipxe") {
        return Err("not an iPXE script".into());
    }
    let (mut kernel, mut initrds) = (None, Vec::new());
    for line in lines {
        // `cmd ... || goto label`: only the command's own words matter on success.
        let command = line.split_once("||").map_or(line, |(c, _)| c).trim();
        let mut words = command.split_whitespace();
        let Some(verb) = words.next() else { continue };
        let url =
            || image_url(words.clone(), settings).ok_or_else(|| format!("{verb} without a URL"));
        match verb {
            "chain" | "chainload" => return url().map(Next::Chain),
            "kernel" | "imgexec" => kernel = Some(url()?),
            "initrd" | "imgfetch" | "module" => initrds.push(url()?),
            "boot" => {
                return kernel
                    .map(|kernel| Next::Boot { kernel, initrds })
                    .ok_or_else(|| "boot before any kernel".into())
            }
            "choose" | "menu" => {
                return Err("the script is a menu (assign the storm's MACs an image)".into())
            }
            "sanboot" => return Err("the script boots by sanboot".into()),
            "exit" | "shell" | "reboot" | "poweroff" => {
                return Err(format!("the script ends with {verb}"))
            }
            _ => {} // echo, set, sleep, labels, comments
        }
    }
    Err("the script ends without boot".into())
}

/// The first argument that is not an option (`--name N`, `--timeout N` and `-n N` take a
/// value), expanded, when it is an `http://` URL.
fn image_url<'a>(mut words: impl Iterator<Item = &'a str>, settings: &Settings) -> Option<String> {
    while let Some(word) = words.next() {
        match word {
            "--name" | "-n" | "--timeout" | "-t" => {
                words.next();
            }
            w if w.starts_with('-') => {}
            w => return Some(settings.expand(w)).filter(|u| u.starts_with("http://")),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::default()
            .set("netX/mac", "02:fb:00:00:00:07")
            .set("buildarch", "i386")
    }

    #[test]
    fn expands_settings_with_and_without_types() {
        let s = settings();
        assert_eq!(
            s.expand("u?mac=${netX/mac}&a=${buildarch}&p=${product:uristring}&x"),
            "u?mac=02:fb:00:00:00:07&a=i386&p=&x"
        );
        assert_eq!(s.expand("open ${brace"), "open ${brace");
    }

    #[test]
    fn follows_the_servers_chain_script() {
        let chain = "#!ipxe\nchain --autofree http://10.0.0.2:8080/boot.ipxe?mac=${netX/mac}&arch=${buildarch} || goto failed\nexit\n:failed\nexit 1\n";
        assert_eq!(
            run(chain, &settings()),
            Ok(Next::Chain(
                "http://10.0.0.2:8080/boot.ipxe?mac=02:fb:00:00:00:07&arch=i386".into()
            ))
        );
    }

    #[test]
    fn collects_kernel_and_initrds_until_boot() {
        let image = "#!ipxe\necho Booting 'Debian' from fleetboot\n\
kernel http://h:1/images/x/linux auto=true initrd=initrd.gz || goto failed\n\
initrd --name initrd.gz http://h:1/images/x/initrd.gz || goto failed\n\
boot || goto failed\n:failed\nexit 1\n";
        assert_eq!(
            run(image, &settings()),
            Ok(Next::Boot {
                kernel: "http://h:1/images/x/linux".into(),
                initrds: vec!["http://h:1/images/x/initrd.gz".into()],
            })
        );
    }

    #[test]
    fn menus_sanboot_and_junk_are_not_bootable() {
        for bad in [
            "#!ipxe\nmenu Pick\nitem a A\nchoose target\n",
            "#!ipxe\nsanboot http://h/isos/a.iso\n",
            "#!ipxe\nkernel http://h/k\n",
            "#!ipxe\nboot\n",
            "#!ipxe\nexit 1\n",
            "<html>not found</html>",
            "#!ipxe\nkernel --name k\nboot\n",
        ] {
            assert!(run(bad, &settings()).is_err(), "{bad:?}");
        }
    }
}
