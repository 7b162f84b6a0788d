//! RTSP Digest authentication (RFC 2617 with MD5, as RTSP clients speak it: VLC/live555,
//! ffmpeg, GStreamer): the challenge, and the check of a client's `Authorization` header
//! against the configured login. Basic is refused: it would send the password in clear with
//! every request, and every client the restream is for speaks Digest.
//!
//! The nonce is random per connection (clients answer a `401` on the same connection), so a
//! response captured on one connection is worth nothing on another.

use md5::{Digest as _, Md5};

use crate::secret::Secret;

/// The realm clients show when they ask for a password.
pub const REALM: &str = "Porchlight";

/// The configured login and this connection's nonce.
#[derive(Debug)]
pub struct Auth {
    user: String,
    password: Secret,
    nonce: String,
}

/// Why a request's credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no credentials")]
    Missing,
    #[error("Basic credentials (only Digest is taken)")]
    Basic,
    #[error("a malformed Authorization header")]
    Malformed,
    #[error("user {0:?} is not the configured one")]
    User(String),
    #[error("an old or foreign nonce")]
    Nonce,
    #[error("the digest is for another URL")]
    Uri,
    #[error("algorithm {0:?} (only MD5 is taken)")]
    Algorithm(String),
    #[error("a wrong password")]
    Password,
}

impl Auth {
    /// The login of `user`/`password` with a fresh random nonce.
    pub fn new(user: &str, password: &Secret) -> Self {
        let nonce = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        Self { user: user.to_owned(), password: password.clone(), nonce }
    }

    /// The `WWW-Authenticate` value of a `401`.
    pub fn challenge(&self) -> String {
        format!("Digest realm=\"{REALM}\", nonce=\"{}\", algorithm=MD5", self.nonce)
    }

