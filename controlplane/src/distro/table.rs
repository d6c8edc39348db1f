//! The layout table: the TOML model of `layouts.toml` (and of users' `data/layouts.toml`),
//! its validation, and the compiled [`Layout`] the matcher works from.
//!
//! Validation is strict (unknown keys, unknown `{variables}`, a kernel recipe without a
//! kernel, …) because a typo in a user override should be a clear error naming the line, not
//! a layout that silently never matches.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::Deserialize;

use super::glob::normalize;
use super::Method;

/// Variables the boot-script renderer fills in later; we pass them through untouched.
pub(crate) const RENDER_VARS: &[&str] = &[
    "server",
    "image_url",
    "iso_url",
    "mac",
    "volume_id",
    "kernel_name",
    "initrd_names",
];

/// Variables `detect` fills in itself from what it found in the ISO.
pub(crate) const DETECT_VARS: &[&str] = &[
    "squashfs_url",
    "squashfs_path",
    "squashfs_dir",
    "squashfs_top",
    "kernel_path",
    "kernel_dir",
    "kernel_top",
];

/// Variables allowed inside path patterns (`initrds`, `squashfs`): known once the kernel is.
const PATTERN_VARS: &[&str] = &["kernel_dir", "kernel_top"];

/// Why a layout table was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// The text is not valid TOML or does not fit the layout schema.
    Parse {
        /// 1-based line of the problem, when the parser could tell.
        line: Option<usize>,
        message: String,
    },
    /// A layout parsed but makes no sense (missing kernel, unknown variable, …).
    Invalid {
        /// 1-based line of the layout's `id`.
        line: usize,
        id: String,
        message: String,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::Parse {
                line: Some(line),
                message,
            } => write!(f, "layouts TOML, line {line}: {message}"),
            LayoutError::Parse {
                line: None,
                message,
            } => write!(f, "layouts TOML: {message}"),
            LayoutError::Invalid { line, id, message } => {
                write!(f, "layouts TOML, line {line}: layout '{id}': {message}")
            }
        }
    }
}

impl std::error::Error for LayoutError {}

/// How the TOML spells [`Method`].
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum MethodSpec {
    Kernel,
    Sanboot,
    Wimboot,
    NeedsNetboot,
}

/// A string or a list of strings (`kernel = "x"` or `kernel = ["x", "y"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    layout: Vec<RawLayout>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayout {
    id: toml::Spanned<String>,
    distro: String,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    all: Vec<String>,
    #[serde(default)]
    any: Vec<String>,
    #[serde(default)]
    none: Vec<String>,
    #[serde(default)]
    label_any: Vec<String>,
    #[serde(default)]
    text_any: Vec<TextRule>,
    method: MethodSpec,
    kernel: Option<OneOrMany>,
    #[serde(default)]
    initrds: Vec<String>,
    #[serde(default)]
    cmdline: String,
    squashfs: Option<OneOrMany>,
    netboot_url: Option<String>,
    #[serde(default)]
    netboot_by_suite: BTreeMap<String, String>,
    note: Option<String>,
    #[serde(default)]
    append_if: Vec<AppendIf>,
    #[serde(default)]
    capture: Vec<Capture>,
}

/// Identity rule: a small text file inside the ISO mentions one of `contains`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TextRule {
    pub(crate) path: String,
    pub(crate) contains: Vec<String>,
}

/// Extra cmdline arguments added when any of `any` exists in the ISO.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppendIf {
    pub(crate) any: Vec<String>,
    pub(crate) args: String,
}

/// Defines `{var}`: the token following `prefix` in the first of `files` that has one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Capture {
    pub(crate) var: String,
    pub(crate) files: Vec<String>,
    pub(crate) prefix: String,
}

/// One initrd entry of a recipe.
#[derive(Debug, Clone)]
pub(crate) struct InitrdSpec {
    pub(crate) pattern: String,
    /// Written with a leading `?`: skipped when missing instead of failing the layout.
    pub(crate) optional: bool,
}

/// A validated layout, ready for matching.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) id: String,
    pub(crate) distro: String,
    pub(crate) priority: i32,
    pub(crate) all: Vec<String>,
    pub(crate) any: Vec<String>,
    pub(crate) none: Vec<String>,
    /// Lower-cased.
    pub(crate) label_any: Vec<String>,
    pub(crate) text_any: Vec<TextRule>,
    pub(crate) method: Method,
    /// Candidates, tried in order; each may be a glob.
    pub(crate) kernel: Vec<String>,
    pub(crate) initrds: Vec<InitrdSpec>,
    pub(crate) cmdline: String,
    pub(crate) squashfs: Vec<String>,
    pub(crate) netboot_url: Option<String>,
    /// Lower-cased suite → URL, overriding `netboot_url` for that release.
    pub(crate) netboot_by_suite: BTreeMap<String, String>,
    pub(crate) note: Option<String>,
    pub(crate) append_if: Vec<AppendIf>,
    pub(crate) capture: Vec<Capture>,
}

