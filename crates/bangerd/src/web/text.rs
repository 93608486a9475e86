//! Guest text (consoles, session output) as a page shows it: escape
//! sequences (colours, cursor moves) and control characters removed, lines
//! and tabs kept. Pages put it in the DOM as text, never as HTML; this is
//! for legibility, not safety.

pub fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                // CSI: parameters and intermediates up to a final byte.
                Some('[') => {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ST.
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {
                    chars.next();
                }
            },
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn sequences_and_controls_go_text_stays() {
        assert_eq!(
            plain("\u{1b}[0;32m  OK  \u{1b}[0m Started x.\r\n\tdone"),
            "  OK   Started x.\n\tdone"
        );
        assert_eq!(plain("a\u{1b}]0;title\u{7}b\u{1b}]52;c;x\u{1b}\\c"), "abc");
        assert_eq!(plain("bell\u{7} del\u{7f} c1\u{9b}"), "bell del c1");
        assert_eq!(plain("unfinished \u{1b}[12"), "unfinished ");
        assert_eq!(plain("é ünïcode ✓"), "é ünïcode ✓");
    }
}