    /// Checks `authorization` (the header's value, if any) for a request of `method` on
    /// `uri` (the request line's URL).
    pub fn check(&self, method: &str, uri: &str, authorization: Option<&str>) -> Result<(), Refused> {
        let header = authorization.ok_or(Refused::Missing)?.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Err(Refused::Basic);
        }
        if !scheme.eq_ignore_ascii_case("digest") {
            return Err(Refused::Malformed);
        }
        let params = params(rest).ok_or(Refused::Malformed)?;
        let get =
            |name: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let (Some(user), Some(realm), Some(nonce), Some(digest_uri), Some(response)) =
            (get("username"), get("realm"), get("nonce"), get("uri"), get("response"))
        else {
            return Err(Refused::Malformed);
        };
        if let Some(a) = get("algorithm")
            && !a.eq_ignore_ascii_case("md5")
        {
            return Err(Refused::Algorithm(a.chars().take(20).collect()));
        }
        if user != self.user {
            return Err(Refused::User(user.chars().take(64).collect()));
        }
        if nonce != self.nonce || realm != REALM {
            return Err(Refused::Nonce);
        }
        // The digest covers the URL the client names; it must be this request's (clients
        // differ in whether they keep a trailing slash or the query).
        let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
        if !same(digest_uri, uri) && !same(digest_uri.split('?').next().unwrap_or_default(), uri) {
            return Err(Refused::Uri);
        }
        let ha1 = md5_hex(&format!("{user}:{REALM}:{}", self.password.expose()));
        let ha2 = md5_hex(&format!("{method}:{digest_uri}"));
        let expected = match get("qop") {
            None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let (Some(nc), Some(cnonce)) = (get("nc"), get("cnonce")) else {
                    return Err(Refused::Malformed);
                };
                md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
            }
            Some(_) => return Err(Refused::Malformed),
        };
        if Secret::new(expected).constant_time_eq(response.to_ascii_lowercase().as_bytes()) {
            Ok(())
        } else {
            Err(Refused::Password)
        }
    }
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// `key=value, key="quoted, value"` pairs; `None` when the list is malformed.
fn params(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => v.push(chars.next()?.1),
                    (_, c) => v.push(c),
                }
            };
            value = v;
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        out.push((key, value));
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        if out.len() > 32 {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "rtsp://127.0.0.1:8554/front";

    fn auth() -> Auth {
        Auth::new("viewer", &Secret::new("s3cret pass"))
    }

    /// What an independent client implementation (`digest_auth`) answers to the challenge.
    fn client(challenge: &str, user: &str, password: &str, method: &str, uri: &str) -> String {
        let mut prompt = digest_auth::parse(challenge).expect("challenge parses");
        let context = digest_auth::AuthContext::new_with_method(
            user,
            password,
            uri,
            Option::<&[u8]>::None,
            digest_auth::HttpMethod::from(method.to_owned()),
        );
        prompt.respond(&context).expect("answer").to_header_string()
    }

    #[test]
    fn the_right_password_passes_and_a_wrong_one_does_not() {
        let a = auth();
        let ok = client(&a.challenge(), "viewer", "s3cret pass", "DESCRIBE", URL);
        assert_eq!(a.check("DESCRIBE", URL, Some(&ok)), Ok(()));
        let wrong = client(&a.challenge(), "viewer", "guess", "DESCRIBE", URL);
        assert_eq!(a.check("DESCRIBE", URL, Some(&wrong)), Err(Refused::Password));
        let other = client(&a.challenge(), "admin", "s3cret pass", "DESCRIBE", URL);
        assert_eq!(a.check("DESCRIBE", URL, Some(&other)), Err(Refused::User("admin".into())));
        // The digest is bound to the method and URL it was made for.
        assert_eq!(a.check("PLAY", URL, Some(&ok)), Err(Refused::Password));
        assert_eq!(a.check("DESCRIBE", "rtsp://127.0.0.1:8554/back", Some(&ok)), Err(Refused::Uri));
    }

    #[test]
    fn another_connections_nonce_is_refused() {
        let (a, b) = (auth(), auth());
        let answer = client(&a.challenge(), "viewer", "s3cret pass", "DESCRIBE", URL);
        assert_eq!(b.check("DESCRIBE", URL, Some(&answer)), Err(Refused::Nonce));
    }

    #[test]
    fn qop_auth_answers_are_checked_too() {
        let a = auth();
        let challenge = format!("{}, qop=\"auth\"", a.challenge());
        let ok = client(&challenge, "viewer", "s3cret pass", "SETUP", URL);
        assert!(ok.contains("qop=auth"), "{ok}");
        assert_eq!(a.check("SETUP", URL, Some(&ok)), Ok(()));
        let wrong = client(&challenge, "viewer", "nope", "SETUP", URL);
        assert_eq!(a.check("SETUP", URL, Some(&wrong)), Err(Refused::Password));
    }

    #[test]
    fn basic_missing_and_malformed_credentials_are_refused() {
        let a = auth();
        assert_eq!(a.check("DESCRIBE", URL, None), Err(Refused::Missing));
        assert_eq!(a.check("DESCRIBE", URL, Some("Basic dmlld2VyOnMzY3JldA==")), Err(Refused::Basic));
        assert_eq!(a.check("DESCRIBE", URL, Some("Digest username=\"viewer\"")), Err(Refused::Malformed));
        assert_eq!(a.check("DESCRIBE", URL, Some("Digest username=\"viewer")), Err(Refused::Malformed));
        assert_eq!(a.check("DESCRIBE", URL, Some("Bearer x")), Err(Refused::Malformed));
        let sha = format!(
            "Digest username=\"viewer\", realm=\"{REALM}\", nonce=\"{}\", uri=\"{URL}\", response=\"00\", algorithm=SHA-256",
            a.nonce
        );
        assert_eq!(a.check("DESCRIBE", URL, Some(&sha)), Err(Refused::Algorithm("SHA-256".into())));
    }

    #[test]
    fn a_hand_computed_rfc_2069_answer_passes() {
        let a = auth();
        let ha1 = md5_hex("viewer:Porchlight:s3cret pass");
        let ha2 = md5_hex(&format!("OPTIONS:{URL}"));
        let response = md5_hex(&format!("{ha1}:{}:{ha2}", a.nonce));
        let header = format!(
            "Digest username=\"viewer\", realm=\"Porchlight\", nonce=\"{}\", uri=\"{URL}\", response=\"{}\"",
            a.nonce,
            response.to_uppercase()
        );
        assert_eq!(a.check("OPTIONS", URL, Some(&header)), Ok(()));
        // The well-known MD5 of the empty string, to be sure of the hashing itself.
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
