//! One client connection: its RTSP requests (`OPTIONS`, `DESCRIBE`, `SETUP`, `PLAY`,
//! `GET_PARAMETER`, `TEARDOWN`), then the camera's frames as RTP interleaved on the same
//! connection, from the camera's current GOP on. The frames are the hub's own live feed
//! (`recording::live`), shared by every client and the recorder: no client opens anything at
//! the camera.
//!
//! A client that falls behind (more than [`MAX_BACKLOG`] frames waiting for it, or the feed
//! lagging past it) loses frames up to the next keyframe; one whose socket takes nothing for
//! [`WRITE_STALL`] is closed. Neither holds memory of its own beyond one frame's packets, and
//! neither slows the recording.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::auth::{Auth, Refused};
use super::request::{self, Item, Request, Response, Status, Transport};
use crate::recording::frames::VideoParams;
use crate::recording::live::{LiveFrame, LiveTaps};
use crate::rtp::{self, AudioTrack, Rtp, VideoTrack};

/// Frames waiting for a client (in the camera's shared ring) beyond which it skips to the next
/// keyframe: about 3 s of 25 fps video with audio.
pub const MAX_BACKLOG: usize = 128;
/// How long a client's socket may take nothing before the client is dropped.
pub const WRITE_STALL: Duration = Duration::from_secs(10);
/// How long a connection may send no request before it plays.
const IDLE: Duration = Duration::from_secs(60);
/// How long a playing client may get no frame before it is told the camera stopped.
const FRAME_WAIT: Duration = Duration::from_secs(15);
/// Interval of RTCP sender reports.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// Refused requests after which a connection is closed.
const MAX_REFUSED: u32 = 16;
/// The session timeout announced in `Session:` (clients send keep-alives within it).
const SESSION_TIMEOUT: u32 = 60;
const PUBLIC: &str = "OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN";

/// Serves one client until it leaves, breaks the protocol too often, or `cancel` fires.
pub async fn serve<S>(stream: S, peer: SocketAddr, shared: Arc<Shared>, cancel: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (rd, wr) = tokio::io::split(stream);
    let auth = shared.settings.login.as_ref().map(|(u, p)| Auth::new(u, p));
    let mut conn = Conn { shared: &shared, peer, wr, auth, refused: 0, described: None, session: None };
    let mut reader = Reader { rd, buf: Vec::with_capacity(4096) };
    let end = conn.run(&mut reader, &cancel).await;
    conn.finish(end);
}

/// Why a connection ended.
#[derive(Debug)]
enum End {
    /// The client closed it or sent `TEARDOWN`.
    Client,
    /// Shutdown, or the server's settings changed.
    Stopped,
    Read(std::io::Error),
    Write(std::io::Error),
    /// The client's socket took nothing for [`WRITE_STALL`].
    Stalled,
    /// Unreadable bytes; answered `400` (or `505`).
    Protocol(request::ParseError),
    Idle,
    TooManyRefused,
    /// The camera's stream changed under a playing client (new parameters) or stopped.
    Camera(&'static str),
}

/// The read side: bytes in, requests and the client's interleaved packets out.
struct Reader<R> {
    rd: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// The next request. Cancel-safe: bytes read stay in the buffer.
    async fn next(&mut self) -> Result<Option<Request>, End> {
        loop {
            match request::parse(&self.buf) {
                Ok(Some(Item::Request(r, used))) => {
                    self.buf.drain(..used);
                    return Ok(Some(r));
                }
                Ok(Some(Item::Interleaved(used))) => {
                    // The client's RTCP receiver reports: nothing to do with them.
                    self.buf.drain(..used);
                    continue;
                }
                Ok(None) => {}
                Err(e) => return Err(End::Protocol(e)),
            }
            self.buf.reserve(4096);
            match self.rd.read_buf(&mut self.buf).await {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) => return Err(End::Read(e)),
            }
        }
    }
}

/// The camera's stream from a keyframe on: frames in hand, then the live receiver.
struct Feed {
    first: VecDeque<Arc<LiveFrame>>,
    rx: broadcast::Receiver<Arc<LiveFrame>>,
}

