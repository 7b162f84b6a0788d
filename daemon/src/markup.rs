//! Escaping text for XML and HTML (the ONVIF requests' SOAP, the exported transparency report).
//! A leaf module: it imports nothing from the crate.

/// Escapes text for element content and quoted attribute values, in XML and in HTML alike:
/// `&`, `<`, `>`, `"` and `'` become character references (`'` as `&#39;`, which both read).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn the_five_markup_characters_become_references_and_the_rest_stays() {
        assert_eq!(
            escape(r#"<a href="x">Tom & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
        assert_eq!(escape("plain ünïcode"), "plain ünïcode");
        assert_eq!(escape("&amp;"), "&amp;amp;", "escaped once more, never taken as already escaped");
    }
}