/// Parses and validates a layout table.
pub(crate) fn parse(text: &str) -> Result<Vec<Layout>, LayoutError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| LayoutError::Parse {
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim().to_string(),
    })?;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.layout.len());
    for r in raw.layout {
        let line = line_of(text, r.id.span().start);
        let id = r.id.get_ref().clone();
        let invalid = |message: String| LayoutError::Invalid {
            line,
            id: id.clone(),
            message,
        };
        if !seen.insert(id.clone()) {
            return Err(invalid("duplicate id in this file".into()));
        }
        let layout = compile(r).map_err(invalid)?;
        out.push(layout);
    }
    Ok(out)
}

fn compile(r: RawLayout) -> Result<Layout, String> {
    let id = r.id.into_inner();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("id must be non-empty and use only letters, digits, '-', '_' and '.'".into());
    }
    if r.distro.trim().is_empty() {
        return Err("distro must not be empty".into());
    }
    if r.all.is_empty() && r.any.is_empty() && r.label_any.is_empty() && r.text_any.is_empty() {
        return Err("no match rules (all/any/label_any/text_any): it would match every ISO".into());
    }
    let method = match r.method {
        MethodSpec::Kernel => Method::Kernel,
        MethodSpec::Sanboot => Method::Sanboot,
        MethodSpec::Wimboot => Method::Wimboot,
        MethodSpec::NeedsNetboot => Method::NeedsNetboot,
    };
    let kernel = r.kernel.map(OneOrMany::into_vec).unwrap_or_default();
    let squashfs = r.squashfs.map(OneOrMany::into_vec).unwrap_or_default();
    match method {
        Method::Kernel if kernel.is_empty() => return Err("method kernel needs a kernel".into()),
        Method::Wimboot if r.initrds.is_empty() => {
            return Err("method wimboot needs initrds (bcd, boot.sdi, boot.wim)".into())
        }
        Method::Sanboot | Method::NeedsNetboot | Method::Wimboot if !kernel.is_empty() => {
            return Err(format!("method {method:?} takes no kernel"));
        }
        Method::Sanboot | Method::NeedsNetboot if !r.initrds.is_empty() => {
            return Err(format!("method {method:?} takes no initrds"));
        }
        _ => {}
    }
    if method == Method::NeedsNetboot && r.netboot_url.is_none() && r.netboot_by_suite.is_empty() {
        return Err("method needs-netboot needs netboot_url or netboot_by_suite".into());
    }
    for rule in &r.text_any {
        if rule.contains.is_empty() || rule.path.trim().is_empty() {
            return Err("text_any entries need a path and at least one 'contains'".into());
        }
    }
    for c in &r.capture {
        if c.var.is_empty() || !c.var.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_') {
            return Err(format!(
                "capture var '{}' must be lowercase letters/_",
                c.var
            ));
        }
        if c.prefix.is_empty() || c.files.is_empty() {
            return Err(format!("capture '{}' needs a prefix and files", c.var));
        }
    }

    // Every `{var}` must be one someone will fill in.
    let captured: Vec<&str> = r.capture.iter().map(|c| c.var.as_str()).collect();
    let cmdline_ok =
        |v: &str| RENDER_VARS.contains(&v) || DETECT_VARS.contains(&v) || captured.contains(&v);
    check_vars("cmdline", &r.cmdline, cmdline_ok)?;
    for a in &r.append_if {
        check_vars("append_if args", &a.args, cmdline_ok)?;
        if a.any.is_empty() {
            return Err("append_if needs at least one path in 'any'".into());
        }
    }
    for url in r.netboot_url.iter().chain(r.netboot_by_suite.values()) {
        check_vars("netboot_url", url, |v| v == "suite")?;
    }
    let pattern_ok = |v: &str| PATTERN_VARS.contains(&v);
    for p in r.initrds.iter().chain(&squashfs) {
        check_vars("path pattern", p, pattern_ok)?;
    }
    let uses_squashfs = var_names(&r.cmdline)
        .chain(r.append_if.iter().flat_map(|a| var_names(&a.args)))
        .any(|v| v.starts_with("squashfs_"));
    if uses_squashfs && squashfs.is_empty() {
        return Err("cmdline uses {squashfs_*} but no squashfs is defined".into());
    }

    let norm = |v: Vec<String>| v.iter().map(|p| normalize(p)).collect::<Vec<_>>();
    Ok(Layout {
        id,
        distro: r.distro,
        priority: r.priority,
        all: norm(r.all),
        any: norm(r.any),
        none: norm(r.none),
        label_any: r.label_any.iter().map(|s| s.to_lowercase()).collect(),
        text_any: r.text_any,
        method,
        kernel: norm(kernel),
        initrds: r
            .initrds
            .iter()
            .map(|s| match s.strip_prefix('?') {
                Some(p) => InitrdSpec {
                    pattern: normalize(p),
                    optional: true,
                },
                None => InitrdSpec {
                    pattern: normalize(s),
                    optional: false,
                },
            })
            .collect(),
        cmdline: r.cmdline.split_whitespace().collect::<Vec<_>>().join(" "),
        squashfs: norm(squashfs),
        netboot_url: r.netboot_url,
        netboot_by_suite: r
            .netboot_by_suite
            .into_iter()
            .map(|(k, v)| (k.to_lowercase(), v))
            .collect(),
        note: r.note,
        append_if: r.append_if,
        capture: r.capture,
    })
}

