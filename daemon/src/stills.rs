//! Still images of the cameras, decoded on demand from a keyframe: the camera's latest one
//! (from its live tap, `recording/live.rs`) or, for a moment in the past, the recorded keyframe
//! at or before it (from the segment files). Used by the API (`GET /api/cameras/{name}/still`),
//! the `mqtt` task (Home Assistant's camera entity) and the relay (snapshots of cameras without
//! ONVIF).
//!
//! Decoding is done by the `ffmpeg` program (`[stills] ffmpeg`): the keyframe goes in on stdin
//! as an Annex B elementary stream (the parameter sets of the sample entry's `avcC`/`hvcC`,
//! then the frame's NAL units, each behind a start code), one JPEG comes out on stdout. Nothing
//! is decoded per frame; only when a still is asked for, at most [`MAX_DECODES`] at once, each
//! within [`DECODE_TIMEOUT`] (the child is killed when it runs over or its caller goes away).
//! The last JPEG of each (camera, keyframe, width) is kept, so asking again for the same
//! keyframe decodes nothing.

use std::collections::VecDeque;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::body::Bytes;
use shiguredo_mp4::TrackKind;
use shiguredo_mp4::boxes::SampleEntry;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, watch};

use crate::config::Settings;
use crate::recording::CameraStates;
use crate::recording::index::{Index, IndexError};
use crate::recording::live::LiveFrame;
use crate::recording::mp4read::{self, ReadError};

/// The narrowest and widest still that can be asked for, in pixels.
pub const MIN_WIDTH: u32 = 64;
pub const MAX_WIDTH: u32 = 3840;
/// Decodes running at once; more wait for a turn.
pub const MAX_DECODES: usize = 2;
/// The longest one decode may take (and the longest a still waits for its turn).
pub const DECODE_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JPEG taken from ffmpeg.
pub const MAX_JPEG_BYTES: usize = 8 << 20;
/// The largest keyframe given to ffmpeg.
const MAX_KEYFRAME_BYTES: usize = 32 << 20;
/// Stills kept (the newest; older ones are decoded again if asked for).
const CACHE_ENTRIES: usize = 64;
/// A recorded still is the keyframe at or before the asked time, at most this much before it.
pub const RECORDED_LOOKBACK_MS: i64 = 5 * 60 * 1000;
/// The end of ffmpeg's error output kept for the message.
const STDERR_TAIL: usize = 1024;

/// A still image.
#[derive(Debug, Clone)]
pub struct Still {
    pub jpeg: Bytes,
    /// When the keyframe it shows was taken (the hub's wall clock).
    pub at: jiff::Timestamp,
}

/// Why there is no still.
#[derive(Debug, thiserror::Error)]
pub enum StillError {
    #[error("no camera named {0:?}")]
    NoSuchCamera(String),
    #[error("width {0} is outside {MIN_WIDTH}..={MAX_WIDTH}")]
    Width(u32),
    #[error("camera {camera:?} has no picture yet: {why}")]
    NoPicture { camera: String, why: String },
    #[error("camera {camera:?}: recordings are not available (the recording index did not open)")]
    NoIndex { camera: String },
    #[error("camera {camera:?}: cannot read the recording: {source}")]
    Recording {
        camera: String,
        #[source]
        source: RecordingError,
    },
    #[error("camera {camera:?}: cannot decode a still: {source}")]
    Decode {
        camera: String,
        #[source]
        source: DecodeError,
    },
}

/// Why a recorded keyframe could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the keyframe at byte {offset} of {} has no sample entry before it", path.display())]
    NoEntry { path: PathBuf, offset: u64 },
    #[error("the reading task failed: {0}")]
    Task(String),
}

