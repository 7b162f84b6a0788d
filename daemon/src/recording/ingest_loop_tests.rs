//! The ingest loop ([`run_sessions`]) on paused time, against a scripted camera. The camera is
//! a fake because these tests need timings and faults a real camera cannot be made to produce
//! at unit speed: thirty failed sessions in a row, a stream that falls behind by exactly so
//! much, a stall of exactly the timeout. The real RTSP path (`recording/rtsp.rs`) is covered
//! end to end by `tests/tests/recording.rs` with a GStreamer RTSP server.
//!
//! Each test scripts the camera, runs the loop until the script is over (the camera then
//! hangs in its next session's opening, which the cancel ends like any session), cancels it,
//! and checks what the loop did: when it
//! probed and opened sessions (the camera's log), what it published on the bus and what it
//! gave the writer.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::time::Instant;

use super::frames::{AudioParams, VideoParams};
use super::ingest::{CameraSession, IngestError, Item, Opener, WallClock};
use super::reconnect::{MIN_SESSION_SPACING, PROBE_INTERVAL, ProbeError};
use super::writer;
use super::*;

/// The stall timeout the loop is given.
const STALL: Duration = Duration::from_secs(10);
/// The fake camera's frame rate: 10 fps, 9000 ticks of 90 kHz per frame.
const TICKS: i64 = 9000;
/// Every how many frames a keyframe comes.
const GOP: i64 = 10;
/// The hub's wall clock at the start of each test.
const BASE_MS: i64 = 1_800_000_000_000;

/// What the fake camera does when a session is opened.
enum Attempt {
    /// The session fails before any frame (a refused login, a wrong path, no video).
    Fail,
    /// The session plays these steps, then the camera ends it.
    Play(Vec<Step>),
}

#[derive(Debug, Clone, Copy)]
enum Step {
    /// The next video frame, this long after the previous step.
    Frame(Duration),
    /// The camera ends the session this long after the previous step.
    End(Duration),
    /// The camera sends nothing more and keeps the connection open.
    Stall,
}

/// `n` frames, `every` apart, then the camera ends the session.
fn frames(n: usize, every: Duration) -> Vec<Step> {
    let mut steps = vec![Step::Frame(every); n];
    steps.push(Step::End(Duration::ZERO));
    steps
}

/// What the fake camera saw, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Probe,
    Open,
    Frame,
}

type Log = mpsc::UnboundedSender<(Seen, Instant)>;

/// A camera that answers probes and sessions from a script.
struct Camera {
    /// Probe answers in order (`false`: the port refuses); accepted once they run out.
    probes: Mutex<VecDeque<bool>>,
    attempts: Mutex<VecDeque<Attempt>>,
    log: Log,
}

impl Opener for Camera {
    type Session = Session;

    async fn probe(&self, _src: &ingest::Source) -> Result<(), ProbeError> {
        let _ = self.log.send((Seen::Probe, Instant::now()));
        match self.probes.lock().expect("probes").pop_front() {
            Some(false) => Err(ProbeError {
                host: "127.0.0.1".into(),
                port: 554,
                reason: "Connection refused (os error 111)".into(),
            }),
            _ => Ok(()),
        }
    }

    async fn open(&self, _src: &ingest::Source) -> Result<Session, IngestError> {
        let _ = self.log.send((Seen::Open, Instant::now()));
        let attempt = self.attempts.lock().expect("attempts").pop_front();
        match attempt {
            // The script is over: the camera never answers, until the test cancels the loop.
            None => std::future::pending().await,
            Some(Attempt::Fail) => Err(IngestError::NoVideo("audio/PCMU".into())),
            Some(Attempt::Play(steps)) => Ok(Session { steps: steps.into(), n: 0, log: self.log.clone() }),
        }
    }
}

struct Session {
    steps: VecDeque<Step>,
    /// Frames sent so far.
    n: i64,
    log: Log,
}

impl CameraSession for Session {
    fn audio(&self) -> Option<Arc<AudioParams>> {
        None
    }

    async fn next(&mut self) -> Option<Result<Item, IngestError>> {
        match self.steps.pop_front()? {
            Step::Frame(after) => {
                tokio::time::sleep(after).await;
                let _ = self.log.send((Seen::Frame, Instant::now()));
                let n = self.n;
                self.n += 1;
                let nal: &[u8] = if n % GOP == 0 { &[0x65, 0x88] } else { &[0x41, 0x9a] };
                let data = [&2u32.to_be_bytes()[..], nal].concat();
                Some(Ok(Item::Video { params: (n == 0).then(params), pts: n * TICKS, data }))
            }
            Step::End(after) => {
                tokio::time::sleep(after).await;
                None
            }
            Step::Stall => std::future::pending().await,
        }
    }
}

