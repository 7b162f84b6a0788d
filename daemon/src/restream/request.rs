//! RTSP 1.0 (RFC 2326) on the server side: reading a request from the bytes a client sent
//! (bounded head and body; interleaved packets from the client, its RTCP receiver reports,
//! skipped), the request URL's camera and track, the `Transport` header a `SETUP` asks for,
//! and the answer's bytes.

use std::fmt::Write as _;

/// The largest request head (request line and headers) read.
pub const MAX_HEAD: usize = 8 << 10;
/// The largest request body read (and dropped: no method the server takes needs one).
pub const MAX_BODY: usize = 4 << 10;

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request URL as sent (`rtsp://host:port/front`, or `*`).
    pub uri: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The `CSeq` to answer with (`None` if the client sent none, or a malformed one).
    pub fn cseq(&self) -> Option<u32> {
        self.header("cseq").and_then(|v| v.trim().parse().ok())
    }

    /// The `Session` header's id (without `;timeout=…`).
    pub fn session(&self) -> Option<&str> {
        self.header("session").map(|s| s.split(';').next().unwrap_or_default().trim())
    }
}

/// What is wrong with what a client sent (answered `400`, or `505` for [`Self::Version`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("a request head longer than {MAX_HEAD} bytes")]
    LongHead,
    #[error("a request body of {0} bytes (at most {MAX_BODY})")]
    LongBody(usize),
    #[error("a bad Content-Length {0:?}")]
    ContentLength(String),
    #[error("a request head that is not UTF-8")]
    NotText,
    #[error("a bad request line {0:?}")]
    RequestLine(String),
    #[error("protocol {0:?}; only RTSP/1.0 is served")]
    Version(String),
    #[error("a bad header line {0:?}")]
    HeaderLine(String),
}

/// What [`parse`] found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    /// A whole request and the bytes it took.
    Request(Request, usize),
    /// An interleaved packet (`$`, channel, length, data) from the client: its length.
    Interleaved(usize),
}

/// Reads the first request or interleaved packet in `buf`; `Ok(None)`: more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<Item>, ParseError> {
    if buf.first() == Some(&b'$') {
        if buf.len() < 4 {
            return Ok(None);
        }
        let len = 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        return Ok((buf.len() >= len).then_some(Item::Interleaved(len)));
    }
    // Clients may send empty lines between requests.
    let skip = buf.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
    let rest = &buf[skip..];
    let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if rest.len() > MAX_HEAD { Err(ParseError::LongHead) } else { Ok(None) };
    };
    if end > MAX_HEAD {
        return Err(ParseError::LongHead);
    }
    let head = std::str::from_utf8(&rest[..end]).map_err(|_| ParseError::NotText)?;
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::RequestLine(line.chars().take(100).collect()));
    };
    if method.is_empty() || uri.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        return Err(ParseError::RequestLine(line.chars().take(100).collect()));
    }
    if version != "RTSP/1.0" {
        return Err(ParseError::Version(version.chars().take(20).collect()));
    }
    let mut headers = Vec::new();
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            return Err(ParseError::HeaderLine(l.chars().take(100).collect()));
        };
        if k.is_empty() || k.contains(' ') {
            return Err(ParseError::HeaderLine(l.chars().take(100).collect()));
        }
        headers.push((k.to_owned(), v.trim().to_owned()));
    }
    let request = Request { method: method.to_owned(), uri: uri.to_owned(), headers };
    let body = match request.header("content-length") {
        None => 0,
        Some(v) => {
            v.trim().parse::<usize>().map_err(|_| ParseError::ContentLength(v.chars().take(20).collect()))?
        }
    };
    if body > MAX_BODY {
        return Err(ParseError::LongBody(body));
    }
    let total = skip + end + 4 + body;
    Ok((buf.len() >= total).then_some(Item::Request(request, total)))
}

/// What a request URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The camera (percent-decoded path), `None` for `*` or `/`.
    pub camera: Option<String>,
    /// `trackID=<n>` after the camera.
    pub track: Option<usize>,
}

/// The camera and track of a request URL: `rtsp://host[:port]/<camera>[/trackID=<n>][?…]`
/// (or the path alone). `None`: not a URL this server serves.
pub fn target(uri: &str) -> Option<Target> {
    if uri == "*" {
        return Some(Target { camera: None, track: None });
    }
    let path = if let Some(rest) = uri.strip_prefix("rtsp://").or_else(|| uri.strip_prefix("RTSP://")) {
        let at = rest.find('/').unwrap_or(rest.len());
        &rest[at..]
    } else if uri.starts_with('/') {
        uri
    } else {
        return None;
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let track = match segments.last().and_then(|s| s.strip_prefix("trackID=")) {
        Some(n) => {
            let n = n.parse().ok()?;
            segments.pop();
            Some(n)
        }
        None => None,
    };
    let camera = match segments.as_slice() {
        [] => None,
        [one] => Some(percent_decode(one)?),
        _ => return None,
    };
    Some(Target { camera, track })
}

/// `%XX` escapes decoded; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = char::from(bytes.next()?).to_digit(16)?;
            let lo = char::from(bytes.next()?).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// The transport a `SETUP` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// RTP interleaved on the RTSP connection, on these channels (RTP, RTCP); `None`: the
    /// client left the choice to the server.
    Interleaved(Option<(u8, u8)>),
    /// UDP, multicast or anything else: not served (`461`).
    Unsupported,
}