/// The `{name}` variables used in a template (`name` = lowercase letters and `_`).
pub(crate) fn var_names(template: &str) -> impl Iterator<Item = &str> {
    template.split('{').skip(1).filter_map(|rest| {
        let end = rest.find('}')?;
        let name = &rest[..end];
        let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        plain.then_some(name)
    })
}

fn check_vars(what: &str, template: &str, ok: impl Fn(&str) -> bool) -> Result<(), String> {
    match var_names(template).find(|v| !ok(v)) {
        Some(v) => Err(format!("{what} uses unknown variable {{{v}}}")),
        None => Ok(()),
    }
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
[[layout]]
id = "x"
distro = "X"
all = ["a/vmlinuz"]
method = "kernel"
kernel = "a/vmlinuz"
initrds = ["?a/ucode.img", "a/initrd"]
cmdline = "root=live:{iso_url}   quiet"
"#;

    #[test]
    fn parses_a_layout() {
        let l = parse(ONE).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].kernel, vec!["a/vmlinuz"]);
        assert!(l[0].initrds[0].optional);
        assert!(!l[0].initrds[1].optional);
        assert_eq!(l[0].initrds[0].pattern, "a/ucode.img");
        assert_eq!(l[0].cmdline, "root=live:{iso_url} quiet");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = parse("[[layout]]\nid = \"x\"\ndistro = \n").unwrap_err();
        match &err {
            LayoutError::Parse { line, .. } => assert_eq!(*line, Some(3)),
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors_with_lines() {
        let text = ONE.replace("cmdline =", "cmdlin =");
        let err = parse(&text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("cmdlin"), "{msg}");
        assert!(msg.contains("line 9"), "{msg}");
    }

    #[test]
    fn semantic_errors_name_the_layout_line() {
        let text = ONE.replace("{iso_url}", "{isourl}");
        let err = parse(&text).unwrap_err();
        assert_eq!(
            err,
            LayoutError::Invalid {
                line: 3,
                id: "x".into(),
                message: "cmdline uses unknown variable {isourl}".into()
            }
        );
        let no_kernel = ONE.replace("kernel = \"a/vmlinuz\"\n", "");
        assert!(parse(&no_kernel)
            .unwrap_err()
            .to_string()
            .contains("needs a kernel"));
        let dup = format!("{ONE}{ONE}");
        let err = parse(&dup).unwrap_err().to_string();
        assert!(
            err.contains("duplicate") && err.contains("line 12"),
            "{err}"
        );
        let bad_method = ONE.replace("\"kernel\"\nkernel", "\"teleport\"\nkernel");
        assert!(parse(&bad_method)
            .unwrap_err()
            .to_string()
            .contains("teleport"));
        let no_rules = ONE.replace("all = [\"a/vmlinuz\"]\n", "");
        assert!(parse(&no_rules)
            .unwrap_err()
            .to_string()
            .contains("match every ISO"));
    }

    #[test]
    fn var_names_finds_plain_placeholders_only() {
        let v: Vec<&str> = var_names("a={iso_url} b={ not} {x_y} {}").collect();
        assert_eq!(v, vec!["iso_url", "x_y"]);
    }

    #[test]
    fn empty_text_is_an_empty_table() {
        assert!(parse("").unwrap().is_empty());
    }
}