/// Baseline H.264 parameters, as the writer's tests make them.
fn params() -> Arc<VideoParams> {
    writer::tests::params(640, 360)
}

/// The hub's wall clock, moving with tokio's (paused) time.
struct PausedWall {
    start: Instant,
}

impl WallClock for PausedWall {
    fn now_ms(&self) -> i64 {
        BASE_MS + self.start.elapsed().as_millis() as i64
    }
}

/// What one run of the loop did.
struct Run {
    /// What the camera saw, and when (since the loop started).
    seen: Vec<(Seen, Duration)>,
    /// What the loop published on the bus.
    events: Vec<EventKind>,
    /// What the loop gave the writer, batches unpacked.
    inputs: Vec<Input>,
}

impl Run {
    fn times(&self, what: Seen) -> Vec<Duration> {
        self.seen.iter().filter(|(s, _)| *s == what).map(|(_, t)| *t).collect()
    }

    /// The pauses between one session's start and the next's.
    fn gaps(&self) -> Vec<Duration> {
        self.times(Seen::Open).windows(2).map(|w| w[1] - w[0]).collect()
    }

    fn offline_reasons(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                EventKind::CameraOffline { reason } => Some(reason.as_str()),
                _ => None,
            })
            .collect()
    }

    fn onlines(&self) -> usize {
        self.events.iter().filter(|e| **e == EventKind::CameraOnline).count()
    }

    /// The wall times the loop gave each video frame, in order.
    fn walls(&self) -> Vec<i64> {
        self.inputs
            .iter()
            .filter_map(|i| match i {
                Input::Video(f) => Some(f.wall_ms),
                _ => None,
            })
            .collect()
    }

    /// The writer's inputs in short: `start(<gap reason>)`, `video`, `end`.
    fn outline(&self) -> Vec<String> {
        self.inputs
            .iter()
            .map(|i| match i {
                Input::SessionStart { gap_reason, .. } => format!("start({gap_reason})"),
                Input::Video(_) => "video".into(),
                Input::SessionEnd => "end".into(),
                other => format!("{other:?}"),
            })
            .collect()
    }
}

fn source() -> ingest::Source {
    ingest::Source {
        camera: "front".into(),
        url: "rtsp://127.0.0.1:554/stream".parse().expect("url"),
        username: None,
        password: None,
        transport: crate::config::RtspTransport::Tcp,
        stall_timeout: STALL,
    }
}

/// The loop, started against a camera with this script, and what it needs to be watched.
struct Harness {
    start: Instant,
    log: mpsc::UnboundedReceiver<(Seen, Instant)>,
    seen: Vec<(Seen, Duration)>,
    events: crate::bus::Subscriber,
    writer: mpsc::Receiver<Input>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Harness {
    fn start(probes: Vec<bool>, attempts: Vec<Attempt>) -> Self {
        let start = Instant::now();
        let (log_tx, log) = mpsc::unbounded_channel();
        let camera =
            Camera { probes: Mutex::new(probes.into()), attempts: Mutex::new(attempts.into()), log: log_tx };
        let metrics = Metrics::new();
        let bus = Bus::new(1024, metrics.clone());
        let events = bus.subscribe("test");
        let states = CameraStates::default();
        let (tx, writer) = mpsc::channel(4096);
        let feed = ingest::Feed::new(tx, states.live().tap("front"), metrics.clone(), PausedWall { start });
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run_sessions(camera, source(), feed, bus, metrics, states, cancel.clone()));
        Self { start, log, seen: Vec::new(), events, writer, cancel, task }
    }

    /// Waits until the camera has seen `n` session openings in all.
    async fn opens(&mut self, n: usize) {
        let wait = async {
            while self.seen.iter().filter(|(s, _)| *s == Seen::Open).count() < n {
                let (s, t) = self.log.recv().await.expect("the loop holds the camera");
                self.seen.push((s, t - self.start));
            }
        };
        // On paused time a loop that waits for nothing would hang the test: this fails it.
        tokio::time::timeout(Duration::from_secs(3600), wait).await.expect("the loop opened the sessions");
    }

    /// Cancels the loop, waits for it to end, and collects what it did.
    async fn stop(mut self) -> Run {
        self.cancel.cancel();
        (&mut self.task).await.expect("the loop ends");
        self.collect().await
    }

