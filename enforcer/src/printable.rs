//! Text that is safe to show on an operator's terminal.
//!
//! Policies, requests and workloads control many strings the enforcer
//! prints: a denial reason, a policy's log messages and metadata, a
//! sandbox's command line, a tenant, a cgroup path. Printed raw, a newline
//! in one of them forges a line of the enforcer's own output (a denied run
//! that appears to say `enforcer: allowed by policy ...`, an extra row in
//! `enforcer ps`), an escape sequence drives the terminal (clears the
//! screen, moves the cursor, sets the window title) and a bidi override
//! shows the rest of the line in another order than it has.
//!
//! Human output passes such strings through [`escape`] (one value) or
//! [`escape_message`] (a whole message that already quotes its values).
//! JSON output does not: serde escapes control characters itself, and a
//! program reading JSON needs the exact bytes.
//!
//! The characters escaped ([`needs_escape`]): every C0 control
//! (U+0000–U+001F, tab and newline included), DEL (U+007F), every C1
//! control (U+0080–U+009F, which some terminals act on like `ESC [`), the
//! bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069),
//! the bidi marks (U+061C, U+200E, U+200F) and the line and paragraph
//! separators (U+2028, U+2029).

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` is one of the characters this module escapes: a C0 or C1
/// control, DEL, a bidi control or a Unicode line or paragraph separator.
pub fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// `text` as one line that shows every character it holds, for printing a
/// value a policy, a request or a workload controls.
///
/// Tab, newline and carriage return become `\t`, `\n` and `\r`; other
/// ASCII controls `\x1b` style (two lower-case hex digits); C1 controls and
/// the Unicode controls of [`needs_escape`] `\u{202e}` style; a backslash
/// becomes `\\`, so the result is unambiguous: two different strings never
/// escape to the same text, and a policy cannot spell an escape that reads
/// as a character it did not send. Everything else, other Unicode text
/// included, is kept. Borrows `text` when nothing needs escaping.
///
/// ```
/// use enforcer::printable::escape;
/// assert_eq!(escape("ok"), "ok");
/// assert_eq!(escape("a\nb\u{1b}[2J"), "a\\nb\\x1b[2J");
/// assert_eq!(escape("C:\\x1b"), "C:\\\\x1b");
/// assert_eq!(escape("\u{202e}txt.exe"), "\\u{202e}txt.exe");
/// ```
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_with(text, true)
}

/// `message` with the characters of [`needs_escape`] escaped as [`escape`]
/// does, but its backslashes kept: for a whole message (an error and its
/// causes) whose parts already quote values with `{:?}` (which escapes a
/// backslash once; [`escape`] would show it twice). The result is one line
/// and drives no terminal, but unlike [`escape`] it is not unambiguous: a
/// literal `\n` and an escaped newline look alike.
///
/// ```
/// use enforcer::printable::escape_message;
/// assert_eq!(
///     escape_message("policy p: reported an error: no\nenforcer: allowed"),
///     "policy p: reported an error: no\\nenforcer: allowed"
/// );
/// assert_eq!(escape_message(r#"id "a\nb""#), r#"id "a\nb""#);
/// ```
pub fn escape_message(message: &str) -> Cow<'_, str> {
    escape_with(message, false)
}

/// Each word of `command` [`escape`]d, joined with spaces.
pub fn escape_command(command: &[String]) -> String {
    command
        .iter()
        .map(|word| escape(word))
        .collect::<Vec<_>>()
        .join(" ")
}