/// The first interleaved TCP choice in a `Transport` header (clients may list several, by
/// preference, separated by commas).
pub fn transport(header: &str) -> Transport {
    for choice in header.split(',') {
        let mut params = choice.split(';').map(str::trim);
        let spec = params.next().unwrap_or_default();
        if !spec.eq_ignore_ascii_case("RTP/AVP/TCP") {
            continue;
        }
        let mut channels = None;
        let mut multicast = false;
        for p in params {
            if p.eq_ignore_ascii_case("multicast") {
                multicast = true;
            }
            if let Some(v) = p.strip_prefix("interleaved=") {
                let mut n = v.split('-').map(|x| x.trim().parse::<u8>());
                channels = match (n.next(), n.next()) {
                    (Some(Ok(a)), Some(Ok(b))) => Some((a, b)),
                    (Some(Ok(a)), None) => Some((a, a.wrapping_add(1))),
                    _ => return Transport::Unsupported,
                };
            }
        }
        if !multicast {
            return Transport::Interleaved(channels);
        }
    }
    Transport::Unsupported
}

/// The status codes the server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    BadRequest,
    Unauthorized,
    NotFound,
    SessionNotFound,
    NotValidInThisState,
    UnsupportedTransport,
    ServerError,
    NotImplemented,
    Unavailable,
    VersionNotSupported,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Self::Ok => 200,
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::NotFound => 404,
            Self::SessionNotFound => 454,
            Self::NotValidInThisState => 455,
            Self::UnsupportedTransport => 461,
            Self::ServerError => 500,
            Self::NotImplemented => 501,
            Self::Unavailable => 503,
            Self::VersionNotSupported => 505,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::BadRequest => "Bad Request",
            Self::Unauthorized => "Unauthorized",
            Self::NotFound => "Not Found",
            Self::SessionNotFound => "Session Not Found",
            Self::NotValidInThisState => "Method Not Valid in This State",
            Self::UnsupportedTransport => "Unsupported Transport",
            Self::ServerError => "Internal Server Error",
            Self::NotImplemented => "Not Implemented",
            Self::Unavailable => "Service Unavailable",
            Self::VersionNotSupported => "RTSP Version Not Supported",
        }
    }
}

