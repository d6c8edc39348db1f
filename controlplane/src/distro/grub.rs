//! A tolerant reader for GRUB configs: enough to find the `linux`/`initrd` lines of the ISO's
//! own menu entries.
//!
//! Understood: shell-like words (quotes, backslash escapes, `#` comments, `\` line
//! continuation), `{ … }` blocks of `menuentry`/`submenu` (nested, flattened in order; other
//! blocks such as functions are skipped), `linux`/`linuxefi`/`linux16`, `initrd`/
//! `initrdefi`/`initrd16` (several files per line), `set name=value` with `$name`/`${name}`
//! expansion, `source`/`configfile` at the top level (bounded depth) and `set default=N`.
//! Device prefixes (`(loop)`, `($root)`, `(cd0)`) are stripped from paths, undefined
//! variables (`$isofile`, `${iso_path}`) vanish from paths, and options that used one are
//! dropped. Garbage input only ever yields fewer entries.

use std::collections::HashMap;

/// Deepest `source`/`configfile` nesting followed (the top file is depth 0).
pub(crate) const MAX_INCLUDE_DEPTH: usize = 4;
const MAX_TOKENS: usize = 500_000;
const MAX_ENTRIES: usize = 1_000;
const MAX_NESTING: usize = 64;

/// One menu entry that loads a Linux kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) title: String,
    /// `/`-absolute as written, device prefix removed.
    pub(crate) kernel: String,
    pub(crate) initrds: Vec<String>,
    /// Options after the kernel path, minus `BOOT_IMAGE=` and any using an unknown variable.
    pub(crate) args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
    /// Newline or `;`.
    End,
}

#[derive(Debug)]
enum Block {
    Entry(Entry),
    Submenu,
    Other,
}

#[derive(Default)]
struct State {
    vars: HashMap<String, String>,
    entries: Vec<Entry>,
    default: Option<usize>,
    tokens: usize,
}

/// Parses `text` and, through `include`, files it sources. Entries come back best first: the
/// `set default=N` entry (when numeric), then the rest in menu order.
pub(crate) fn parse(text: &str, include: &dyn Fn(&str) -> Option<String>) -> Vec<Entry> {
    let mut st = State::default();
    walk(&mut st, text, include, 0);
    let mut entries = st.entries;
    if let Some(d) = st.default.filter(|&d| d < entries.len()) {
        let e = entries.remove(d);
        entries.insert(0, e);
    }
    entries
}

fn walk(st: &mut State, text: &str, include: &dyn Fn(&str) -> Option<String>, depth: usize) {
    let toks = tokenize(text);
    st.tokens += toks.len();
    if st.tokens > MAX_TOKENS {
        return;
    }
    let mut stack: Vec<Block> = Vec::new();
    let mut cmd: Vec<String> = Vec::new();
    for tok in toks {
        match tok {
            Tok::Word(w) => cmd.push(w),
            Tok::End => run(st, &mut stack, std::mem::take(&mut cmd), include, depth),
            Tok::Open => {
                let words = std::mem::take(&mut cmd);
                let block = match words.first().map(String::as_str) {
                    Some("menuentry") => Block::Entry(Entry {
                        title: words.get(1).cloned().unwrap_or_default(),
                        kernel: String::new(),
                        initrds: Vec::new(),
                        args: Vec::new(),
                    }),
                    Some("submenu") => Block::Submenu,
                    _ => Block::Other,
                };
                if stack.len() >= MAX_NESTING {
                    return;
                }
                stack.push(block);
            }
            Tok::Close => {
                run(st, &mut stack, std::mem::take(&mut cmd), include, depth);
                close(st, stack.pop());
            }
        }
    }
    run(st, &mut stack, cmd, include, depth);
    // An unterminated entry still counts: the file may have been cut short.
    while let Some(b) = stack.pop() {
        close(st, Some(b));
    }
}

fn close(st: &mut State, block: Option<Block>) {
    if let Some(Block::Entry(e)) = block {
        if !e.kernel.is_empty() && st.entries.len() < MAX_ENTRIES {
            st.entries.push(e);
        }
    }
}

