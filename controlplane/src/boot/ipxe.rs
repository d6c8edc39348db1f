//! Writing iPXE script text safely. iPXE expands `${…}` across a whole line before it splits
//! the line shell-style (quotes and backslashes), so user text is quoted and any `${` in it is
//! broken up; URLs are percent-encoded so they are a single word.

/// `text` as one double-quoted iPXE word that prints exactly `text` (control characters
/// dropped).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut prev_dollar = false;
    for c in text.chars().filter(|c| !c.is_control()) {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            // `$\{` is not an expansion; the splitter then drops the backslash.
            '{' if prev_dollar => out.push_str("\\{"),
            _ => out.push(c),
        }
        prev_dollar = c == '$';
    }
    out.push('"');
    out
}

/// Percent-encodes a path (keeping `/`) so it is one word in a script and a valid URL path.
pub fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A label for `goto`: iPXE labels are single words.
pub fn label(prefix: &str, n: usize) -> String {
    format!("{prefix}{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes_backslashes_and_expansions() {
        assert_eq!(quote("Ubuntu 24.04"), "\"Ubuntu 24.04\"");
        assert_eq!(quote(r#"say "hi" \o/"#), r#""say \"hi\" \\o/""#);
        assert_eq!(quote("cost ${price} $5"), r#""cost $\{price} $5""#);
        assert_eq!(quote("a\nb\u{7}"), "\"ab\"");
    }

    #[test]
    fn url_paths_are_single_words() {
        assert_eq!(
            url_path("isos/my lab/Ubuntu \"x\".ISO"),
            "isos/my%20lab/Ubuntu%20%22x%22.ISO"
        );
        assert_eq!(
            url_path("images/a-1/casper/vmlinuz"),
            "images/a-1/casper/vmlinuz"
        );
        assert_eq!(url_path("café"), "caf%C3%A9");
    }
}