impl Feed {
    /// Starts watching `camera` from its current group of pictures; while it has none (the
    /// camera is not streaming, or its groups are too long to keep), waits at most `wait` for
    /// a keyframe. `None`: none came.
    async fn open(taps: &LiveTaps, camera: &str, wait: Duration) -> Option<Self> {
        let watch = taps.watch(camera);
        let mut rx = watch.rx;
        if !watch.gop.is_empty() {
            return Some(Self { first: watch.gop.into(), rx });
        }
        let deadline = Instant::now() + wait;
        loop {
            let got = tokio::time::timeout_at(deadline, rx.recv()).await.ok()?;
            match got {
                Ok(f) if matches!(&*f, LiveFrame::Video { keyframe: true, .. }) => {
                    return Some(Self { first: VecDeque::from([f]), rx });
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// The next frame. Cancel-safe.
    async fn next(&mut self) -> Result<Arc<LiveFrame>, RecvError> {
        if let Some(f) = self.first.pop_front() {
            return Ok(f);
        }
        self.rx.recv().await
    }
}

/// A camera described to the client: what its SDP said and the feed to play from.
struct Described {
    camera: String,
    params: Arc<VideoParams>,
    video: VideoTrack,
    audio: Option<AudioTrack>,
    feed: Feed,
}

/// The client's session (one per connection).
struct Session {
    id: String,
    /// The interleaved RTP channel of each track set up (video, audio).
    channels: [Option<u8>; 2],
    playing: Option<Play>,
}

/// A playing stream's state.
struct Play {
    video_rtp: Rtp,
    audio_rtp: Option<Rtp>,
    /// The camera's pts (90 kHz) at media time 0.
    base: i64,
    /// The last video pts, to see the camera's session start over.
    last_pts: i64,
    /// The last video media time sent (90 kHz since the start).
    last_media: i64,
    wait_keyframe: bool,
    /// Media time 0 as Unix time (when the first keyframe was captured), for the sender
    /// reports.
    origin: Duration,
    /// When the next sender reports are due (`None`: before the first frame).
    next_report: Option<Instant>,
    last_audio_media: Option<i64>,
    started: Instant,
    bytes: u64,
    skipped: u64,
}

struct Conn<'a, W> {
    shared: &'a Shared,
    peer: SocketAddr,
    wr: W,
    auth: Option<Auth>,
    refused: u32,
    described: Option<Described>,
    session: Option<Session>,
}

/// What the connection waits for.
enum Event {
    Stop,
    Request(Result<Option<Request>, End>),
    Frame(Result<Result<Arc<LiveFrame>, RecvError>, tokio::time::error::Elapsed>),
    Idle,
}

impl<W: AsyncWrite + Unpin> Conn<'_, W> {
    async fn run<R: AsyncRead + Unpin>(&mut self, reader: &mut Reader<R>, cancel: &CancellationToken) -> End {
        let mut idle = Instant::now() + IDLE;
        let mut out = Vec::with_capacity(64 << 10);
        loop {
            let playing = self.session.as_ref().is_some_and(|s| s.playing.is_some());
            let feed = self.described.as_mut().map(|d| &mut d.feed).filter(|_| playing);
            let event = tokio::select! {
                biased;
                () = cancel.cancelled() => Event::Stop,
                r = reader.next() => Event::Request(r),
                f = async {
                    match feed {
                        Some(f) => Some(tokio::time::timeout(FRAME_WAIT, f.next()).await),
                        None => None,
                    }
                }, if playing => match f {
                    Some(f) => Event::Frame(f),
                    None => Event::Stop,
                },
                () = tokio::time::sleep_until(idle), if !playing => Event::Idle,
            };
            let result = match event {
                Event::Stop => return End::Stopped,
                Event::Idle => return End::Idle,
                Event::Request(Ok(None)) => return End::Client,
                Event::Request(Err(e)) => {
                    if let End::Protocol(why) = &e {
                        let status = match why {
                            request::ParseError::Version(_) => Status::VersionNotSupported,
                            _ => Status::BadRequest,
                        };
                        tracing::warn!(client = %self.peer, status = status.code(), error = %why, "Restream request refused");
                        let bytes = Response::new(status).bytes(None);
                        let _ = self.write(&bytes, cancel).await;
                    }
                    return e;
                }
                Event::Request(Ok(Some(req))) => {
                    idle = Instant::now() + IDLE;
                    self.request(&req, cancel).await
                }
                Event::Frame(Err(_)) => Err(End::Camera("the camera sent no frame for 15 s")),
                Event::Frame(Ok(Err(RecvError::Closed))) => Err(End::Camera("the camera's feed closed")),
                Event::Frame(Ok(Err(RecvError::Lagged(n)))) => {
                    if let Some(p) = self.play_mut() {
                        p.skipped += n;
                        p.wait_keyframe = true;
                    }
                    Ok(())
                }
                Event::Frame(Ok(Ok(frame))) => {
                    out.clear();
                    match self.frame(&frame, &mut out) {
                        Ok(()) if out.is_empty() => Ok(()),
                        Ok(()) => {
                            let r = self.write(&out, cancel).await;
                            if let Some(p) = self.play_mut() {
                                p.bytes += out.len() as u64;
                            }
                            r
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            if let Err(end) = result {
                return end;
            }
        }
    }

    fn play_mut(&mut self) -> Option<&mut Play> {
        self.session.as_mut()?.playing.as_mut()
    }

    /// Writes `bytes` whole, within [`WRITE_STALL`].
    async fn write(&mut self, bytes: &[u8], cancel: &CancellationToken) -> Result<(), End> {
        tokio::select! {
            () = cancel.cancelled() => Err(End::Stopped),
            r = tokio::time::timeout(WRITE_STALL, self.wr.write_all(bytes)) => match r {
                Err(_) => Err(End::Stalled),
                Ok(Err(e)) if matches!(e.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset) => {
                    Err(End::Client)
                }
                Ok(Err(e)) => Err(End::Write(e)),
                Ok(Ok(())) => Ok(()),
            }
        }
    }

    /// Answers one request (and starts or stops the stream).
    async fn request(&mut self, req: &Request, cancel: &CancellationToken) -> Result<(), End> {
        let (response, then) = match self.answer(req, cancel).await {
            Ok(ok) => ok,
            Err(refusal) => {
                let status = refusal.status();
                if status == Status::Unauthorized && matches!(refusal.reason, Reason::Login(Refused::Missing))
                {
                    tracing::debug!(client = %self.peer, method = %req.method, "Restream login asked");
                } else {
                    self.refused += 1;
                    let url: String = req.uri.chars().take(200).collect();
                    if status == Status::UnsupportedTransport {
                        // VLC and ffmpeg ask for UDP first by default and take TCP next.
                        tracing::info!(
                            client = %self.peer, method = %req.method, url = %url, status = status.code(),
                            reason = %refusal.reason, "Restream request refused"
                        );
                    } else {
                        tracing::warn!(
                            client = %self.peer, method = %req.method, url = %url, status = status.code(),
                            reason = %refusal.reason, "Restream request refused"
                        );
                    }
                }
                (refusal.response, After::Nothing)
            }
        };
        self.write(&response.bytes(req.cseq()), cancel).await?;
        if self.refused >= MAX_REFUSED {
            return Err(End::TooManyRefused);
        }
        match then {
            After::Nothing => Ok(()),
            After::Close => Err(End::Client),
            After::Play(play) => {
                let camera = self.described.as_ref().map(|d| d.camera.clone()).unwrap_or_default();
                tracing::info!(client = %self.peer, camera = %camera, "Restream client playing");
                if let Some(s) = self.session.as_mut() {
                    s.playing = Some(*play);
                }
                Ok(())
            }
        }
    }

    async fn answer(
        &mut self,
        req: &Request,
        cancel: &CancellationToken,
    ) -> Result<(Response, After), Refusal> {
        let method = req.method.as_str();
        if method == "OPTIONS" {
            return Ok((Response::new(Status::Ok).header("Public", PUBLIC), After::Nothing));
        }
        if !matches!(method, "DESCRIBE" | "SETUP" | "PLAY" | "GET_PARAMETER" | "TEARDOWN") {
            return Err(Refusal::new(Status::NotImplemented, Reason::Method).header("Public", PUBLIC));
        }
        if let Some(auth) = &self.auth
            && let Err(why) = auth.check(method, &req.uri, req.header("authorization"))
        {
            return Err(Refusal::new(Status::Unauthorized, Reason::Login(why))
                .header("WWW-Authenticate", auth.challenge()));
        }
        let target = request::target(&req.uri).ok_or(Refusal::new(Status::BadRequest, Reason::Url))?;
        // After SETUP every request names the session.
        if let Some(s) = &self.session
            && matches!(method, "SETUP" | "PLAY" | "TEARDOWN" | "GET_PARAMETER")
            && req.session().is_some_and(|id| id != s.id)
        {
            return Err(Refusal::new(Status::SessionNotFound, Reason::Session));
        }
        match method {
            "GET_PARAMETER" => Ok((self.with_session(Response::new(Status::Ok)), After::Nothing)),
            "TEARDOWN" => Ok((Response::new(Status::Ok), After::Close)),
            "DESCRIBE" => {
                let camera = target.camera.ok_or(Refusal::new(Status::NotFound, Reason::NoCamera))?;
                if self.session.is_some() {
                    return Err(Refusal::new(
                        Status::NotValidInThisState,
                        Reason::State("a session is set up"),
                    ));
                }
                let d = self.describe(&camera, cancel).await?;
                let base = content_base(&req.uri);
                let sdp = self.sdp(&d, &camera);
                self.described = Some(d);
                Ok((
                    Response::new(Status::Ok).header("Content-Base", base).body("application/sdp", sdp),
                    After::Nothing,
                ))
            }
            "SETUP" => self.setup(req, target, cancel).await,
            _ => self.play(req),
        }
    }

    /// Checks that `camera` may be watched and waits for its stream.
    async fn describe(&self, camera: &str, cancel: &CancellationToken) -> Result<Described, Refusal> {
        {
            let settings = self.shared.cameras.borrow();
            let offered = self.shared.settings.cameras.as_ref().is_none_or(|c| c.iter().any(|n| n == camera));
            match settings.camera(camera) {
                Some(c) if offered && c.enabled => {}
                Some(_) if offered => {
                    return Err(Refusal::new(
                        Status::Unavailable,
                        Reason::Unavailable("the camera is disabled"),
                    ));
                }
                _ => return Err(Refusal::new(Status::NotFound, Reason::NoCamera)),
            }
        }
        let wait = self.shared.settings.keyframe_wait;
        let feed = tokio::select! {
            () = cancel.cancelled() => None,
            f = Feed::open(&self.shared.taps, camera, wait) => f,
        };
        let Some(feed) = feed else {
            return Err(Refusal::new(
                Status::Unavailable,
                Reason::Unavailable("the camera is not streaming now (offline, recording off or paused)"),
            ));
        };
        let Some(LiveFrame::Video { params, audio, .. }) = feed.first.front().map(|f| &**f) else {
            return Err(Refusal::new(
                Status::ServerError,
                Reason::Unavailable("the stream starts without video"),
            ));
        };
        let video = VideoTrack::new(params)
            .map_err(|e| Refusal::new(Status::Unavailable, Reason::Track(e.to_string())))?;
        let audio = audio.as_ref().and_then(|a| match AudioTrack::new(a) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::debug!(camera, error = %e, "The camera's audio cannot be restreamed; video only");
                None
            }
        });
        Ok(Described { camera: camera.to_owned(), params: Arc::clone(params), video, audio, feed })
    }

    fn sdp(&self, d: &Described, camera: &str) -> String {
        let ip = match self.shared.local.ip() {
            std::net::IpAddr::V4(a) => format!("IP4 {a}"),
            std::net::IpAddr::V6(a) => format!("IP6 {a}"),
        };
        let mut s = format!(
            "v=0\r\no=- {} 1 IN {ip}\r\ns={camera}\r\nc=IN {ip}\r\nt=0 0\r\na=tool:porchlight\r\na=control:*\r\na=range:npt=0-\r\n",
            fastrand::u32(..)
        );
        s.push_str(&rtp::media_sdp(&d.video, d.audio.as_ref(), |t| format!("trackID={t}")));
        s
    }

    async fn setup(
        &mut self,
        req: &Request,
        target: request::Target,
        cancel: &CancellationToken,
    ) -> Result<(Response, After), Refusal> {
        let camera = target.camera.ok_or(Refusal::new(Status::NotFound, Reason::NoCamera))?;
        if self.session.as_ref().is_some_and(|s| s.playing.is_some()) {
            return Err(Refusal::new(Status::NotValidInThisState, Reason::State("already playing")));
        }
        if self.described.as_ref().is_none_or(|d| d.camera != camera) {
            if self.session.is_some() {
                return Err(Refusal::new(
                    Status::NotValidInThisState,
                    Reason::State("a session for another camera"),
                ));
            }
            // A client that sets up without DESCRIBE (it knows the stream): described now.
            self.described = Some(self.describe(&camera, cancel).await?);
        }
        let tracks = self.described.as_ref().map_or(1, |d| 1 + usize::from(d.audio.is_some()));
        let track = target.track.unwrap_or(0);
        if track >= tracks {
            return Err(Refusal::new(Status::NotFound, Reason::Track(format!("no track {track}"))));
        }
        let header = req.header("transport").ok_or(Refusal::new(Status::BadRequest, Reason::NoTransport))?;
        let Transport::Interleaved(channels) = request::transport(header) else {
            return Err(Refusal::new(Status::UnsupportedTransport, Reason::Udp));
        };
        let (rtp, rtcp) = channels.unwrap_or((2 * track as u8, 2 * track as u8 + 1));
        let session = self.session.get_or_insert_with(|| Session {
            id: format!("{:016X}", fastrand::u64(..)),
            channels: [None, None],
            playing: None,
        });
        session.channels[track] = Some(rtp);
        let response = Response::new(Status::Ok)
            .header("Transport", format!("RTP/AVP/TCP;unicast;interleaved={rtp}-{rtcp}"))
            .header("Session", format!("{};timeout={SESSION_TIMEOUT}", session.id));
        Ok((response, After::Nothing))
    }

    fn play(&mut self, req: &Request) -> Result<(Response, After), Refusal> {
        let Some(session) = &self.session else {
            return Err(Refusal::new(Status::NotValidInThisState, Reason::State("PLAY before SETUP")));
        };
        if req.session().is_none() {
            return Err(Refusal::new(Status::SessionNotFound, Reason::Session));
        }
        if session.playing.is_some() {
            // A repeated PLAY (some clients send one as a keep-alive) changes nothing.
            return Ok((self.with_session(Response::new(Status::Ok)), After::Nothing));
        }
        let Some(d) = &self.described else {
            return Err(Refusal::new(Status::NotValidInThisState, Reason::State("PLAY before DESCRIBE")));
        };
        let Some(video_channel) = session.channels[0] else {
            return Err(Refusal::new(
                Status::NotValidInThisState,
                Reason::State("the video track is not set up"),
            ));
        };
        let audio_channel = session.channels[1].filter(|_| d.audio.is_some());
        let (base, at) = match d.feed.first.front().map(|f| &**f) {
            Some(LiveFrame::Video { pts, at, .. }) => (*pts, Some(*at)),
            _ => (0, None),
        };
        let video_rtp = Rtp::new(video_channel);
        let audio_rtp = audio_channel.map(Rtp::new);
        let base_url = content_base(&req.uri);
        let base_url = base_url.trim_end_matches('/');
        let mut info =
            format!("url={base_url}/trackID=0;seq={};rtptime={}", video_rtp.next_seq(), video_rtp.rtptime(0));
        if let Some(a) = &audio_rtp {
            info.push_str(&format!(
                ",url={base_url}/trackID=1;seq={};rtptime={}",
                a.next_seq(),
                a.rtptime(0)
            ));
        }
        let response = self
            .with_session(Response::new(Status::Ok))
            .header("Range", "npt=0.000-")
            .header("RTP-Info", info);
        // Media time 0 is the first keyframe, captured at `at` by the hub's clock.
        let origin = at
            .and_then(|t| Duration::try_from(t.duration_since(jiff::Timestamp::UNIX_EPOCH)).ok())
            .unwrap_or_else(|| SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default());
        let play = Play {
            video_rtp,
            audio_rtp,
            base,
            last_pts: base,
            last_media: 0,
            wait_keyframe: false,
            origin,
            next_report: None,
            last_audio_media: None,
            started: Instant::now(),
            bytes: 0,
            skipped: 0,
        };
        Ok((response, After::Play(Box::new(play))))
    }

    fn with_session(&self, r: Response) -> Response {
        match &self.session {
            Some(s) => r.header("Session", format!("{};timeout={SESSION_TIMEOUT}", s.id)),
            None => r,
        }
    }

    /// One frame's packets (nothing for a frame skipped).
    fn frame(&mut self, frame: &Arc<LiveFrame>, out: &mut Vec<u8>) -> Result<(), End> {
        let (Some(d), Some(p)) =
            (self.described.as_mut(), self.session.as_mut().and_then(|s| s.playing.as_mut()))
        else {
            return Ok(());
        };
        if d.feed.rx.len() > MAX_BACKLOG && !p.wait_keyframe {
            // The client reads more slowly than the camera sends: skip to the next keyframe.
            p.wait_keyframe = true;
            p.skipped += 1;
            tracing::debug!(client = %self.peer, camera = %d.camera, "Restream client behind; skipping to the next keyframe");
        }
        match &**frame {
            LiveFrame::Video { params, pts, keyframe, data, .. } => {
                if !Arc::ptr_eq(params, &d.params) && **params != *d.params {
                    return Err(End::Camera("the camera's codec parameters changed"));
                }
                // The camera's session started over (a reconnect): its clock did too. Media
                // time goes on from where it was, from the next keyframe.
                if *pts < p.last_pts - 90_000 || *pts > p.last_pts + 10 * 90_000 {
                    p.base = pts - (p.last_media + 3_000);
                    p.wait_keyframe = true;
                }
                p.last_pts = *pts;
                if p.wait_keyframe && !keyframe {
                    p.skipped += 1;
                    return Ok(());
                }
                p.wait_keyframe = false;
                let media = pts - p.base;
                p.last_media = media;
                let now = Instant::now();
                if p.next_report.is_none_or(|t| now >= t) {
                    p.next_report = Some(now + REPORT_EVERY);
                    report(p, d.audio.as_ref(), out);
                }
                d.video
                    .packetize(&mut p.video_rtp, media as u32, *keyframe, data, out)
                    .map_err(|_| End::Camera("a frame that does not split into NAL units"))
            }
            LiveFrame::Audio { pts, data, .. } => {
                let (Some(a), Some(rtp)) = (&d.audio, p.audio_rtp.as_mut()) else { return Ok(()) };
                if p.wait_keyframe || p.next_report.is_none() {
                    return Ok(());
                }
                let media = pts - audio_base(p.base, a.rate);
                if media < 0 {
                    return Ok(());
                }
                p.last_audio_media = Some(media);
                a.packetize(rtp, media as u32, data, out);
                Ok(())
            }
        }
    }

    /// Logs how the connection ended.
    fn finish(&self, end: End) {
        let camera = self.described.as_ref().map_or("", |d| d.camera.as_str());
        let reason = match &end {
            End::Client => "the client left".to_owned(),
            End::Stopped => "the server stopped".to_owned(),
            End::Read(e) => format!("reading: {e}"),
            End::Write(e) => format!("writing: {e}"),
            End::Stalled => format!("the client took nothing for {WRITE_STALL:?}"),
            End::Protocol(e) => format!("unreadable request: {e}"),
            End::Idle => format!("no request for {IDLE:?}"),
            End::TooManyRefused => format!("{MAX_REFUSED} requests refused"),
            End::Camera(why) => (*why).to_owned(),
        };
        match self.session.as_ref().and_then(|s| s.playing.as_ref()) {
            Some(p) => tracing::info!(
                client = %self.peer, camera, bytes = p.bytes, seconds = p.started.elapsed().as_secs(),
                skipped_frames = p.skipped, reason = %reason, "Restream client stopped"
            ),
            None => tracing::debug!(client = %self.peer, reason = %reason, "Restream connection closed"),
        }
    }
}

/// The audio pts (in `rate` ticks) at media time 0.
fn audio_base(video_base: i64, rate: u32) -> i64 {
    video_base * i64::from(rate) / 90_000
}

/// RTCP sender reports for both tracks: media time `t` of each happened at `origin + t`, so a
/// receiver lines audio up with video.
fn report(p: &Play, audio: Option<&AudioTrack>, out: &mut Vec<u8>) {
    let at = |media: i64, rate: u32| {
        let nanos = u64::try_from(media).unwrap_or(0).saturating_mul(1_000_000_000) / u64::from(rate.max(1));
        rtp::ntp_time(p.origin + Duration::from_nanos(nanos))
    };
    p.video_rtp.sender_report(out, at(p.last_media, 90_000), p.last_media as u32);
    if let (Some(a), Some(rtp)) = (audio, &p.audio_rtp) {
        let media = p.last_audio_media.unwrap_or(p.last_media * i64::from(a.rate) / 90_000);
        rtp.sender_report(out, at(media, a.rate), media as u32);
    }
}

/// The `Content-Base` of a `DESCRIBE` of `uri`: the URL without query, ending in `/`.
fn content_base(uri: &str) -> String {
    let u = uri.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
    format!("{u}/")
}

/// What happens after an answer is sent.
enum After {
    Nothing,
    Play(Box<Play>),
    Close,
}

/// A refused request: the answer and why.
struct Refusal {
    response: Response,
    reason: Reason,
}

impl Refusal {
    fn new(status: Status, reason: Reason) -> Self {
        let text = format!("{reason}\r\n");
        Self { response: Response::new(status).body("text/plain", text), reason }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.response = self.response.header(name, value);
        self
    }

    fn status(&self) -> Status {
        self.response.status()
    }
}

#[derive(Debug, thiserror::Error)]
enum Reason {
    #[error("method not served")]
    Method,
    #[error("login refused: {0}")]
    Login(Refused),
    #[error("not a URL of this server (rtsp://host:port/<camera>)")]
    Url,
    #[error("no such camera")]
    NoCamera,
    #[error("unknown session")]
    Session,
    #[error("{0}")]
    State(&'static str),
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("{0}")]
    Track(String),
    #[error("no Transport header")]
    NoTransport,
    #[error("only RTP over the RTSP connection (RTP/AVP/TCP, interleaved) is served; ask the client for TCP")]
    Udp,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tokio::io::DuplexStream;
    use tokio::sync::watch;

    use super::*;
    use crate::config::{Env, RestreamSettings};
    use crate::recording::live::LiveTap;

    const CAMERA: &str = "rtsp://127.0.0.1:8554/front";

    fn shared(taps: &LiveTaps) -> Arc<Shared> {
        let text = "[[camera]]\nname = \"front\"\nrtsp_url = \"rtsp://127.0.0.1:1/x\"\n";
        let env = Env::from_pairs([("HOME", "/tmp")]);
        let settings = crate::config::parse(Path::new("/etc/porchlight/config.toml"), text.into(), &env)
            .expect("valid config");
        let restream = RestreamSettings {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8554)),
            login: None,
            max_clients: 4,
            cameras: None,
            keyframe_wait: Duration::from_secs(5),
        };
        let (_tx, cameras) = watch::channel(Arc::new(settings));
        Arc::new(Shared { settings: restream, cameras, taps: taps.clone(), local: restream_addr() })
    }

    fn restream_addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8554))
    }

    fn video(pts: i64, keyframe: bool, nal: &[u8]) -> LiveFrame {
        let mut data = (nal.len() as u32).to_be_bytes().to_vec();
        data.extend_from_slice(nal);
        LiveFrame::Video {
            params: crate::recording::writer::tests::params(320, 240),
            pts,
            at: jiff::Timestamp::UNIX_EPOCH,
            keyframe,
            data,
            audio: None,
        }
    }

    /// A client on one end of an in-memory connection.
    struct Client {
        io: DuplexStream,
        buf: Vec<u8>,
    }

    impl Client {
        async fn call(&mut self, text: &str) -> (u16, String) {
            self.io.write_all(text.as_bytes()).await.expect("send");
            loop {
                if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8(self.buf[..end].to_vec()).expect("text");
                    let body: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .map_or(0, |n| n.parse().expect("length"));
                    if self.buf.len() >= end + 4 + body {
                        let all = String::from_utf8(self.buf[..end + 4 + body].to_vec()).expect("text");
                        self.buf.drain(..end + 4 + body);
                        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
                        return (status, all);
                    }
                }
                self.fill().await;
            }
        }

        async fn fill(&mut self) {
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(30), self.io.read(&mut chunk))
                .await
                .expect("the server answers")
                .expect("read");
            assert!(n > 0, "the server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }

        /// The next interleaved packet: (channel, bytes).
        async fn packet(&mut self) -> (u8, Vec<u8>) {
            loop {
                if self.buf.len() >= 4 {
                    assert_eq!(self.buf[0], b'$', "{:?}", String::from_utf8_lossy(&self.buf));
                    let len = 4 + usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
                    if self.buf.len() >= len {
                        let p: Vec<u8> = self.buf.drain(..len).collect();
                        return (p[1], p[4..].to_vec());
                    }
                }
                self.fill().await;
            }
        }

        /// The payload of the next RTP packet on channel 0 (sender reports on 1 skipped).
        async fn rtp(&mut self) -> Vec<u8> {
            loop {
                let (channel, p) = self.packet().await;
                if channel == 0 {
                    return p[12..].to_vec();
                }
                assert_eq!((channel, p[1]), (1, 200), "a sender report");
            }
        }
    }

    fn start(taps: &LiveTaps) -> (Client, CancellationToken) {
        let (client, server) = tokio::io::duplex(1 << 20);
        let cancel = CancellationToken::new();
        let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
        tokio::spawn(serve(server, peer, shared(taps), cancel.clone()));
        (Client { io: client, buf: Vec::new() }, cancel)
    }

    async fn play(c: &mut Client) {
        let (status, sdp) = c.call(&format!("DESCRIBE {CAMERA} RTSP/1.0\r\nCSeq: 1\r\n\r\n")).await;
        assert_eq!(status, 200, "{sdp}");
        assert!(sdp.contains("Content-Base: rtsp://127.0.0.1:8554/front/\r\n"), "{sdp}");
        assert!(sdp.contains("a=rtpmap:96 H264/90000\r\n"), "{sdp}");
        // The parameter sets of the camera's avcC, base64.
        assert!(sdp.contains("sprop-parameter-sets=Z0LADdk=,aM48gA=="), "{sdp}");
        assert!(!sdp.contains("m=audio"), "{sdp}");
        let (status, setup) = c
            .call(&format!(
                "SETUP {CAMERA}/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
            ))
            .await;
        assert_eq!(status, 200, "{setup}");
        let session = setup
            .lines()
            .find_map(|l| l.strip_prefix("Session: "))
            .and_then(|s| s.split(';').next())
            .expect("a session")
            .to_owned();
        let (status, play) =
            c.call(&format!("PLAY {CAMERA} RTSP/1.0\r\nCSeq: 3\r\nSession: {session}\r\n\r\n")).await;
        assert_eq!(status, 200, "{play}");
        assert!(play.contains("RTP-Info: url=rtsp://127.0.0.1:8554/front/trackID=0;seq="), "{play}");
    }

    #[tokio::test]
    async fn a_client_starts_at_the_current_gop_with_parameter_sets_then_gets_live_frames() {
        let taps = LiveTaps::default();
        let tap: LiveTap = taps.tap("front");
        tap.offer(video(0, true, &[0x65, 1]));
        tap.offer(video(3000, false, &[0x41, 2]));
        let (mut c, cancel) = start(&taps);
        play(&mut c).await;
        // The GOP: SPS, PPS before the keyframe, then the frame after it.
        assert_eq!(c.rtp().await, [0x67, 0x42, 0xc0, 0x0d, 0xd9]);
        assert_eq!(c.rtp().await, [0x68, 0xce, 0x3c, 0x80]);
        assert_eq!(c.rtp().await, [0x65, 1]);
        assert_eq!(c.rtp().await, [0x41, 2]);
        // Then what the camera sends next.
        tap.offer(video(6000, false, &[0x41, 3]));
        assert_eq!(c.rtp().await, [0x41, 3]);
        cancel.cancel();
    }

    #[tokio::test]
    async fn a_client_far_behind_skips_to_the_next_keyframe() {
        let taps = LiveTaps::default();
        let tap = taps.tap("front");
        tap.offer(video(0, true, &[0x65, 0]));
        let (mut c, cancel) = start(&taps);
        play(&mut c).await;
        for _ in 0..3 {
            c.rtp().await; // SPS, PPS, the keyframe
        }
        // While the client reads nothing, the camera sends more than MAX_BACKLOG frames.
        let mut pts = 0;
        for _ in 0..=MAX_BACKLOG + 1 {
            pts += 3000;
            tap.offer(video(pts, false, &[0x41, 9]));
        }
        tap.offer(video(pts + 3000, true, &[0x65, 7]));
        tap.offer(video(pts + 6000, false, &[0x41, 8]));
        // Frames up to the keyframe are skipped (the first one read before the backlog was
        // seen may still come).
        let mut got = c.rtp().await;
        if got == [0x41, 9] {
            got = c.rtp().await;
        }
        assert_eq!(got, [0x67, 0x42, 0xc0, 0x0d, 0xd9], "the next keyframe, with its SPS");
        assert_eq!(c.rtp().await, [0x68, 0xce, 0x3c, 0x80]);
        assert_eq!(c.rtp().await, [0x65, 7]);
        assert_eq!(c.rtp().await, [0x41, 8]);
        cancel.cancel();
    }

    #[tokio::test]
    async fn a_camera_without_a_stream_is_unavailable_and_an_unknown_one_not_found() {
        let taps = LiveTaps::default();
        let (mut c, cancel) = start(&taps);
        let (status, _) = c.call("DESCRIBE rtsp://127.0.0.1:8554/nowhere RTSP/1.0\r\nCSeq: 1\r\n\r\n").await;
        assert_eq!(status, 404);
        tokio::time::pause();
        let (status, body) = c.call(&format!("DESCRIBE {CAMERA} RTSP/1.0\r\nCSeq: 2\r\n\r\n")).await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("not streaming"), "{body}");
        cancel.cancel();
    }
}