fn run(
    st: &mut State,
    stack: &mut [Block],
    words: Vec<String>,
    include: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) {
    let Some(cmd) = words.first() else {
        return;
    };
    let in_entry = stack.iter().any(|b| matches!(b, Block::Entry(_)));
    match cmd.as_str() {
        "set" => {
            if let Some((name, value)) = words.get(1).and_then(|a| a.split_once('=')) {
                let (value, _) = expand(value, &st.vars);
                if name == "default" && stack.is_empty() {
                    st.default = value.trim().parse().ok();
                }
                st.vars.insert(name.to_string(), value);
            }
        }
        "linux" | "linuxefi" | "linux16" | "linux32" => {
            let Some(e) = innermost_entry(stack) else {
                return;
            };
            let Some(path) = words.get(1) else {
                return;
            };
            e.kernel = clean_path(&expand(path, &st.vars).0);
            e.args = words[2..]
                .iter()
                .filter_map(|a| {
                    let (v, undefined) = expand(a, &st.vars);
                    let boot_image = v.to_ascii_uppercase().starts_with("BOOT_IMAGE=");
                    (!undefined && !boot_image && !v.is_empty()).then_some(v)
                })
                .collect();
        }
        "initrd" | "initrdefi" | "initrd16" | "initrd32" => {
            let Some(e) = innermost_entry(stack) else {
                return;
            };
            e.initrds = words[1..]
                .iter()
                .map(|w| clean_path(&expand(w, &st.vars).0))
                .filter(|p| !p.is_empty())
                .collect();
        }
        "source" | "configfile" if !in_entry && depth < MAX_INCLUDE_DEPTH => {
            if let Some(path) = words.get(1) {
                let path = clean_path(&expand(path, &st.vars).0);
                if let Some(text) = include(&path) {
                    walk(st, &text, include, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// Removes a leading GRUB device (`(loop)`, `(cd0)`, `((cd0))` after expansion, `()`).
/// The menu entry a `linux`/`initrd` command belongs to: the innermost open one.
fn innermost_entry(stack: &mut [Block]) -> Option<&mut Entry> {
    stack.iter_mut().rev().find_map(|b| match b {
        Block::Entry(e) => Some(e),
        _ => None,
    })
}

fn clean_path(p: &str) -> String {
    let mut s = p.trim();
    if s.starts_with('(') {
        let slash = s.find('/').unwrap_or(s.len());
        if let Some(close) = s[..slash].rfind(')') {
            s = &s[close + 1..];
        }
    }
    s.to_string()
}

/// Expands `$name` / `${name}`; reports whether any variable was undefined (it expands to
/// nothing, like GRUB does).
fn expand(word: &str, vars: &HashMap<String, String>) -> (String, bool) {
    let mut out = String::new();
    let mut undefined = false;
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut name = String::new();
        if chars.peek() == Some(&'{') {
            chars.next();
            for c in chars.by_ref() {
                if c == '}' {
                    break;
                }
                name.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
        }
        if name.is_empty() {
            out.push('$');
            continue;
        }
        match vars.get(&name) {
            Some(v) => out.push_str(v),
            None => undefined = true,
        }
    }
    (out, undefined)
}

/// Splits a config into words and structure, shell style.
fn tokenize(text: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    let flush = |toks: &mut Vec<Tok>, cur: &mut String, in_word: &mut bool| {
        if *in_word {
            toks.push(Tok::Word(std::mem::take(cur)));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(n) => {
                    cur.push(n);
                    in_word = true;
                }
                None => {}
            },
            '\'' => {
                in_word = true;
                for n in chars.by_ref() {
                    if n == '\'' {
                        break;
                    }
                    cur.push(n);
                }
            }
            '"' => {
                in_word = true;
                while let Some(n) = chars.next() {
                    match n {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                cur.push(e);
                            }
                        }
                        _ => cur.push(n),
                    }
                }
            }
            '$' if chars.peek() == Some(&'{') => {
                // Keep `${name}` inside the word so its braces aren't taken for a block.
                in_word = true;
                cur.push('$');
                for n in chars.by_ref() {
                    cur.push(n);
                    if n == '}' {
                        break;
                    }
                }
            }
            '#' if !in_word => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                flush(&mut toks, &mut cur, &mut in_word);
                toks.push(Tok::End);
            }
            '\n' | ';' => {
                flush(&mut toks, &mut cur, &mut in_word);
                toks.push(Tok::End);
            }
            '{' | '}' => {
                flush(&mut toks, &mut cur, &mut in_word);
                toks.push(if c == '{' { Tok::Open } else { Tok::Close });
            }
            c if c.is_whitespace() => flush(&mut toks, &mut cur, &mut in_word),
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    flush(&mut toks, &mut cur, &mut in_word);
    toks
}

#[cfg(test)]
#[path = "grub_tests.rs"]
mod tests;