    /// What the loop did, once it has ended.
    async fn collect(mut self) -> Run {
        while let Ok((s, t)) = self.log.try_recv() {
            self.seen.push((s, t - self.start));
        }
        let mut events = Vec::new();
        while let Some(e) = self.events.try_recv() {
            events.push(e.kind.clone());
        }
        let mut inputs = Vec::new();
        while let Some(i) = self.writer.recv().await {
            match i {
                Input::Batch(b) => inputs.extend(b),
                other => inputs.push(other),
            }
        }
        Run { seen: self.seen, events, inputs }
    }
}

/// Runs the loop until the camera's script is over (it has opened every scripted session and
/// the next one, which hangs).
async fn run(probes: Vec<bool>, attempts: Vec<Attempt>) -> Run {
    let n = attempts.len() + 1;
    let mut h = Harness::start(probes, attempts);
    h.opens(n).await;
    h.stop().await
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Whether `d` is `base` give or take the backoff's 20 % jitter.
fn about(d: Duration, base: Duration) -> bool {
    d >= base * 8 / 10 && d <= base * 12 / 10
}

#[tokio::test(start_paused = true)]
async fn a_camera_that_streamed_and_dropped_is_tried_again_within_two_seconds() {
    let r = run(
        vec![],
        vec![
            Attempt::Play(frames(30, Duration::from_millis(100))),
            Attempt::Play(vec![Step::Frame(Duration::from_millis(100)), Step::Stall]),
        ],
    )
    .await;
    let opens = r.times(Seen::Open);
    let dropped = r.times(Seen::Frame)[29];
    assert!(
        opens[1] >= dropped && opens[1] - dropped < Duration::from_secs(2),
        "{opens:?}, dropped at {dropped:?}"
    );
    assert_eq!(
        r.events[..2],
        [EventKind::CameraOnline, EventKind::CameraOffline { reason: "the camera ended the stream".into() }]
    );
    let mut expected = vec!["start(recorder was not running)".to_owned()];
    expected.extend(std::iter::repeat_n("video".to_owned(), 30));
    expected.push("end".into());
    expected.push("start(camera offline: the camera ended the stream)".into());
    expected.push("video".into());
    expected.push("end".into());
    // The third session never opens: cancelled, it ends all the same.
    expected.push("end".into());
    assert_eq!(r.outline(), expected);
}

#[tokio::test(start_paused = true)]
async fn sessions_that_fail_without_a_frame_back_off_from_one_second_doubling_to_thirty() {
    let r = run(vec![], (0..8).map(|_| Attempt::Fail).collect()).await;
    let gaps = r.gaps();
    for (gap, base) in gaps.iter().zip([1, 2, 4, 8, 16, 30, 30, 30]) {
        assert!(about(*gap, Duration::from_secs(base)), "{base} s expected: {gaps:?}");
    }
    assert_eq!(gaps.len(), 8);
    // One outage, announced once; the gap names the last reason.
    assert_eq!(r.offline_reasons(), ["the camera offers no H.264 or H.265 video (streams: audio/PCMU)"]);
    assert_eq!(r.onlines(), 0);
    assert!(r.outline().iter().all(|i| i == "end"), "no frames, only the ends: {:?}", r.outline());
}

#[tokio::test(start_paused = true)]
async fn a_session_that_streamed_resets_the_backoff() {
    let r = run(
        vec![],
        vec![
            Attempt::Fail,
            Attempt::Fail,
            Attempt::Fail,
            Attempt::Play(frames(5, Duration::from_millis(100))),
            Attempt::Fail,
            Attempt::Fail,
        ],
    )
    .await;
    let gaps = r.gaps();
    assert!(about(gaps[2], Duration::from_secs(4)), "backing off before the session that streams: {gaps:?}");
    // It streamed for half a second: the next start waits out the spacing only.
    assert_eq!(ms(gaps[3]), ms(MIN_SESSION_SPACING), "{gaps:?}");
    // The failure after it is the first of a new run: about 1 s, not 8 s.
    assert!(gaps[4] >= MIN_SESSION_SPACING && gaps[4] <= Duration::from_millis(1200), "{gaps:?}");
    assert!(about(gaps[5], Duration::from_secs(2)), "{gaps:?}");
    assert_eq!(r.onlines(), 1);
    assert_eq!(r.offline_reasons().len(), 2, "{:?}", r.events);
}

#[tokio::test(start_paused = true)]
async fn sessions_start_at_most_once_a_second() {
    // Each session streams one frame and drops at once: no backoff, only the spacing.
    let r = run(vec![], (0..5).map(|_| Attempt::Play(vec![Step::Frame(Duration::ZERO)])).collect()).await;
    let gaps = r.gaps();
    assert_eq!(gaps.len(), 5);
    for gap in &gaps {
        assert!(
            *gap >= MIN_SESSION_SPACING && *gap < MIN_SESSION_SPACING + Duration::from_millis(5),
            "{gaps:?}"
        );
    }
    assert_eq!(r.onlines(), 5);
    assert_eq!(r.offline_reasons(), ["the camera ended the stream"; 5]);
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_stalls_ends_the_session_and_reconnects() {
    let mut steps = vec![Step::Frame(Duration::from_millis(100)); 3];
    steps.push(Step::Stall);
    let r = run(vec![], vec![Attempt::Play(steps)]).await;
    let last_frame = r.times(Seen::Frame)[2];
    let reopened = r.times(Seen::Open)[1];
    // The stall timeout after the last frame, then at once (the session had streamed).
    assert_eq!(ms(reopened - last_frame), ms(STALL), "{:?}", r.seen);
    assert_eq!(r.offline_reasons(), ["no media for 10s"]);
    // The second session never opens: cancelled, it ends all the same.
    assert_eq!(r.outline(), ["start(recorder was not running)", "video", "video", "video", "end", "end"]);
}

#[tokio::test(start_paused = true)]
async fn cancelling_during_a_backoff_wait_returns_at_once() {
    let mut h = Harness::start(vec![], (0..5).map(|_| Attempt::Fail).collect());
    h.opens(5).await;
    // The fifth failure: about 16 s of backoff. One second into it, the camera task is stopped.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cancelled = Instant::now();
    h.cancel.cancel();
    (&mut h.task).await.expect("the loop ends");
    // On paused time the clock moves only when every task waits: a loop that slept out its
    // backoff would have moved it.
    assert_eq!(Instant::now(), cancelled, "the loop returned without waiting out its pause");
    let r = h.collect().await;
    assert_eq!(r.times(Seen::Open).len(), 5, "no session after the cancel: {:?}", r.seen);
}

#[tokio::test(start_paused = true)]
async fn while_the_port_refuses_it_is_probed_every_half_second_and_reported_offline_once() {
    let r = run(vec![false, false, false, false], vec![]).await;
    let probes = r.times(Seen::Probe);
    assert_eq!(probes.len(), 5, "{:?}", r.seen);
    for w in probes.windows(2) {
        assert_eq!(ms(w[1] - w[0]), ms(PROBE_INTERVAL), "{probes:?}");
    }
    assert_eq!(r.times(Seen::Open), [probes[4]], "a session as soon as the port accepts");
    assert_eq!(r.offline_reasons(), ["cannot connect to 127.0.0.1:554: Connection refused (os error 111)"]);
}

#[tokio::test(start_paused = true)]
async fn frames_that_fall_more_than_half_a_second_behind_are_placed_at_their_arrival() {
    // Four frames on time (10 fps), then frames 300 ms apart: an encoder short of CPU, each
    // frame 200 ms later than its timestamp says.
    let mut steps = vec![Step::Frame(Duration::from_millis(100)); 4];
    steps.extend([Step::Frame(Duration::from_millis(300)); 6]);
    steps.push(Step::End(Duration::ZERO));
    let r = run(vec![], vec![Attempt::Play(steps)]).await;
    let first = r.times(Seen::Frame)[0];
    let arrivals: Vec<u128> = r.times(Seen::Frame).iter().map(|t| ms(*t - first)).collect();
    assert_eq!(arrivals, [0, 100, 200, 300, 600, 900, 1200, 1500, 1800, 2100]);
    let base = BASE_MS + ms(first) as i64;
    let walls: Vec<i64> = r.walls().iter().map(|w| w - base).collect();
    // The stream's own clock while it is at most 500 ms behind; the arrival when it is more
    // (600 ms at the 7th and 10th frame), and the stream's clock from there on.
    assert_eq!(walls, [0, 100, 200, 300, 400, 500, 1200, 1300, 1400, 2100]);
}

#[tokio::test(start_paused = true)]
async fn a_stream_more_than_two_seconds_ahead_of_the_hub_is_re_anchored() {
    // 22 frames of a 10 fps stream in one burst: the last is 2.1 s ahead of the hub's clock.
    let mut steps = vec![Step::Frame(Duration::ZERO); 22];
    steps.push(Step::End(Duration::ZERO));
    let r = run(vec![], vec![Attempt::Play(steps)]).await;
    let first = r.times(Seen::Frame)[0];
    let base = BASE_MS + ms(first) as i64;
    let walls: Vec<i64> = r.walls().iter().map(|w| w - base).collect();
    let mut expected: Vec<i64> = (0..=20).map(|i| i * 100).collect();
    expected.push(0);
    assert_eq!(walls, expected);
}
