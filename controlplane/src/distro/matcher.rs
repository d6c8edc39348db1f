//! Matching one ISO against one table [`Layout`] and turning a match into a [`BootRecipe`].
//!
//! A layout applies when its rules hold *and* its recipe can be completed (kernel and every
//! non-optional initrd found, squashfs found when the cmdline needs it, captures found). A
//! layout whose recipe can't be completed is skipped, so the next one (or the config-file
//! fallback) gets its chance instead of a recipe that can't boot.

use std::cell::RefCell;
use std::collections::HashMap;

use super::glob::{parent, PathIndex};
use super::table::{Layout, DETECT_VARS};
use super::{BootRecipe, IsoView, Method};

/// Largest text we look at; `read_text` should already refuse bigger files.
const MAX_TEXT: usize = 1 << 20;

/// Everything about one ISO that matching needs, computed once per `detect`.
pub(crate) struct Ctx<'v, 'a> {
    pub(crate) iso: &'v IsoView<'a>,
    pub(crate) index: PathIndex,
    /// `read_text` results by resolved path; configs are read by several layouts.
    texts: RefCell<HashMap<String, Option<String>>>,
}

impl<'v, 'a> Ctx<'v, 'a> {
    pub(crate) fn new(iso: &'v IsoView<'a>) -> Self {
        Ctx {
            iso,
            index: PathIndex::new(iso.paths),
            texts: RefCell::new(HashMap::new()),
        }
    }

    /// Text of a small file, found case-insensitively; `None` if missing or unreadable.
    pub(crate) fn text(&self, path: &str) -> Option<String> {
        let resolved = self.index.resolve(path)?.to_string();
        if let Some(hit) = self.texts.borrow().get(&resolved) {
            return hit.clone();
        }
        let mut text = (self.iso.read_text)(&resolved);
        if let Some(t) = &mut text {
            if t.len() > MAX_TEXT {
                let mut cut = MAX_TEXT;
                while !t.is_char_boundary(cut) {
                    cut -= 1;
                }
                t.truncate(cut);
            }
        }
        self.texts.borrow_mut().insert(resolved, text.clone());
        text
    }

    /// The release codename (`bookworm`, `jammy`, `kali-rolling`), for netboot URLs: the
    /// quoted name in `.disk/info`, else a codename directory under `dists/`.
    pub(crate) fn suite(&self) -> Option<String> {
        if let Some(info) = self.text(".disk/info") {
            let quoted = info
                .split('"')
                .nth(1)
                .and_then(|q| q.split_whitespace().next());
            if let Some(word) = quoted {
                let word = word.to_lowercase();
                if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    return Some(word);
                }
            }
        }
        const ALIASES: &[&str] = &[
            "stable",
            "testing",
            "unstable",
            "oldstable",
            "oldoldstable",
            "experimental",
            "frozen",
        ];
        self.index
            .list_dir("dists")
            .into_iter()
            .map(str::to_lowercase)
            .find(|d| !ALIASES.contains(&d.as_str()))
    }
}