/// Why ffmpeg gave no image.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "the ffmpeg program {} cannot be run ({source}); install ffmpeg or set `stills.ffmpeg` to its path",
        program.display()
    )]
    Missing { program: PathBuf, source: std::io::Error },
    #[error("the stream is neither H.264 nor H.265 (sample entry {0})")]
    Codec(String),
    #[error("the keyframe is malformed: {0}")]
    Malformed(&'static str),
    #[error("the keyframe is {0} bytes, more than ffmpeg is given")]
    TooBig(usize),
    #[error("{MAX_DECODES} stills were being decoded and none finished within {0:?}")]
    Busy(Duration),
    #[error("ffmpeg did not finish within {0:?}")]
    Timeout(Duration),
    #[error("ffmpeg failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("ffmpeg gave no image ({stderr})")]
    Empty { stderr: String },
    #[error("ffmpeg's image is larger than {MAX_JPEG_BYTES} bytes")]
    TooLarge,
    #[error("talking to ffmpeg failed: {0}")]
    Io(#[source] std::io::Error),
}

/// Which keyframe a still shows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// A live keyframe, told apart by when it arrived and its presentation time.
    Live { at: jiff::Timestamp, pts: i64 },
    /// A recorded keyframe: its segment and where its bytes are.
    Recorded { segment: i64, offset: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    camera: String,
    source: Source,
    width: Option<u32>,
}

/// The still-image service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Stills {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: watch::Receiver<Arc<Settings>>,
    cameras: CameraStates,
    index: Option<Index>,
    decodes: Semaphore,
    cache: Mutex<VecDeque<(Key, Still)>>,
}

/// A recorded keyframe found in the segment files.
struct Located {
    segment: i64,
    path: PathBuf,
    offset: u64,
    size: usize,
    entry: SampleEntry,
    at_ms: i64,
}

