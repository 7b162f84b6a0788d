//! A small, forgiving XML tree for SOAP from cameras. Cameras get namespaces wrong (undeclared
//! prefixes, default namespaces on every element, vendor prefixes), so elements and attributes
//! are matched by local name only; the namespace URIs are not needed to tell ONVIF elements
//! apart. Input is bounded (size, depth, element count) because it comes from the network.

use std::fmt;

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

/// Limits on what a camera may send.
pub const MAX_BYTES: usize = 4 << 20;
const MAX_DEPTH: usize = 64;
const MAX_ELEMENTS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    /// 1-based line of the problem (0 when unknown).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for XmlError {}

/// An element: local name, attributes by local name, text content and children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    /// The element's own text (all text children joined), not trimmed.
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of child names.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }

    /// The first descendant (depth first, this element excluded) with this local name.
    pub fn find(&self, name: &str) -> Option<&Element> {
        for c in &self.children {
            if c.name == name {
                return Some(c);
            }
            if let Some(f) = c.find(name) {
                return Some(f);
            }
        }
        None
    }

    /// Every descendant with this local name, in document order (not looking inside matches).
    pub fn find_all<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            } else {
                c.find_all(name, out);
            }
        }
    }

    /// The trimmed text.
    pub fn value(&self) -> &str {
        self.text.trim()
    }

    /// The trimmed text of a child path, if present and not empty.
    pub fn text_at(&self, names: &[&str]) -> Option<&str> {
        self.path(names).map(Element::value).filter(|s| !s.is_empty())
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The local part of a possibly prefixed name (`tt:Name` → `Name`).
pub fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, l)| l)
}

fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Parses a document into its root element.
pub fn parse(text: &str) -> Result<Element, XmlError> {
    if text.len() > MAX_BYTES {
        return Err(XmlError {
            line: 0,
            message: format!("document is {} bytes, more than {MAX_BYTES}", text.len()),
        });
    }
    let body = text.trim_start_matches('\u{feff}');
    let head = body.trim_start();
    if head.get(..5).is_some_and(|h| h.eq_ignore_ascii_case("<html") || h.eq_ignore_ascii_case("<!doc")) {
        return Err(XmlError { line: 1, message: "an HTML page, not XML (a web error page?)".into() });
    }
    if !head.starts_with('<') {
        let shown: String = head.chars().take(40).collect();
        return Err(XmlError { line: 1, message: format!("not XML: starts with {shown:?}") });
    }
    let mut reader = Reader::from_str(body);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let err = |reader: &Reader<&[u8]>, message: String| XmlError {
        line: line_of(body, usize::try_from(reader.buffer_position()).unwrap_or(0)),
        message,
    };
    loop {
        let event = reader.read_event().map_err(|e| err(&reader, e.to_string()))?;
        match event {
            Event::Start(s) | Event::Empty(s) if root.is_some() => {
                return Err(err(&reader, format!("content after the root element: <{}>", name_of(&s))));
            }
            Event::Start(s) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(err(&reader, "document nested too deeply or too large".into()));
                }
                stack.push(element(&s).map_err(|e| err(&reader, e.to_string()))?);
            }
            Event::Empty(s) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(err(&reader, "document too large".into()));
                }
                let e = element(&s).map_err(|e| err(&reader, e.to_string()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => root = Some(e),
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(err(&reader, "closing tag without an opening one".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten().map(String::from)
                } else {
                    match &*r.xml10_content() {
                        "lt" => Some("<".into()),
                        "gt" => Some(">".into()),
                        "amp" => Some("&".into()),
                        "quot" => Some("\"".into()),
                        "apos" => Some("'".into()),
                        _ => None,
                    }
                };
                let Some(s) = resolved else {
                    return Err(err(&reader, format!("unknown entity &{};", &*r.xml10_content())));
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError {
            line: line_of(body, body.len()),
            message: format!("document ends inside <{}>", open.name),
        });
    }
    root.ok_or_else(|| XmlError { line: 1, message: "no root element".into() })
}

fn name_of(s: &BytesStart<'_>) -> String {
    s.name().0.to_owned()
}

/// Why an element's attributes could not be read.
#[derive(Debug, thiserror::Error)]
enum AttributeError {
    #[error("bad attribute in <{element}>: {source}")]
    Attribute { element: String, source: quick_xml::events::attributes::AttrError },
    #[error("bad attribute value in <{element}>: {source}")]
    Value { element: String, source: quick_xml::Error },
}

fn element(s: &BytesStart<'_>) -> Result<Element, AttributeError> {
    let name = local(&name_of(s)).to_owned();
    let mut attrs = Vec::new();
    for a in s.attributes().with_checks(false) {
        let a = a.map_err(|source| AttributeError::Attribute { element: name.clone(), source })?;
        let key = a.key.0.to_owned();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = a
            .normalized_value(quick_xml::XmlVersion::default())
            .map_err(|source| AttributeError::Value { element: name.clone(), source })?
            .into_owned();
        attrs.push((local(&key).to_owned(), value));
    }
    Ok(Element { name, attrs, text: String::new(), children: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_ignored_and_entities_resolved() {
        let e = parse(
            "<?xml version='1.0'?>\r\n<s:Envelope xmlns:s='x'><s:Body><tt:A tt:k='1 &amp; 2'>a &lt;b&gt; &#65;<![CDATA[<c>]]></tt:A><B/></s:Body></s:Envelope>",
        )
        .expect("parse");
        assert_eq!(e.name, "Envelope");
        let a = e.path(&["Body", "A"]).expect("A");
        assert_eq!(a.value(), "a <b> A<c>");
        assert_eq!(a.attr("k"), Some("1 & 2"));
        assert!(e.find("B").is_some());
    }

    #[test]
    fn broken_documents_are_errors_with_a_line() {
        let err = parse("<a>\n<b>\n</a>").expect_err("mismatched");
        assert!(err.line >= 2, "{err}");
        assert!(
            parse("<html><body>401 Unauthorized</body></html>").expect_err("html").message.contains("HTML")
        );
        assert!(parse("Unauthorized").expect_err("text").message.contains("not XML"));
        assert!(parse("<a><b>").expect_err("truncated").to_string().contains("ends inside"));
        assert!(parse("<a>&bogus;</a>").expect_err("entity").message.contains("bogus"));
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(&deep).expect_err("deep").message.contains("deeply"));
    }
}
