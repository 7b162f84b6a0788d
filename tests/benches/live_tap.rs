//! What watching costs on the recording path (`cargo bench -p porchlight-e2e --bench live_tap`):
//! ingest offers every frame to the camera's live tap, which keeps the current group of
//! pictures (one copy of the frame) whether or not anyone watches, and sends it to the
//! watchers; and what one viewer's fMP4 fragment of a frame costs. Frames are 25 KB (a 720p
//! P-frame at about 4 Mbit/s) with a 100 KB keyframe every 25. Results: docs/benchmarks.md.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use porchlight::recording::fmp4::{Fragmenter, Sample};
use porchlight::recording::frames::{VideoCodec, VideoParams};
use porchlight::recording::live::{LiveFrame, LiveTaps};
use shiguredo_mp4::Uint;
use shiguredo_mp4::boxes::{Avc1Box, AvccBox, SampleEntry, VisualSampleEntryFields};

fn params() -> Arc<VideoParams> {
    let entry = SampleEntry::Avc1(Avc1Box {
        visual: VisualSampleEntryFields {
            data_reference_index: VisualSampleEntryFields::DEFAULT_DATA_REFERENCE_INDEX,
            width: 1280,
            height: 720,
            horizresolution: VisualSampleEntryFields::DEFAULT_HORIZRESOLUTION,
            vertresolution: VisualSampleEntryFields::DEFAULT_VERTRESOLUTION,
            frame_count: VisualSampleEntryFields::DEFAULT_FRAME_COUNT,
            compressorname: VisualSampleEntryFields::NULL_COMPRESSORNAME,
            depth: VisualSampleEntryFields::DEFAULT_DEPTH,
        },
        avcc_box: AvccBox {
            avc_profile_indication: 66,
            profile_compatibility: 0xc0,
            avc_level_indication: 31,
            length_size_minus_one: Uint::new(3),
            sps_list: vec![vec![0x67, 0x42, 0xc0, 0x1f, 0xd9]],
            pps_list: vec![vec![0x68, 0xce, 0x3c, 0x80]],
            chroma_format: None,
            bit_depth_luma_minus8: None,
            bit_depth_chroma_minus8: None,
            sps_ext_list: Vec::new(),
        },
        unknown_boxes: Vec::new(),
    });
    Arc::new(VideoParams {
        sample_entry: entry,
        codec: "avc1.42c01f".into(),
        width: 1280,
        height: 720,
        clock_rate: 90_000,
        kind: VideoCodec::H264,
    })
}

fn frame(params: &Arc<VideoParams>, n: i64) -> LiveFrame {
    let keyframe = n % 25 == 0;
    LiveFrame::Video {
        params: Arc::clone(params),
        pts: n * 3600,
        at: jiff::Timestamp::UNIX_EPOCH,
        keyframe,
        data: vec![0x41; if keyframe { 100_000 } else { 25_000 }],
        audio: None,
    }
}

fn bench(c: &mut Criterion) {
    let params = params();
    let taps = LiveTaps::default();
    let tap = taps.tap("front");
    // The frame is built (the copy ingest makes of the camera's bytes) inside the measurement.
    let mut n = 0;
    c.bench_function("live tap: offer a frame, nobody watching", |b| {
        b.iter(|| {
            n += 1;
            tap.offer(frame(&params, n));
        })
    });
    let watch = taps.watch("front");
    c.bench_function("live tap: offer a frame, one watcher", |b| {
        b.iter(|| {
            n += 1;
            tap.offer(frame(&params, n));
        })
    });
    drop(watch);
    let mut f = Fragmenter::new(&params, None).expect("fragmenter");
    let data = vec![0x41u8; 25_000];
    let mut t = 0u64;
    c.bench_function("fmp4: one 25 KB frame as a fragment", |b| {
        b.iter(|| {
            t += 3600;
            black_box(
                f.fragment(&[Sample { decode_time: t, duration: 3600, keyframe: false, data: &data }], &[]),
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