/// An answer being built.
#[derive(Debug)]
pub struct Response {
    status: Status,
    headers: Vec<(&'static str, String)>,
    body: Option<(&'static str, String)>,
}

impl Response {
    pub fn new(status: Status) -> Self {
        Self { status, headers: Vec::new(), body: None }
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, kind: &'static str, body: String) -> Self {
        self.body = Some((kind, body));
        self
    }

    /// The answer's bytes, with `CSeq` (if the request had one) and `Server`.
    pub fn bytes(&self, cseq: Option<u32>) -> Vec<u8> {
        let mut s = format!("RTSP/1.0 {} {}\r\n", self.status.code(), self.status.reason());
        if let Some(c) = cseq {
            let _ = write!(s, "CSeq: {c}\r\n");
        }
        let _ = write!(s, "Server: porchlight/{}\r\n", env!("CARGO_PKG_VERSION"));
        for (k, v) in &self.headers {
            let _ = write!(s, "{k}: {v}\r\n");
        }
        match &self.body {
            Some((kind, b)) => {
                let _ = write!(s, "Content-Type: {kind}\r\nContent-Length: {}\r\n\r\n{b}", b.len());
            }
            None => s.push_str("\r\n"),
        }
        s.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Request {
        match parse(text.as_bytes()) {
            Ok(Some(Item::Request(r, n))) => {
                assert_eq!(n, text.len());
                r
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_request_is_read_whole_with_its_headers() {
        let r = request(
            "DESCRIBE rtsp://127.0.0.1:8554/front RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\nsession: abc;timeout=60\r\n\r\n",
        );
        assert_eq!(r.method, "DESCRIBE");
        assert_eq!(r.uri, "rtsp://127.0.0.1:8554/front");
        assert_eq!(r.cseq(), Some(2));
        assert_eq!(r.header("ACCEPT"), Some("application/sdp"));
        assert_eq!(r.session(), Some("abc"));
    }

    #[test]
    fn partial_input_waits_for_more_and_bodies_are_counted() {
        assert_eq!(parse(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n"), Ok(None));
        assert_eq!(parse(b"$\x01\x00"), Ok(None));
        assert_eq!(parse(b"$\x01\x00\x02ab"), Ok(Some(Item::Interleaved(6))));
        assert_eq!(parse(b"$\x01\x00\x03ab"), Ok(None));
        let text = "GET_PARAMETER rtsp://h/front RTSP/1.0\r\nCSeq: 9\r\nContent-Length: 4\r\n\r\nabcdNEXT";
        match parse(text.as_bytes()) {
            Ok(Some(Item::Request(r, n))) => {
                assert_eq!(r.method, "GET_PARAMETER");
                assert_eq!(&text[n..], "NEXT");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse(b"\r\nOPTIONS * RTSP/1.0\r\n\r\n").map(|i| i.is_some()), Ok(true));
    }

    #[test]
    fn malformed_requests_are_errors() {
        let long = format!("OPTIONS * RTSP/1.0\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse(long.as_bytes()), Err(ParseError::LongHead));
        assert_eq!(
            parse(b"OPTIONS * RTSP/1.0\r\nContent-Length: 99999\r\n\r\n"),
            Err(ParseError::LongBody(99999))
        );
        assert!(matches!(parse(b"OPTIONS * HTTP/1.1\r\n\r\n"), Err(ParseError::Version(_))));
        assert!(matches!(parse(b"OPTIONS\r\n\r\n"), Err(ParseError::RequestLine(_))));
        assert!(matches!(parse(b"options * RTSP/1.0\r\n\r\n"), Err(ParseError::RequestLine(_))));
        assert!(matches!(parse(b"OPTIONS * RTSP/1.0\r\nno colon\r\n\r\n"), Err(ParseError::HeaderLine(_))));
        assert!(matches!(
            parse(b"OPTIONS * RTSP/1.0\r\nContent-Length: x\r\n\r\n"),
            Err(ParseError::ContentLength(_))
        ));
        assert_eq!(parse(b"OPTIONS * RTSP/1.0\r\nX: \xff\r\n\r\n"), Err(ParseError::NotText));
    }

    #[test]
    fn urls_name_a_camera_and_maybe_a_track() {
        let t = |camera: Option<&str>, track| Some(Target { camera: camera.map(str::to_owned), track });
        assert_eq!(target("rtsp://127.0.0.1:8554/front"), t(Some("front"), None));
        assert_eq!(target("rtsp://127.0.0.1:8554/front/"), t(Some("front"), None));
        assert_eq!(target("rtsp://[::1]:8554/front/trackID=1"), t(Some("front"), Some(1)));
        assert_eq!(target("rtsp://h/back%5Fdoor?x=1"), t(Some("back_door"), None));
        assert_eq!(target("/front/trackID=0"), t(Some("front"), Some(0)));
        assert_eq!(target("*"), t(None, None));
        assert_eq!(target("rtsp://h:1"), t(None, None));
        assert_eq!(target("rtsp://h/a/b"), None);
        assert_eq!(target("rtsp://h/a%zz"), None);
        assert_eq!(target("rtsp://h/a/trackID=x"), None);
        assert_eq!(target("http://h/a"), None);
    }

    #[test]
    fn only_interleaved_tcp_is_taken() {
        assert_eq!(transport("RTP/AVP/TCP;unicast;interleaved=0-1"), Transport::Interleaved(Some((0, 1))));
        assert_eq!(
            transport("RTP/AVP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast;interleaved=2-3"),
            Transport::Interleaved(Some((2, 3)))
        );
        assert_eq!(transport("RTP/AVP/TCP;unicast"), Transport::Interleaved(None));
        assert_eq!(transport("RTP/AVP;unicast;client_port=5000-5001"), Transport::Unsupported);
        assert_eq!(transport("RTP/AVP/UDP;unicast;client_port=5000-5001"), Transport::Unsupported);
        assert_eq!(transport("RTP/AVP/TCP;multicast"), Transport::Unsupported);
        assert_eq!(transport("RTP/AVP/TCP;interleaved=x"), Transport::Unsupported);
    }

    #[test]
    fn answers_carry_cseq_headers_and_body() {
        let r =
            Response::new(Status::Ok).header("Public", "OPTIONS").body("application/sdp", "v=0\r\n".into());
        let text = String::from_utf8(r.bytes(Some(7))).expect("text");
        assert!(text.starts_with("RTSP/1.0 200 OK\r\nCSeq: 7\r\nServer: porchlight/"), "{text}");
        assert!(text.ends_with(
            "Public: OPTIONS\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n"
        ));
        let text = String::from_utf8(Response::new(Status::UnsupportedTransport).bytes(None)).expect("text");
        assert!(text.starts_with("RTSP/1.0 461 Unsupported Transport\r\nServer:"), "{text}");
    }
}
