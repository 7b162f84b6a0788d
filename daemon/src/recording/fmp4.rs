//! A fragmented MP4 stream for a browser's Media Source Extensions (or any fMP4 reader): the
//! init segment for a camera's tracks, then `moof`+`mdat` fragments of frames as the camera sent
//! them. Unlike a segment file's fragments, each fragment's decode time is given by the caller
//! (`tfdt`, always 64-bit), so a stream can start anywhere, jump over a gap in a recording and
//! stay on the wall clock. Nothing is re-encoded; the frames' bytes are copied once, into the
//! fragment.

use std::num::NonZeroU32;

use shiguredo_mp4::boxes::{MfhdBox, MoofBox, TfdtBox, TfhdBox, TrafBox, TrunBox, TrunSample};
use shiguredo_mp4::mux::{Fmp4SegmentMuxer, Sample as MuxSample};
use shiguredo_mp4::{Encode, SampleFlags, TrackKind};

use super::frames::{AudioParams, VideoParams};

/// Track ids in the init segment (the order the tracks are first given to the muxer).
const VIDEO_TRACK: u32 = 1;
const AUDIO_TRACK: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum Fmp4Error {
    #[error("cannot build the MP4 boxes: {0}")]
    Mux(String),
    #[error("a fragment needs at least one frame")]
    Empty,
    #[error("a frame of {0} bytes is too large for one fragment")]
    TooLarge(usize),
}

fn mux_err(e: impl std::fmt::Display) -> Fmp4Error {
    Fmp4Error::Mux(e.to_string())
}

/// One frame of a track in a fragment.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// In ticks of the track's clock from the stream's origin. Only the first sample of a
    /// track in a fragment places it; the rest follow by their durations.
    pub decode_time: u64,
    pub duration: u32,
    pub keyframe: bool,
    pub data: &'a [u8],
}

/// Builds one stream's init segment and fragments.
#[derive(Debug)]
pub struct Fragmenter {
    init: Vec<u8>,
    mime: String,
    has_audio: bool,
    sequence: u32,
}