impl Stills {
    pub fn new(
        settings: watch::Receiver<Arc<Settings>>,
        cameras: CameraStates,
        index: Option<Index>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                cameras,
                index,
                decodes: Semaphore::new(MAX_DECODES),
                cache: Mutex::new(VecDeque::new()),
            }),
        }
    }

    /// A still of `camera`: its latest keyframe, or with `at` the recorded keyframe at or
    /// before that time; scaled to `width` pixels wide (aspect kept) if given.
    pub async fn still(
        &self,
        camera: &str,
        at: Option<jiff::Timestamp>,
        width: Option<u32>,
    ) -> Result<Still, StillError> {
        if let Some(w) = width
            && !(MIN_WIDTH..=MAX_WIDTH).contains(&w)
        {
            return Err(StillError::Width(w));
        }
        if self.inner.settings.borrow().camera(camera).is_none() {
            return Err(StillError::NoSuchCamera(camera.to_owned()));
        }
        match at {
            None => self.latest(camera, width).await,
            Some(at) => self.recorded(camera, at, width).await,
        }
    }

    async fn latest(&self, camera: &str, width: Option<u32>) -> Result<Still, StillError> {
        let no_picture = |why: &str| StillError::NoPicture { camera: camera.to_owned(), why: why.to_owned() };
        let key = self
            .inner
            .cameras
            .live()
            .latest_keyframe(camera)
            .ok_or_else(|| no_picture("no keyframe has come from its stream since the hub started"))?;
        let LiveFrame::Video { pts, data, .. } = key.data.as_ref() else {
            return Err(no_picture("its latest keyframe is not video"));
        };
        let id = Key { camera: camera.to_owned(), source: Source::Live { at: key.at, pts: *pts }, width };
        if let Some(s) = self.cached(&id) {
            return Ok(s);
        }
        let jpeg = self.decode(camera, &key.params.sample_entry, data, width).await?;
        Ok(self.keep(id, Still { jpeg, at: key.at }))
    }

    async fn recorded(
        &self,
        camera: &str,
        at: jiff::Timestamp,
        width: Option<u32>,
    ) -> Result<Still, StillError> {
        let Some(index) = self.inner.index.clone() else {
            return Err(StillError::NoIndex { camera: camera.to_owned() });
        };
        let recording = |source| StillError::Recording { camera: camera.to_owned(), source };
        let at_ms = at.as_millisecond();
        let name = camera.to_owned();
        let found = tokio::task::spawn_blocking(move || locate(&index, &name, at_ms))
            .await
            .map_err(|e| recording(RecordingError::Task(e.to_string())))?
            .map_err(recording)?;
        let Some(found) = found else {
            return Err(StillError::NoPicture {
                camera: camera.to_owned(),
                why: format!("nothing was recorded in the {} s up to {at}", RECORDED_LOOKBACK_MS / 1000),
            });
        };
        let id = Key {
            camera: camera.to_owned(),
            source: Source::Recorded { segment: found.segment, offset: found.offset },
            width,
        };
        if let Some(s) = self.cached(&id) {
            return Ok(s);
        }
        let (path, offset, size) = (found.path.clone(), found.offset, found.size);
        let data = tokio::task::spawn_blocking(move || read_at(&path, offset, size))
            .await
            .map_err(|e| recording(RecordingError::Task(e.to_string())))?
            .map_err(recording)?;
        let jpeg = self.decode(camera, &found.entry, &data, width).await?;
        let at = jiff::Timestamp::from_millisecond(found.at_ms).unwrap_or(at);
        Ok(self.keep(id, Still { jpeg, at }))
    }

    async fn decode(
        &self,
        camera: &str,
        entry: &SampleEntry,
        au: &[u8],
        width: Option<u32>,
    ) -> Result<Bytes, StillError> {
        let failed = |source| StillError::Decode { camera: camera.to_owned(), source };
        let program = self.inner.settings.borrow().stills.ffmpeg.clone();
        let (format, stream) = annex_b(entry, au).map_err(failed)?;
        let _turn = tokio::time::timeout(DECODE_TIMEOUT, self.inner.decodes.acquire())
            .await
            .map_err(|_| failed(DecodeError::Busy(DECODE_TIMEOUT)))?
            .map_err(|_| failed(DecodeError::Busy(DECODE_TIMEOUT)))?;
        let jpeg = decode_jpeg(&program, format, stream, width, DECODE_TIMEOUT).await.map_err(failed)?;
        Ok(Bytes::from(jpeg))
    }

    fn cached(&self, key: &Key) -> Option<Still> {
        let cache = self.inner.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.iter().find(|(k, _)| k == key).map(|(_, s)| s.clone())
    }

    /// Keeps a still: it replaces older live stills of the same camera and width (a newer
    /// keyframe came), and the oldest go when the cache is full.
    fn keep(&self, key: Key, still: Still) -> Still {
        let mut cache = self.inner.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(key.source, Source::Live { .. }) {
            cache.retain(|(k, _)| {
                !(k.camera == key.camera && k.width == key.width && matches!(k.source, Source::Live { .. }))
            });
        }
        cache.retain(|(k, _)| k != &key);
        while cache.len() >= CACHE_ENTRIES {
            cache.pop_front();
        }
        cache.push_back((key, still.clone()));
        still
    }
}

/// The recorded video keyframe of `camera` at or before `at_ms` (at most
/// [`RECORDED_LOOKBACK_MS`] before it), with the sample entry in force for it.
fn locate(index: &Index, camera: &str, at_ms: i64) -> Result<Option<Located>, RecordingError> {
    let floor = at_ms.saturating_sub(RECORDED_LOOKBACK_MS);
    let segments = index.segments(Some(camera), floor, at_ms.saturating_add(1))?;
    // The latest segment first: the keyframe wanted is in the newest one that has any.
    for seg in segments.iter().rev() {
        let mut entry: Option<SampleEntry> = None;
        let mut best: Option<Located> = None;
        for s in mp4read::samples(&seg.path)? {
            if s.kind != TrackKind::Video {
                continue;
            }
            if let Some(e) = s.sample_entry {
                entry = Some(e);
            }
            let wall_ms = seg.start_ms
                + i64::try_from(s.timestamp * 1000 / u64::from(s.timescale.max(1))).unwrap_or(i64::MAX);
            if wall_ms > at_ms {
                break;
            }
            if s.keyframe && wall_ms >= floor {
                let entry = entry.clone().ok_or_else(|| RecordingError::NoEntry {
                    path: seg.path.clone(),
                    offset: s.data_offset,
                })?;
                best = Some(Located {
                    segment: seg.id,
                    path: seg.path.clone(),
                    offset: s.data_offset,
                    size: s.data_size,
                    entry,
                    at_ms: wall_ms,
                });
            }
        }
        if best.is_some() {
            return Ok(best);
        }
    }
    Ok(None)
}