/// Tries one layout; `Err` says why it didn't apply (for debug logs).
pub(crate) fn try_layout(layout: &Layout, ctx: &Ctx<'_, '_>) -> Result<BootRecipe, String> {
    let idx = &ctx.index;
    let mut evidence: Vec<String> = Vec::new();

    // Evidence names what was found, as the ISO spells it (not the pattern).
    for p in &layout.all {
        match idx.first(p) {
            Some(found) => evidence.push(found.to_string()),
            None => return Err(format!("{p} missing")),
        }
    }
    if !layout.any.is_empty() {
        match layout.any.iter().find_map(|p| idx.first(p)) {
            Some(found) => evidence.push(found.to_string()),
            None => return Err(format!("none of {:?} present", layout.any)),
        }
    }
    if let Some(p) = layout.none.iter().find(|p| idx.exists(p)) {
        return Err(format!("{p} present"));
    }
    let mut reason = if evidence.is_empty() {
        String::new()
    } else {
        format!("{} present", and_list(&evidence))
    };
    let label = ctx.iso.volume_id;
    let identity = identity(layout, ctx);
    if !layout.label_any.is_empty() || !layout.text_any.is_empty() {
        match identity {
            Some(why) => push_part(&mut reason, why),
            None => return Err("label/text identity not found".into()),
        }
    }
    if !label.is_empty() && !reason.contains("volume label") {
        push_part(&mut reason, format!("volume label '{label}'"));
    }

    let mut vars: HashMap<&str, String> = HashMap::new();
    let mut kernel = None;
    let mut initrds = Vec::new();
    if matches!(layout.method, Method::Kernel | Method::Wimboot) {
        if layout.method == Method::Kernel {
            let k = layout
                .kernel
                .iter()
                .find_map(|p| idx.first(p))
                .ok_or("no kernel found")?
                .to_string();
            let dir = parent(&k).to_string();
            vars.insert(
                "kernel_top",
                dir.split('/').next().unwrap_or("").to_string(),
            );
            vars.insert("kernel_dir", dir);
            vars.insert("kernel_path", k.clone());
            kernel = Some(k);
        }
        for spec in &layout.initrds {
            let pattern = substitute(&spec.pattern, &vars);
            match idx.first(&pattern) {
                Some(found) if !initrds.iter().any(|i: &String| i == found) => {
                    initrds.push(found.to_string())
                }
                Some(_) => {}
                None if spec.optional => {}
                None => return Err(format!("initrd {pattern} missing")),
            }
        }
    }

    let mut cmdline = layout.cmdline.clone();
    for extra in &layout.append_if {
        if extra.any.iter().any(|p| idx.exists(p)) {
            cmdline = format!("{cmdline} {}", extra.args).trim().to_string();
        }
    }
    if !layout.squashfs.is_empty() {
        let found = layout
            .squashfs
            .iter()
            .find_map(|p| idx.first(&substitute(p, &vars)));
        match found {
            Some(sq) => {
                let dir = parent(sq).to_string();
                vars.insert(
                    "squashfs_top",
                    dir.split('/').next().unwrap_or("").to_string(),
                );
                vars.insert("squashfs_dir", dir);
                vars.insert("squashfs_url", format!("{{image_url}}/{sq}"));
                vars.insert("squashfs_path", sq.to_string());
            }
            None if cmdline.contains("{squashfs_") => return Err("no squashfs found".into()),
            None => {}
        }
    }
    for cap in &layout.capture {
        let value = cap.files.iter().find_map(|f| {
            let text = ctx.text(f)?;
            let at = text.find(&cap.prefix)? + cap.prefix.len();
            let token: String = text[at..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
                .collect();
            (!token.is_empty()).then_some(token)
        });
        match value {
            Some(v) => {
                push_part(
                    &mut reason,
                    format!("{}{v} read from the ISO's boot config", cap.prefix),
                );
                vars.insert(cap.var.as_str(), v);
            }
            None => return Err(format!("{}… not found in {:?}", cap.prefix, cap.files)),
        }
    }
    let cmdline = substitute(&cmdline, &vars);

    let netboot_url = if layout.method == Method::NeedsNetboot {
        let suite = ctx.suite();
        let template = suite
            .as_ref()
            .and_then(|s| layout.netboot_by_suite.get(s))
            .or(layout.netboot_url.as_ref());
        match (template, suite) {
            (Some(t), _) if !t.contains("{suite}") => Some(t.clone()),
            (Some(t), Some(s)) => {
                push_part(&mut reason, format!("release '{s}'"));
                Some(t.replace("{suite}", &s))
            }
            _ => {
                push_part(
                    &mut reason,
                    "release unknown, so no netboot URL".to_string(),
                );
                None
            }
        }
    } else {
        None
    };
    if let Some(note) = &layout.note {
        push_part(&mut reason, format!("note: {note}"));
    }
    Ok(BootRecipe {
        layout: layout.id.clone(),
        distro: layout.distro.clone(),
        method: layout.method,
        kernel,
        initrds,
        cmdline,
        reason,
        netboot_url,
    })
}

/// Which identity rule (label or text file) holds, described for the reason.
fn identity(layout: &Layout, ctx: &Ctx<'_, '_>) -> Option<String> {
    let label = ctx.iso.volume_id;
    let lower = label.to_lowercase();
    if let Some(hit) = layout.label_any.iter().find(|n| lower.contains(n.as_str())) {
        return Some(format!("volume label '{label}' contains '{hit}'"));
    }
    for rule in &layout.text_any {
        let Some(text) = ctx.text(&rule.path) else {
            continue;
        };
        let text = text.to_lowercase();
        if let Some(hit) = rule
            .contains
            .iter()
            .find(|n| text.contains(&n.to_lowercase()))
        {
            return Some(format!("{} mentions '{hit}'", rule.path));
        }
    }
    None
}

/// Replaces the detect-time variables that are set; leaves renderer variables alone.
fn substitute(template: &str, vars: &HashMap<&str, String>) -> String {
    let mut out = template.to_string();
    for name in DETECT_VARS.iter().copied().chain(vars.keys().copied()) {
        if let Some(v) = vars.get(name) {
            out = out.replace(&format!("{{{name}}}"), v);
        }
    }
    out
}

fn push_part(reason: &mut String, part: String) {
    if !reason.is_empty() {
        reason.push_str("; ");
    }
    reason.push_str(&part);
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