fn escape_with(text: &str, backslash: bool) -> Cow<'_, str> {
    let special = |c: char| needs_escape(c) || (backslash && c == '\\');
    if !text.chars().any(special) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !special(c) {
            escaped.push(c);
            continue;
        }
        // Writing to a String cannot fail.
        let _ = match c {
            '\\' => write!(escaped, "\\\\"),
            '\t' => write!(escaped, "\\t"),
            '\n' => write!(escaped, "\\n"),
            '\r' => write!(escaped, "\\r"),
            '\u{0}'..='\u{7f}' => write!(escaped, "\\x{:02x}", u32::from(c)),
            _ => write!(escaped, "\\u{{{:x}}}", u32::from(c)),
        };
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inverse of [`escape`]: proves that no two inputs share an
    /// output (a function with a left inverse is injective).
    fn unescape(text: &str) -> Option<String> {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next()? {
                '\\' => out.push('\\'),
                't' => out.push('\t'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                'x' => {
                    let hex: String = chars.by_ref().take(2).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                'u' => {
                    if chars.next()? != '{' {
                        return None;
                    }
                    let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                _ => return None,
            }
        }
        Some(out)
    }

    /// A small deterministic generator (xorshift64*), so the property test
    /// needs no dependency and every run checks the same strings.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        /// A character drawn mostly from the interesting ranges: the escaped
        /// ones, backslash and the letters of the escapes, plus any scalar
        /// value.
        fn char(&mut self) -> char {
            let pick = match self.below(8) {
                0 => self.below(0x20) as u32,
                1 => 0x7f + self.below(0x21) as u32,
                2 => [
                    0x61c, 0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202e, 0x2066, 0x2069,
                ][self.below(9) as usize],
                3 => u32::from(b"\\xu{}nrt0123456789abcdef"[self.below(24) as usize]),
                4 => 0x20 + self.below(0x5f) as u32,
                5 => 0x2000 + self.below(0x100) as u32,
                _ => self.below(0x11_0000) as u32,
            };
            char::from_u32(pick).unwrap_or('\u{fffd}')
        }

        fn string(&mut self) -> String {
            let len = self.below(12);
            (0..len).map(|_| self.char()).collect()
        }
    }

    #[test]
    fn escaped_text_holds_no_control_or_bidi_character_and_is_unambiguous() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut seen = std::collections::HashMap::new();
        for _ in 0..50_000 {
            let input = rng.string();
            let output = escape(&input).into_owned();
            assert!(
                !output.chars().any(needs_escape),
                "{input:?} escaped to {output:?}"
            );
            assert_eq!(unescape(&output).as_deref(), Some(input.as_str()));
            if let Some(other) = seen.insert(output.clone(), input.clone()) {
                assert_eq!(other, input, "two inputs escape to {output:?}");
            }
            let message = escape_message(&input);
            assert!(!message.chars().any(needs_escape), "{input:?}");
        }
    }

    #[test]
    fn every_escaped_character_is_spelled_out() {
        assert_eq!(
            escape("\0\u{7}\u{8}\u{1b}\u{7f}"),
            "\\x00\\x07\\x08\\x1b\\x7f"
        );
        assert_eq!(escape("\t\r\n"), "\\t\\r\\n");
        assert_eq!(escape("\u{85}\u{9b}"), "\\u{85}\\u{9b}");
        assert_eq!(
            escape("\u{202a}\u{202d}\u{2066}\u{2069}\u{200f}\u{2028}"),
            "\\u{202a}\\u{202d}\\u{2066}\\u{2069}\\u{200f}\\u{2028}"
        );
        assert_eq!(escape("\\n"), "\\\\n");
        assert_eq!(escape_message("\\n\n"), "\\n\\n");
    }

    #[test]
    fn plain_text_is_borrowed_and_kept() {
        for text in ["", "hello", "naïve café ✓ 日本語", "a b\"c'd"] {
            assert!(matches!(escape(text), Cow::Borrowed(_)), "{text}");
            assert_eq!(escape(text), text);
        }
        assert!(matches!(escape_message("a\\b"), Cow::Borrowed(_)));
    }

    #[test]
    fn commands_escape_each_word() {
        let command = ["sh".to_string(), "-c".into(), "echo\nx\u{1b}[2J".into()];
        assert_eq!(escape_command(&command), "sh -c echo\\nx\\x1b[2J");
    }
}