/// Reads one sample's bytes.
fn read_at(path: &Path, offset: u64, size: usize) -> Result<Vec<u8>, RecordingError> {
    let io = |source| RecordingError::Io { path: path.to_owned(), source };
    if size > MAX_KEYFRAME_BYTES {
        return Err(io(std::io::Error::other(format!("a keyframe of {size} bytes is too large"))));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let mut buf = vec![0; size];
    file.read_exact_at(&mut buf, offset).map_err(io)?;
    Ok(buf)
}

/// ffmpeg's name of the elementary stream format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    H264,
    Hevc,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Self::H264 => "h264",
            Self::Hevc => "hevc",
        }
    }
}

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// One access unit as an Annex B elementary stream: the parameter sets of the sample entry,
/// then the access unit's NAL units (length-prefixed as the entry says), each after a start
/// code.
pub fn annex_b(entry: &SampleEntry, au: &[u8]) -> Result<(Format, Vec<u8>), DecodeError> {
    let (format, length_size, params): (Format, usize, Vec<&[u8]>) = match entry {
        SampleEntry::Avc1(b) => {
            let c = &b.avcc_box;
            let sets = c.sps_list.iter().chain(&c.pps_list).map(Vec::as_slice).collect();
            (Format::H264, usize::from(c.length_size_minus_one.get()) + 1, sets)
        }
        SampleEntry::Hev1(b) => {
            let c = &b.hvcc_box;
            let sets = c.nalu_arrays.iter().flat_map(|a| &a.nalus).map(Vec::as_slice).collect();
            (Format::Hevc, usize::from(c.length_size_minus_one.get()) + 1, sets)
        }
        SampleEntry::Hvc1(b) => {
            let c = &b.hvcc_box;
            let sets = c.nalu_arrays.iter().flat_map(|a| &a.nalus).map(Vec::as_slice).collect();
            (Format::Hevc, usize::from(c.length_size_minus_one.get()) + 1, sets)
        }
        other => {
            use shiguredo_mp4::BaseBox;
            return Err(DecodeError::Codec(other.box_type().to_string()));
        }
    };
    if au.len() > MAX_KEYFRAME_BYTES {
        return Err(DecodeError::TooBig(au.len()));
    }
    let mut out = Vec::with_capacity(au.len() + 256);
    for p in params {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(p);
    }
    let mut rest = au;
    let mut units = 0;
    while !rest.is_empty() {
        if rest.len() < length_size {
            return Err(DecodeError::Malformed("a NAL unit's length is cut off"));
        }
        let len = rest[..length_size].iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
        let Some(nal) = rest.get(length_size..length_size + len) else {
            return Err(DecodeError::Malformed("a NAL unit is longer than the frame"));
        };
        if !nal.is_empty() {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
            units += 1;
        }
        rest = &rest[length_size + len..];
    }
    if units == 0 {
        return Err(DecodeError::Malformed("the frame has no NAL units"));
    }
    Ok((format, out))
}

