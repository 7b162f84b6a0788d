//! Still-image latency (`cargo bench -p porchlight-e2e --bench stills`): one keyframe of a
//! 640x360 stream (H.264, and H.265 for comparison) decoded to JPEG by the `ffmpeg` program the
//! way the hub does it (`porchlight::stills`: Annex B on stdin, one JPEG on stdout), at full size
//! and scaled to 320 wide as the web app asks; and the same still asked again, which the hub
//! serves from memory. Goal: ≤ 50 ms for 640x360 H.264. Results: docs/benchmarks.md.

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use porchlight::recording::CameraStates;
use porchlight::recording::frames::{VideoCodec, VideoParams};
use porchlight::recording::live::LiveFrame;
use porchlight::recording::mp4read;
use porchlight::stills::{self, DECODE_TIMEOUT, Stills};
use shiguredo_mp4::TrackKind;
use shiguredo_mp4::boxes::SampleEntry;

/// Stills timed for the percentiles.
const RUNS: usize = 100;

/// A 640x360 clip made by ffmpeg (`codec` is its encoder), as fragmented MP4.
fn clip(dir: &Path, codec: &str) -> PathBuf {
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
        "testsrc2=size=640x360:rate=25",
    ])
    .args(["-frames:v", "5", "-pix_fmt", "yuv420p", "-c:v", codec]);
    if codec == "libx265" {
        cmd.args(["-tag:v", "hvc1", "-x265-params", "log-level=error"]);
    }
    cmd.args(["-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4"]).arg(&out);
    assert!(cmd.status().expect("ffmpeg").success(), "ffmpeg made the {codec} clip");
    out
}

/// The clip's first keyframe: its sample entry and bytes.
fn keyframe(path: &Path) -> (SampleEntry, Vec<u8>) {
    let samples = mp4read::samples(path).expect("demux");
    let s = samples.iter().find(|s| s.kind == TrackKind::Video && s.keyframe).expect("a keyframe");
    let data = std::fs::read(path).expect("read clip");
    let at = usize::try_from(s.data_offset).expect("offset");
    (s.sample_entry.clone().expect("entry"), data[at..at + s.data_size].to_vec())
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "{what}, {} runs: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
    );
}

fn bench(c: &mut Criterion) {
    if !porchlight_e2e::media::available() {
        return;
    }
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let ffmpeg = Path::new("ffmpeg");
    let mut group = c.benchmark_group("stills");
    group.sample_size(20);
    for (codec, name) in [("libx264", "H.264"), ("libx265", "H.265")] {
        let (entry, au) = keyframe(&clip(dir.path(), codec));
        let (format, stream) = stills::annex_b(&entry, &au).expect("annex b");
        for width in [None, Some(320)] {
            let label = format!(
                "{name} 640x360 keyframe ({} bytes) to JPEG, {}",
                au.len(),
                width.map_or("full size".to_owned(), |w| format!("{w} wide"))
            );
            let once = || {
                let t0 = Instant::now();
                let jpeg = rt
                    .block_on(stills::decode_jpeg(ffmpeg, format, stream.clone(), width, DECODE_TIMEOUT))
                    .expect("decoded");
                assert!(jpeg.starts_with(&[0xFF, 0xD8]));
                t0.elapsed()
            };
            report(&label, (0..RUNS).map(|_| once()).collect());
            group.bench_function(&label, |b| b.iter_custom(|iters| (0..iters).map(|_| once()).sum()));
        }
    }

    // The same keyframe asked for again: served from memory.
    let (entry, au) = keyframe(&clip(dir.path(), "libx264"));
    let text = "[hub]\ndata_dir = \"/tmp/porchlight-bench\"\n[[camera]]\nname = \"door\"\nrtsp_url = \"rtsp://127.0.0.1:9/a\"\n";
    let env = porchlight::config::Env::from_pairs([("HOME", "/tmp")]);
    let settings =
        porchlight::config::parse(Path::new("/tmp/c.toml"), text.to_owned(), &env).expect("config");
    let (_tx, rx) = tokio::sync::watch::channel(Arc::new(settings));
    let cameras = CameraStates::default();
    let params = Arc::new(VideoParams {
        sample_entry: entry,
        codec: "avc1".into(),
        width: 640,
        height: 360,
        clock_rate: 90_000,
        kind: VideoCodec::H264,
    });
    cameras.live().tap("door").offer(LiveFrame::Video {
        params,
        pts: 0,
        at: jiff::Timestamp::now(),
        keyframe: true,
        data: au,
        audio: None,
    });
    let service = Stills::new(rx, cameras, None);
    rt.block_on(service.still("door", None, Some(320))).expect("first still");
    let cached = || {
        let t0 = Instant::now();
        rt.block_on(service.still("door", None, Some(320))).expect("kept still");
        t0.elapsed()
    };
    report("the same H.264 still again (kept)", (0..RUNS).map(|_| cached()).collect());
    group.bench_function("the same H.264 still again (kept)", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| cached()).sum())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
