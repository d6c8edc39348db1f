//! A tolerant reader for syslinux/isolinux configs: enough to find which kernel, initrds and
//! options the ISO's own boot menu would use.
//!
//! Understood: `LABEL`, `KERNEL`/`LINUX`, `INITRD` (comma lists), `APPEND` (global and per
//! label, with `initrd=` split out and `BOOT_IMAGE=` dropped), `DEFAULT`, `MENU DEFAULT`,
//! `INCLUDE`/`MENU INCLUDE`/`CONFIG` (bounded depth), `TEXT HELP … ENDTEXT`. Labels that run a COM32
//! module, a boot sector or `LOCALBOOT` are dropped. Keywords are case-insensitive. Paths
//! come back as written; the caller resolves them against the ISO. Garbage input only ever
//! yields fewer entries.

/// Deepest `INCLUDE` nesting followed (the top file is depth 0).
pub(crate) const MAX_INCLUDE_DEPTH: usize = 4;
/// Caps that keep hostile configs cheap.
const MAX_LINES: usize = 100_000;
const MAX_ENTRIES: usize = 1_000;

/// One bootable label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) label: String,
    /// As written (relative to syslinux's working directory, or `/`-absolute).
    pub(crate) kernel: String,
    pub(crate) initrds: Vec<String>,
    /// Options with `initrd=` and `BOOT_IMAGE=` taken out.
    pub(crate) append: Vec<String>,
}

#[derive(Debug, Default)]
struct Raw {
    label: String,
    kernel: Option<String>,
    /// Arguments written after the kernel name on the same line (legacy `DEFAULT` style).
    kernel_args: String,
    initrd: Vec<String>,
    append: Option<String>,
    menu_default: bool,
    /// Synthesised from a legacy `DEFAULT kernel options` line.
    legacy_default: bool,
    unusable: bool,
}

#[derive(Default)]
struct State {
    entries: Vec<Raw>,
    default: Option<String>,
    global_append: Option<String>,
    lines: usize,
}

/// Parses `text` (a config file) and, through `include`, the files it includes. Entries come
/// back best first: `MENU DEFAULT` labels, then the `DEFAULT` label, then the rest in order.
pub(crate) fn parse(text: &str, include: &dyn Fn(&str) -> Option<String>) -> Vec<Entry> {
    let mut st = State::default();
    walk(&mut st, text, include, 0);

    let default = st.default.as_deref().map(str::trim).unwrap_or("");
    let default_word = default.split_whitespace().next().unwrap_or("");
    // Legacy `DEFAULT kernel options` that names no label is itself a boot line.
    let names_label = st
        .entries
        .iter()
        .any(|e| e.label.eq_ignore_ascii_case(default_word));
    if !default_word.is_empty() && !names_label && !is_module(default_word) {
        st.entries.push(Raw {
            label: "default".into(),
            kernel: Some(default_word.to_string()),
            kernel_args: default[default_word.len()..].trim().to_string(),
            legacy_default: true,
            ..Raw::default()
        });
    }
    let rank = |e: &Raw| {
        if e.menu_default {
            0
        } else if e.legacy_default
            || (!default_word.is_empty() && e.label.eq_ignore_ascii_case(default_word))
        {
            1
        } else {
            2
        }
    };
    let mut ordered: Vec<&Raw> = st.entries.iter().collect();
    ordered.sort_by_key(|e| rank(e)); // stable: file order within a rank
    ordered
        .into_iter()
        .filter(|e| !e.unusable)
        .filter_map(|e| finish(e, st.global_append.as_deref()))
        .collect()
}