/// Runs `program` (ffmpeg) on one Annex B access unit and returns the JPEG it makes, scaled to
/// `width` (even height, aspect kept) if given. The child is killed when `timeout` passes or
/// the future is dropped.
pub async fn decode_jpeg(
    program: &Path,
    format: Format,
    stream: Vec<u8>,
    width: Option<u32>,
    timeout: Duration,
) -> Result<Vec<u8>, DecodeError> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(["-hide_banner", "-nostats", "-loglevel", "error", "-threads", "1", "-f", format.name()])
        .args(["-i", "pipe:0", "-frames:v", "1", "-an"]);
    if let Some(w) = width {
        cmd.arg("-vf").arg(format!("scale={w}:-2"));
    }
    cmd.args(["-pix_fmt", "yuvj420p", "-c:v", "mjpeg", "-q:v", "4", "-f", "image2pipe", "pipe:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let run = async {
        let mut child = cmd.spawn().map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                DecodeError::Missing { program: program.to_owned(), source }
            }
            _ => DecodeError::Io(source),
        })?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(DecodeError::Io(std::io::Error::other("the child's pipes are missing")));
        };
        let write = async move {
            // ffmpeg may stop reading early (a broken pipe); its exit status tells what happened.
            let _ = stdin.write_all(&stream).await;
            drop(stdin);
        };
        let mut jpeg = Vec::new();
        let read = async { stdout.take(MAX_JPEG_BYTES as u64 + 1).read_to_end(&mut jpeg).await };
        let ((), read, stderr) = tokio::join!(write, read, tail(stderr));
        read.map_err(DecodeError::Io)?;
        if jpeg.len() > MAX_JPEG_BYTES {
            return Err(DecodeError::TooLarge);
        }
        let status = child.wait().await.map_err(DecodeError::Io)?;
        let stderr = stderr.trim().to_owned();
        if !status.success() {
            return Err(DecodeError::Failed { status: status.to_string(), stderr });
        }
        if !jpeg.starts_with(&[0xFF, 0xD8]) {
            return Err(DecodeError::Empty { stderr });
        }
        Ok(jpeg)
    };
    tokio::time::timeout(timeout, run).await.map_err(|_| DecodeError::Timeout(timeout))?
}

/// Reads `r` to its end, keeping the last [`STDERR_TAIL`] bytes as text.
async fn tail(mut r: impl AsyncRead + Unpin) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > STDERR_TAIL {
            kept.drain(..kept.len() - STDERR_TAIL);
        }
    }
    String::from_utf8_lossy(&kept).replace('\n', "; ")
}

