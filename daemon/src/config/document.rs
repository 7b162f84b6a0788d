//! The parsed TOML document with spans, and a deserializer that collects every problem instead of
//! stopping at the first (serde stops at the first error; we remove the offending key and try again).

use std::fmt;
use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A key path such as `camera[1].rtsp_url`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn root() -> Self {
        Self(Vec::new())
    }

    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_owned()));
        Self(v)
    }

    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        Self(v)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// One thing wrong with the config, before it is given a line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: KeyPath,
    pub message: String,
    /// Byte range in the file, when known more precisely than the key's own position.
    pub span: Option<Range<usize>>,
}

/// A problem placed in the file: printed as `PATH:LINE:COL: key.path: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
        } else {
            write!(f, "{}:{}:{}: {}: {}", self.file, self.line, self.column, self.key, self.message)
        }
    }
}

/// The config file's text, known to be valid TOML syntax. The spanned tree borrows the text, so
/// it is parsed again on demand ([`Document::root`]); that costs microseconds.
#[derive(Debug)]
pub struct Document {
    pub text: String,
}

impl Document {
    /// Parses TOML syntax. Syntax errors come back as problems with their position.
    pub fn parse(text: String) -> Result<Self, Vec<Problem>> {
        let (_, errors) = DeTable::parse_recoverable(&text);
        if !errors.is_empty() {
            return Err(errors
                .into_iter()
                .map(|e| Problem {
                    key: KeyPath::root(),
                    message: format!("TOML syntax: {}", e.message().trim()),
                    span: e.span(),
                })
                .collect());
        }
        Ok(Self { text })
    }

    /// The spanned syntax tree.
    pub fn root(&self) -> Spanned<DeTable<'_>> {
        // `parse` checked the syntax already, so this cannot fail; an empty table is a safe fallback.
        DeTable::parse(&self.text).unwrap_or_else(|_| Spanned::new(0..0, DeTable::new()))
    }

    /// Turns a problem into file/line/column, using its own span or the span of its key path.
    pub fn locate(&self, file: &str, p: &Problem) -> Located {
        let offset = p.span.clone().or_else(|| self.span_of(&p.key)).map_or(0, |s| s.start);
        let (line, column) = line_col(&self.text, offset);
        Located { file: file.to_owned(), line, column, key: p.key.to_string(), message: p.message.clone() }
    }

    /// Where a key path is: the key itself if it exists, else the closest existing parent.
    pub fn span_of(&self, path: &KeyPath) -> Option<Range<usize>> {
        let root = self.root();
        let mut best = None;
        let placeholder = Spanned::new(0..0, DeValue::Boolean(false));
        let mut value: &Spanned<DeValue<'_>> = &placeholder;
        let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
        for seg in &path.0 {
            match seg {
                Seg::Key(k) => {
                    let Some((key, v)) = table.and_then(|t| t.get_key_value(k.as_str())) else {
                        return best;
                    };
                    // Point at a scalar's value (the thing to fix), at a table's or array's key.
                    let container = v.get_ref().is_table() || v.get_ref().is_array();
                    best = Some(if container { key.span() } else { v.span() });
                    value = v;
                }
                Seg::Index(i) => {
                    let Some(v) = value.get_ref().as_array().and_then(|a| a.as_ref().get(*i)) else {
                        return best;
                    };
                    best = Some(v.span());
                    value = v;
                }
            }
            table = value.get_ref().as_table();
        }
        best
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Deserializes `value` (found at `path`) into `T`, collecting every problem: on an error the
/// offending key is removed and deserialization retried, so one run reports all unknown keys and
/// wrong types. Returns `None` only when no value could be produced at all.
pub fn collect<T: DeserializeOwned>(
    mut value: Spanned<DeValue<'_>>,
    path: &KeyPath,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let mut removed: Vec<String> = Vec::new();
    // Each round removes one key, so the number of keys bounds the loop; 256 is a backstop.
    for _ in 0..256 {
        let err = match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(t) => return Some(t),
            Err(e) => e,
        };
        let message = err.message().trim().to_owned();
        let span = err.span();
        let found = span.as_ref().and_then(|s| find_by_span(&value, s));
        if let Some(missing) = missing_field(&message) {
            // A key we removed because of an earlier problem: that problem is already reported.
            if !removed.iter().any(|r| r == missing) {
                problems.push(Problem {
                    key: path.clone(),
                    message: format!("missing required key `{missing}`"),
                    span: None,
                });
            }
            return None;
        }
        let Some(rel) = found.filter(|r| !r.0.is_empty()) else {
            problems.push(Problem { key: path.clone(), message: tidy(&message), span });
            return None;
        };
        let mut full = path.clone();
        full.0.extend(rel.0.iter().cloned());
        let msg = match unknown_field(&message) {
            Some((name, expected)) => {
                let mut m = format!("unknown key `{name}`");
                if let Some(s) = suggest(name, &expected) {
                    m.push_str(&format!(" (did you mean `{s}`?)"));
                }
                m
            }
            None => tidy(&message),
        };
        problems.push(Problem { key: full, message: msg, span });
        if let Some(Seg::Key(k)) = rel.0.last() {
            removed.push(k.clone());
        }
        if !remove_at(&mut value, &rel) {
            return None;
        }
    }
    None
}

fn tidy(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_owned()
}

fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

fn unknown_field(message: &str) -> Option<(&str, Vec<&str>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let name = rest.split('`').next()?;
    let expected = rest
        .split_once("expected")
        .map(|(_, e)| e.split('`').skip(1).step_by(2).collect())
        .unwrap_or_default();
    Some((name, expected))
}

