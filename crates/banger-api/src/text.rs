//! Text that came from a guest or an image (a console, a process name, a
//! tool's `--version`), made safe to print on a terminal: a guest must not
//! be able to send escape sequences to the user's terminal (retitle it,
//! write its clipboard, fake a prompt) through banger.

/// `s` without control characters: C0 (but newline and tab), DEL and C1
/// are each replaced by `�`, so an escape sequence shows as text.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !s.contains(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| if bad(c) { '\u{fffd}' } else { c })
            .collect(),
    )
}

/// As [`printable`], but colour and style sequences (`ESC [ digits;... m`)
/// are kept: a console's coloured boot messages stay coloured, nothing
/// else a guest sends reaches the terminal.
pub fn printable_keeping_colours(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('\u{1b}') {
        out.push_str(&printable(&rest[..at]));
        let after = &rest[at + 1..];
        let sgr = after.strip_prefix('[').and_then(|p| {
            let params = p.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
            (p[params..].starts_with('m')).then_some(params + 2)
        });
        match sgr {
            Some(len) => {
                out.push_str(&rest[at..at + 1 + len]);
                rest = &after[len..];
            }
            None => {
                out.push('\u{fffd}');
                rest = after;
            }
        }
    }
    out.push_str(&printable(rest));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_and_controls_are_replaced() {
        assert_eq!(super::printable("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(
            super::printable("a\u{1b}]52;c;ZXZpbA==\u{7}b\r\u{9b}c\u{7f}"),
            "a\u{fffd}]52;c;ZXZpbA==\u{fffd}b\u{fffd}\u{fffd}c\u{fffd}"
        );
    }

    #[test]
    fn colours_are_kept_and_nothing_else() {
        let boot = "[\u{1b}[0;32m  OK  \u{1b}[0m] Started\n";
        assert_eq!(super::printable_keeping_colours(boot), boot);
        assert_eq!(
            super::printable_keeping_colours("x\u{1b}]0;pwned\u{7}y\u{1b}[2Jz\u{1b}"),
            "x\u{fffd}]0;pwned\u{fffd}y\u{fffd}[2Jz\u{fffd}"
        );
    }
}
