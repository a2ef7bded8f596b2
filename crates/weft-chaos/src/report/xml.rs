//! XML 1.0 escaping for text and attribute values.
//!
//! Characters XML 1.0 cannot carry at all — control characters other than
//! tab, line feed and carriage return, and U+FFFE / U+FFFF — not even as
//! character references, are written as the visible text `\u{1b}`.

use std::fmt::Write as _;

/// Escapes `s` for element content: `&`, `<`, `>`; forbidden characters
/// become `\u{..}`.
pub fn escape_text(s: &str) -> String {
    escape(s, false)
}

/// Escapes `s` for a double- or single-quoted attribute value: as
/// [`escape_text`], plus both quotes, and tab / line feed / carriage return as
/// character references so attribute normalisation keeps them.
pub fn escape_attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attr: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\'' if attr => out.push_str("&apos;"),
            '\t' | '\n' | '\r' if attr => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            '\t' | '\n' | '\r' => out.push(c),
            c if forbidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Not a `Char` in XML 1.0 (surrogates cannot occur in a `str`).
fn forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped_in_text() {
        assert_eq!(escape_text(r#"a < b && c > "d" 'e'"#), r#"a &lt; b &amp;&amp; c &gt; "d" 'e'"#);
    }

    #[test]
    fn quotes_and_whitespace_are_escaped_in_attributes() {
        assert_eq!(escape_attr("say \"hi\" & 'bye'"), "say &quot;hi&quot; &amp; &apos;bye&apos;");
        assert_eq!(escape_attr("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d");
        assert_eq!(escape_text("a\tb\nc\rd"), "a\tb\nc\rd");
    }

    #[test]
    fn control_characters_become_visible_text_not_invalid_xml() {
        assert_eq!(escape_text("bell\u{7} esc\u{1b} nul\u{0}"), r"bell\u{7} esc\u{1b} nul\u{0}");
        assert_eq!(escape_attr("\u{ffff}\u{c}"), r"\u{ffff}\u{c}");
    }

    #[test]
    fn everything_else_passes_through() {
        let s = "élan — 東京 🙂 \u{7f} \u{85} ]]>";
        assert_eq!(escape_text(s), "élan — 東京 🙂 \u{7f} \u{85} ]]&gt;");
    }
}