/// The closest valid name, if it is close enough to be a typo.
pub fn suggest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The deepest key path under `value` whose key or value contains `span`.
fn find_by_span(value: &Spanned<DeValue<'_>>, span: &Range<usize>) -> Option<KeyPath> {
    fn walk(v: &Spanned<DeValue<'_>>, span: &Range<usize>, path: &mut Vec<Seg>) -> bool {
        match v.get_ref() {
            DeValue::Table(t) => {
                for (k, child) in t {
                    let ks = k.span();
                    let cs = child.span();
                    let in_key = ks.start <= span.start && span.start < ks.end.max(ks.start + 1);
                    let in_child = cs.start <= span.start && span.end <= cs.end;
                    if in_key || in_child {
                        path.push(Seg::Key(k.get_ref().to_string()));
                        if in_child && !in_key {
                            walk(child, span, path);
                        }
                        return true;
                    }
                }
                false
            }
            DeValue::Array(a) => {
                for (i, child) in a.as_ref().iter().enumerate() {
                    let cs = child.span();
                    if cs.start <= span.start && span.end <= cs.end {
                        path.push(Seg::Index(i));
                        walk(child, span, path);
                        return true;
                    }
                }
                false
            }
            _ => false,
        }
    }
    let mut path = Vec::new();
    walk(value, span, &mut path).then_some(KeyPath(path))
}

/// Removes the key (or array element) at `rel` below `value`. False if nothing was removed.
fn remove_at<'a>(value: &mut Spanned<DeValue<'a>>, rel: &KeyPath) -> bool {
    let Some((last, parents)) = rel.0.split_last() else { return false };
    let mut cur = value;
    for seg in parents {
        cur = match (seg, cur.get_mut()) {
            (Seg::Key(k), DeValue::Table(t)) => match t.get_mut(k.as_str()) {
                Some(v) => v,
                None => return false,
            },
            (Seg::Index(i), DeValue::Array(a)) => match a.as_mut().get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, cur.get_mut()) {
        (Seg::Key(k), DeValue::Table(t)) => t.remove(k.as_str()).is_some(),
        (Seg::Index(i), DeValue::Array(a)) => {
            // Arrays cannot shrink in place through the public API; rebuild without the element.
            let kept: toml::de::DeArray<'a> = std::mem::replace(a, toml::de::DeArray::new())
                .into_iter()
                .enumerate()
                .filter(|(j, _)| j != i)
                .map(|(_, v)| v)
                .collect();
            *a = kept;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        #[serde(default)]
        port: u16,
        #[serde(default)]
        tags: Vec<String>,
    }

    fn doc(text: &str) -> Document {
        Document::parse(text.to_owned()).expect("valid toml")
    }

    #[test]
    fn collects_every_problem_in_one_table() {
        let d = doc("[s]\nname = \"a\"\nnmae = \"b\"\nport = \"eighty\"\ncolour = 1\n");
        let root = d.root();
        let v = root.get_ref().get("s").expect("s").clone();
        let mut problems = Vec::new();
        let out: Option<Sample> = collect(v, &KeyPath::root().key("s"), &mut problems);
        assert!(out.is_some(), "still produces a value after removing bad keys");
        let located: Vec<String> = problems.iter().map(|p| d.locate("f.toml", p).to_string()).collect();
        assert_eq!(located.len(), 3, "{located:#?}");
        assert!(
            located
                .iter()
                .any(|l| l.starts_with("f.toml:3:1: s.nmae: unknown key `nmae` (did you mean `name`?)")),
            "{located:#?}"
        );
        assert!(located.iter().any(|l| l.starts_with("f.toml:4:") && l.contains("s.port:")), "{located:#?}");
        assert!(
            located.iter().any(|l| l.starts_with("f.toml:5:1: s.colour: unknown key `colour`")),
            "{located:#?}"
        );
    }

    #[test]
    fn missing_required_key_is_reported_once() {
        let d = doc("[s]\nport = 1\n");
        let root = d.root();
        let v = root.get_ref().get("s").expect("s").clone();
        let mut problems = Vec::new();
        let out: Option<Sample> = collect(v, &KeyPath::root().key("s"), &mut problems);
        assert!(out.is_none());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].message, "missing required key `name`");
        assert_eq!(d.locate("f", &problems[0]).line, 1);
    }

    #[test]
    fn removed_bad_required_key_is_not_reported_twice() {
        let d = doc("[s]\nname = 5\n");
        let root = d.root();
        let v = root.get_ref().get("s").expect("s").clone();
        let mut problems = Vec::new();
        let _: Option<Sample> = collect(v, &KeyPath::root().key("s"), &mut problems);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(problems[0].key.to_string(), "s.name");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let errs = Document::parse("a = 1\nb = = 2\n".to_owned()).expect_err("syntax error");
        let d = doc("");
        let _ = d;
        assert!(!errs.is_empty());
        let (line, _) = line_col("a = 1\nb = = 2\n", errs[0].span.clone().expect("span").start);
        assert_eq!(line, 2);
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncdé f", 8), (2, 5));
        assert_eq!(line_col("", 10), (1, 1));
    }

    #[test]
    fn key_path_display_and_lookup() {
        let d = doc("[[camera]]\nname = \"a\"\n\n[[camera]]\nname = \"b\"\n");
        let p = KeyPath::root().key("camera").index(1).key("name");
        assert_eq!(p.to_string(), "camera[1].name");
        let span = d.span_of(&p).expect("found");
        assert_eq!(line_col(&d.text, span.start).0, 5);
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(suggest("nmae", &["name", "port"]), Some("name"));
        assert_eq!(suggest("rtsp_ulr", &["rtsp_url", "onvif_url"]), Some("rtsp_url"));
        assert_eq!(suggest("zzzzzz", &["name", "port"]), None);
    }
}