/// The width and height in a JPEG's frame header (SOF0..SOF15 but DHT, JPG and DAC), if it has
/// one.
pub fn jpeg_size(jpeg: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    while i + 4 <= jpeg.len() {
        if jpeg[i] != 0xFF {
            return None;
        }
        let marker = jpeg[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let h = jpeg.get(i + 5..i + 7)?;
            let w = jpeg.get(i + 7..i + 9)?;
            return Some((
                u32::from(u16::from_be_bytes([w[0], w[1]])),
                u32::from(u16::from_be_bytes([h[0], h[1]])),
            ));
        }
        i += 2 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::frames::{VideoCodec, VideoParams};

    /// A short fragmented MP4 made by ffmpeg (`codec` is its encoder), 640x360.
    fn encoded(dir: &Path, codec: &str) -> PathBuf {
        let out = dir.join(format!("{codec}.mp4"));
        let mut cmd = std::process::Command::new("ffmpeg");
        cmd.args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=640x360:rate=25",
        ])
        .args(["-frames:v", "3", "-pix_fmt", "yuv420p", "-c:v", codec]);
        if codec == "libx265" {
            cmd.args(["-tag:v", "hvc1", "-x265-params", "log-level=error"]);
        }
        cmd.args(["-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4"]).arg(&out);
        let status = cmd.status().expect("ffmpeg runs");
        assert!(status.success(), "ffmpeg made {codec}");
        out
    }

    /// The file's first video keyframe: its sample entry and its bytes (length-prefixed).
    fn first_keyframe(path: &Path) -> (SampleEntry, Vec<u8>) {
        let samples = mp4read::samples(path).expect("demuxed");
        let s = samples.iter().find(|s| s.kind == TrackKind::Video && s.keyframe).expect("a keyframe");
        let entry = s.sample_entry.clone().expect("the first sample has the entry");
        (entry, read_at(path, s.data_offset, s.data_size).expect("read"))
    }

    fn settings(ffmpeg: &str) -> Arc<Settings> {
        let text = format!(
            "[hub]\ndata_dir = \"/tmp/x\"\n[stills]\nffmpeg = \"{ffmpeg}\"\n\
             [[camera]]\nname = \"door\"\nrtsp_url = \"rtsp://127.0.0.1:9/a\"\n"
        );
        let env = crate::config::Env::from_pairs([("HOME", "/tmp")]);
        Arc::new(crate::config::parse(Path::new("/tmp/c.toml"), text, &env).expect("config"))
    }

    fn offer_keyframe(cameras: &CameraStates, entry: SampleEntry, data: Vec<u8>, pts: i64) {
        let params = Arc::new(VideoParams {
            sample_entry: entry,
            codec: "avc1.640020".into(),
            width: 640,
            height: 360,
            clock_rate: 90_000,
            kind: VideoCodec::H264,
        });
        cameras.live().tap("door").offer(LiveFrame::Video {
            params,
            pts,
            at: jiff::Timestamp::now(),
            keyframe: true,
            data,
            audio: None,
        });
    }

    #[tokio::test]
    async fn h264_and_h265_keyframes_decode_to_jpeg_at_their_size_or_the_asked_width() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (codec, format) in [("libx264", Format::H264), ("libx265", Format::Hevc)] {
            let (entry, au) = first_keyframe(&encoded(dir.path(), codec));
            let (f, stream) = annex_b(&entry, &au).expect("annex b");
            assert_eq!(f, format);
            assert!(stream.starts_with(&START_CODE), "{codec}: starts with a start code");
            let full = decode_jpeg(Path::new("ffmpeg"), f, stream.clone(), None, DECODE_TIMEOUT)
                .await
                .unwrap_or_else(|e| panic!("{codec}: {e}"));
            assert_eq!(jpeg_size(&full), Some((640, 360)), "{codec}");
            let small = decode_jpeg(Path::new("ffmpeg"), f, stream, Some(160), DECODE_TIMEOUT)
                .await
                .unwrap_or_else(|e| panic!("{codec}: {e}"));
            assert_eq!(jpeg_size(&small), Some((160, 90)), "{codec}");
        }
    }

    #[test]
    fn the_parameter_sets_go_first_and_each_nal_unit_gets_a_start_code() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (entry, au) = first_keyframe(&encoded(dir.path(), "libx264"));
        let SampleEntry::Avc1(avc1) = &entry else { panic!("avc1") };
        let (_, stream) = annex_b(&entry, &au).expect("annex b");
        let sps = &avc1.avcc_box.sps_list[0];
        assert_eq!(&stream[4..4 + sps.len()], sps.as_slice());
        // Every length prefix became a start code: as many start codes as parameter sets plus
        // NAL units, and the stream is the frame's size plus the parameter sets.
        let mut units = 0;
        let mut rest = au.as_slice();
        while rest.len() >= 4 {
            let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            units += 1;
            rest = &rest[4 + n..];
        }
        let sets = avc1.avcc_box.sps_list.len() + avc1.avcc_box.pps_list.len();
        let params: usize = avc1.avcc_box.sps_list.iter().chain(&avc1.avcc_box.pps_list).map(Vec::len).sum();
        assert_eq!(stream.len(), au.len() + params + 4 * sets);
        assert!(units >= 1);
        assert!(matches!(annex_b(&entry, &[0, 0, 0, 9, 0x65]), Err(DecodeError::Malformed(_))));
        assert!(matches!(annex_b(&entry, &[0, 0]), Err(DecodeError::Malformed(_))));
        assert!(matches!(annex_b(&entry, &[]), Err(DecodeError::Malformed(_))));
    }

    #[tokio::test]
    async fn a_still_of_the_same_keyframe_is_decoded_once_and_a_missing_ffmpeg_names_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (entry, au) = first_keyframe(&encoded(dir.path(), "libx264"));
        let (tx, rx) = watch::channel(settings("ffmpeg"));
        let cameras = CameraStates::default();
        let stills = Stills::new(rx, cameras.clone(), None);
        match stills.still("door", None, None).await {
            Err(StillError::NoPicture { camera, .. }) => assert_eq!(camera, "door"),
            other => panic!("no keyframe yet: {other:?}"),
        }
        assert!(matches!(stills.still("gate", None, None).await, Err(StillError::NoSuchCamera(_))));
        assert!(matches!(stills.still("door", None, Some(63)).await, Err(StillError::Width(63))));
        assert!(matches!(stills.still("door", None, Some(3841)).await, Err(StillError::Width(3841))));

        offer_keyframe(&cameras, entry.clone(), au.clone(), 0);
        let first = stills.still("door", None, Some(320)).await.expect("a still");
        assert_eq!(jpeg_size(&first.jpeg), Some((320, 180)));

        // Without a usable ffmpeg, the same keyframe at the same width still comes (kept), but
        // anything new to decode fails and says which key to set.
        tx.send_replace(settings(&dir.path().join("no-ffmpeg").display().to_string()));
        let again = stills.still("door", None, Some(320)).await.expect("kept");
        assert_eq!(again.jpeg, first.jpeg);
        let err = stills.still("door", None, Some(200)).await.expect_err("not decoded");
        let text = err.to_string();
        assert!(text.contains("door") && text.contains("`stills.ffmpeg`"), "{text}");

        // A new keyframe is decoded again.
        offer_keyframe(&cameras, entry, au, 90_000);
        assert!(stills.still("door", None, Some(320)).await.is_err(), "the new keyframe needs ffmpeg");
        tx.send_replace(settings("ffmpeg"));
        let newer = stills.still("door", None, Some(320)).await.expect("a still");
        assert!(newer.at >= first.at);
    }

    #[tokio::test]
    async fn ffmpeg_that_hangs_is_stopped_and_one_that_fails_says_why() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let (entry, au) = first_keyframe(&encoded(dir.path(), "libx264"));
        let (f, stream) = annex_b(&entry, &au).expect("annex b");
        let hang = dir.path().join("hang.sh");
        std::fs::write(&hang, "#!/bin/sh\nexec sleep 30\n").expect("script");
        std::fs::set_permissions(&hang, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let r = decode_jpeg(&hang, f, stream.clone(), None, Duration::from_millis(300)).await;
        assert!(matches!(r, Err(DecodeError::Timeout(_))), "{r:?}");

        // H.264 bytes read as H.265: ffmpeg fails, and its own words are in the error.
        let r = decode_jpeg(
            Path::new("ffmpeg"),
            Format::Hevc,
            vec![0, 0, 0, 1, 0xff, 0xff],
            None,
            DECODE_TIMEOUT,
        )
        .await;
        match r {
            Err(DecodeError::Failed { stderr, .. } | DecodeError::Empty { stderr }) => {
                assert!(!stderr.is_empty(), "ffmpeg said something");
            }
            other => panic!("garbage decodes to nothing: {other:?}"),
        }
    }

    #[test]
    fn jpeg_size_reads_the_frame_header_not_the_huffman_tables() {
        // SOI, DHT (C4, must be skipped), SOF2 with height 90, width 160.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC2, 0x00, 0x0B, 0x08, 0x00, 0x5A, 0x00,
            0xA0, 0x01, 0x01, 0x11, 0x00,
        ];
        assert_eq!(jpeg_size(&jpeg), Some((160, 90)));
        assert_eq!(jpeg_size(b"\x89PNG"), None);
        assert_eq!(jpeg_size(&[0xFF, 0xD8, 0xFF, 0xD9]), None);
    }
}