fn finish(raw: &Raw, global_append: Option<&str>) -> Option<Entry> {
    let kernel = raw.kernel.clone().filter(|k| !k.is_empty())?;
    let mut initrds = raw.initrd.clone();
    let mut append = Vec::new();
    let opts = raw.append.as_deref().or(global_append).unwrap_or("");
    let opts = if opts.trim() == "-" { "" } else { opts };
    for tok in raw
        .kernel_args
        .split_whitespace()
        .chain(opts.split_whitespace())
    {
        if let Some(list) = strip_key(tok, "initrd=") {
            initrds.extend(
                list.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
        } else if strip_key(tok, "BOOT_IMAGE=").is_none() {
            append.push(tok.to_string());
        }
    }
    initrds.dedup();
    Some(Entry {
        label: raw.label.clone(),
        kernel,
        initrds,
        append,
    })
}

/// `tok` without a case-insensitive `key` prefix.
fn strip_key<'t>(tok: &'t str, key: &str) -> Option<&'t str> {
    let head = tok.get(..key.len())?;
    head.eq_ignore_ascii_case(key).then(|| &tok[key.len()..])
}

/// COM32 modules and other non-kernel images a label may name.
fn is_module(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".c32", ".com", ".cbt", ".bss", ".0", ".bin", ".sys"]
        .iter()
        .any(|ext| lower.ends_with(ext))
        || lower.ends_with("memdisk")
}

fn walk(st: &mut State, text: &str, include: &dyn Fn(&str) -> Option<String>, depth: usize) {
    let mut in_text_block = false;
    for line in text.lines() {
        st.lines += 1;
        if st.lines > MAX_LINES {
            return;
        }
        let line = line.trim();
        if in_text_block {
            in_text_block = !line.eq_ignore_ascii_case("endtext");
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kw, rest) = split_word(line);
        match kw.to_ascii_lowercase().as_str() {
            "label" => {
                if st.entries.len() >= MAX_ENTRIES {
                    return;
                }
                st.entries.push(Raw {
                    label: rest.to_string(),
                    ..Raw::default()
                });
            }
            "kernel" | "linux" => {
                if let Some(e) = st.entries.last_mut() {
                    let (k, args) = split_word(rest);
                    e.unusable = k.is_empty() || is_module(k);
                    e.kernel = Some(k.to_string());
                    e.kernel_args = args.to_string();
                }
            }
            "com32" | "boot" | "bss" | "pxe" | "fdimage" | "comboot" | "localboot" => {
                if let Some(e) = st.entries.last_mut() {
                    e.unusable = true;
                }
            }
            // `CONFIG other.cfg` switches menus (archiso's whichsys dispatch): read it like an
            // include, but the label itself boots nothing.
            "config" => {
                if let Some(e) = st.entries.last_mut() {
                    e.unusable = true;
                }
                follow(st, rest, include, depth);
            }
            "initrd" => {
                if let Some(e) = st.entries.last_mut() {
                    e.initrd = rest
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect();
                }
            }
            "append" => match st.entries.last_mut() {
                Some(e) => e.append = Some(rest.to_string()),
                None => st.global_append = Some(rest.to_string()),
            },
            "default" => st.default = Some(rest.to_string()),
            "include" => follow(st, rest, include, depth),
            "menu" => {
                let (sub, more) = split_word(rest);
                match sub.to_ascii_lowercase().as_str() {
                    "default" => {
                        if let Some(e) = st.entries.last_mut() {
                            e.menu_default = true;
                        }
                    }
                    "include" => follow(st, more, include, depth),
                    _ => {}
                }
            }
            "text" => in_text_block = split_word(rest).0.eq_ignore_ascii_case("help"),
            _ => {}
        }
    }
}

fn follow(st: &mut State, rest: &str, include: &dyn Fn(&str) -> Option<String>, depth: usize) {
    let path = split_word(rest).0;
    if path.is_empty() || depth >= MAX_INCLUDE_DEPTH {
        return;
    }
    if let Some(text) = include(path) {
        walk(st, &text, include, depth + 1);
    }
}

/// First whitespace-separated word and the trimmed rest.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    }
}

#[cfg(test)]
#[path = "syslinux_tests.rs"]
mod tests;