impl Fragmenter {
    /// A stream of `video` and, if given, `audio`.
    pub fn new(video: &VideoParams, audio: Option<&AudioParams>) -> Result<Self, Fmp4Error> {
        let mut muxer = Fmp4SegmentMuxer::new().map_err(mux_err)?;
        let entry = |kind, entry, rate| MuxSample {
            track_kind: kind,
            sample_entry: Some(entry),
            keyframe: true,
            timescale: NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN),
            duration: 1,
            composition_time_offset: None,
            data_offset: 0,
            data_size: 0,
        };
        // The muxer learns the tracks from a first (empty) fragment, which is not used.
        let mut samples = vec![entry(TrackKind::Video, video.sample_entry.clone(), video.clock_rate)];
        if let Some(a) = audio {
            samples.push(entry(TrackKind::Audio, a.sample_entry.clone(), a.clock_rate));
        }
        muxer.create_media_segment_metadata(&samples).map_err(mux_err)?;
        let init = muxer.init_segment_bytes().map_err(mux_err)?;
        let codecs = match audio {
            Some(a) => format!("{},{}", video.codec, a.codec),
            None => video.codec.clone(),
        };
        Ok(Self {
            init,
            mime: format!("video/mp4; codecs=\"{codecs}\""),
            has_audio: audio.is_some(),
            sequence: 0,
        })
    }

    /// `ftyp` + `moov`.
    pub fn init(&self) -> &[u8] {
        &self.init
    }

    /// The stream's MIME type with its codecs, as `MediaSource.isTypeSupported` takes it.
    pub fn mime(&self) -> &str {
        &self.mime
    }

    /// One `moof` + `mdat` with `video`'s and then `audio`'s frames (audio is left out when
    /// the stream has no audio track).
    pub fn fragment(&mut self, video: &[Sample<'_>], audio: &[Sample<'_>]) -> Result<Vec<u8>, Fmp4Error> {
        let audio = if self.has_audio { audio } else { &[] };
        if video.is_empty() && audio.is_empty() {
            return Err(Fmp4Error::Empty);
        }
        self.sequence = self.sequence.wrapping_add(1);
        let payload: usize = video.iter().chain(audio).map(|s| s.data.len()).sum();
        let tracks = [(VIDEO_TRACK, video), (AUDIO_TRACK, audio)];
        // The data offsets depend on the moof's size, which does not depend on their values:
        // encode once to learn it, then again with the offsets.
        let mut moof = self.moof(&tracks, 0)?;
        let size = moof.encode_to_vec().map_err(mux_err)?.len();
        moof = self.moof(&tracks, size + 8)?;
        let head = moof.encode_to_vec().map_err(mux_err)?;
        let mdat_size = u32::try_from(payload + 8).map_err(|_| Fmp4Error::TooLarge(payload))?;
        let mut out = Vec::with_capacity(head.len() + 8 + payload);
        out.extend_from_slice(&head);
        out.extend_from_slice(&mdat_size.to_be_bytes());
        out.extend_from_slice(b"mdat");
        for s in video.iter().chain(audio) {
            out.extend_from_slice(s.data);
        }
        Ok(out)
    }

    fn moof(&self, tracks: &[(u32, &[Sample<'_>])], data_start: usize) -> Result<MoofBox, Fmp4Error> {
        let mut offset = data_start;
        let mut trafs = Vec::new();
        for (id, samples) in tracks {
            let Some(first) = samples.first() else { continue };
            let data_offset = i32::try_from(offset).map_err(|_| Fmp4Error::TooLarge(offset))?;
            let mut run = Vec::with_capacity(samples.len());
            for s in *samples {
                run.push(TrunSample {
                    duration: Some(s.duration),
                    size: Some(u32::try_from(s.data.len()).map_err(|_| Fmp4Error::TooLarge(s.data.len()))?),
                    flags: Some(flags(s.keyframe)),
                    composition_time_offset: None,
                });
                offset += s.data.len();
            }
            trafs.push(TrafBox {
                tfhd_box: TfhdBox {
                    track_id: *id,
                    base_data_offset: None,
                    sample_description_index: None,
                    default_sample_duration: None,
                    default_sample_size: None,
                    default_sample_flags: None,
                    duration_is_empty: false,
                    default_base_is_moof: true,
                },
                tfdt_box: Some(TfdtBox { version: 1, base_media_decode_time: first.decode_time }),
                trun_boxes: vec![TrunBox {
                    data_offset: Some(data_offset),
                    first_sample_flags: None,
                    samples: run,
                }],
                unknown_boxes: Vec::new(),
            });
        }
        Ok(MoofBox {
            mfhd_box: MfhdBox { sequence_number: self.sequence },
            traf_boxes: trafs,
            unknown_boxes: Vec::new(),
        })
    }
}

/// A keyframe depends on nothing; any other frame depends on others and is no sync sample.
fn flags(keyframe: bool) -> SampleFlags {
    if keyframe {
        SampleFlags::from_fields(0, 2, 0, 0, 0, false, 0)
    } else {
        SampleFlags::from_fields(0, 1, 0, 0, 0, true, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::mp4read;

    #[test]
    fn fragments_keep_the_decode_times_they_are_given_across_a_gap() {
        let params = crate::recording::writer::tests::params(320, 240);
        let mut f = Fragmenter::new(&params, None).expect("fragmenter");
        assert_eq!(f.mime(), "video/mp4; codecs=\"avc1.42c00d\"");
        let key = [0u8, 0, 0, 2, 0x65, 0x88];
        let delta = [0u8, 0, 0, 2, 0x41, 0x9a];
        let mut file = f.init().to_vec();
        let frame = |t, k: bool| Sample {
            decode_time: t,
            duration: 6000,
            keyframe: k,
            data: if k { &key } else { &delta },
        };
        file.extend(f.fragment(&[frame(0, true)], &[]).expect("fragment"));
        file.extend(f.fragment(&[frame(6000, false), frame(12_000, false)], &[]).expect("fragment"));
        // Five seconds without frames, then a keyframe: decode time says so.
        file.extend(f.fragment(&[frame(18_000 + 450_000, true)], &[]).expect("fragment"));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.mp4");
        std::fs::write(&path, &file).expect("write");
        let samples = mp4read::samples(&path).expect("the stream reads back");
        let times: Vec<_> = samples.iter().map(|s| (s.timestamp, s.keyframe, s.data_size)).collect();
        assert_eq!(times, vec![(0, true, 6), (6000, false, 6), (12_000, false, 6), (468_000, true, 6)]);
        for s in &samples {
            let at = usize::try_from(s.data_offset).expect("offset");
            assert_eq!(
                file[at + 4],
                if s.keyframe { 0x65 } else { 0x41 },
                "data offsets point at the frames"
            );
        }
    }

    /// An `mp4a` sample entry for AAC-LC, 16 kHz, mono (as written by hand from ISO 14496-1/-14).
    fn aac_16k_mono() -> AudioParams {
        let mut b = vec![0, 0, 0, 75];
        b.extend(b"mp4a");
        b.extend([0, 0, 0, 0, 0, 0, 0, 1]); // reserved, data_reference_index 1
        b.extend([0; 8]); // version, revision, vendor
        b.extend([0, 1, 0, 16, 0, 0, 0, 0]); // channels 1, 16-bit, pre_defined, reserved
        b.extend([0x3e, 0x80, 0, 0]); // 16000 as 16.16
        b.extend([0, 0, 0, 39]);
        b.extend(b"esds");
        b.extend([0, 0, 0, 0]);
        b.extend([3, 25, 0, 0, 0]); // ES_Descriptor, es_id 0, no flags
        b.extend([4, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // DecoderConfigDescriptor
        b.extend([5, 2, 0x14, 0x08]); // AudioSpecificConfig: AAC-LC, 16 kHz, 1 channel
        b.extend([6, 1, 2]); // SLConfigDescriptor
        assert_eq!(b.len(), 75);
        AudioParams::from_sample_entry_box(&b, "mp4a.40.2".into(), 16_000).expect("an mp4a entry")
    }

    #[test]
    fn audio_goes_in_its_own_track_after_the_video() {
        let params = crate::recording::writer::tests::params(320, 240);
        let audio = aac_16k_mono();
        let mut f = Fragmenter::new(&params, Some(&audio)).expect("fragmenter");
        assert!(f.mime().contains(','), "{}", f.mime());
        let mut file = f.init().to_vec();
        let v = [0u8, 0, 0, 1, 0x65];
        let a = [0x21u8, 0x10, 0x04];
        file.extend(
            f.fragment(
                &[Sample { decode_time: 90_000, duration: 3000, keyframe: true, data: &v }],
                &[Sample { decode_time: 16_000, duration: 1024, keyframe: true, data: &a }],
            )
            .expect("fragment"),
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.mp4");
        std::fs::write(&path, &file).expect("write");
        let samples = mp4read::samples(&path).expect("reads back");
        let kinds: Vec<_> = samples.iter().map(|s| (s.kind, s.timestamp, s.data_size)).collect();
        assert_eq!(kinds, vec![(TrackKind::Video, 90_000, 5), (TrackKind::Audio, 16_000, 3)]);
        assert!(matches!(f.fragment(&[], &[]), Err(Fmp4Error::Empty)));
    }
}
