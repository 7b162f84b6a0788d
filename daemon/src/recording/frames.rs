//! What ingest hands the writer: codec parameters as MP4 sample entries, and frames with their
//! timestamps. Nothing here knows about RTSP, so the writer can be fed by tests directly.

use std::sync::Arc;

use shiguredo_mp4::boxes::SampleEntry;
use shiguredo_mp4::{BaseBox, BoxType, Decode};

/// Codec parameters the recorder cannot take: what a camera's sample entry lacks or is.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    #[error("bad sample entry: {source}")]
    Decode { source: shiguredo_mp4::Error },
    #[error("unsupported video sample entry {0:?}")]
    Video(BoxType),
    #[error("unsupported audio sample entry {0:?}")]
    Audio(BoxType),
}

/// A video stream's parameters: what goes into the segment's `stsd`.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoParams {
    pub sample_entry: SampleEntry,
    /// RFC 6381 codec string, e.g. `avc1.64001f`.
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// RTP clock rate (90 kHz for H.264/H.265).
    pub clock_rate: u32,
    pub kind: VideoCodec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    H265,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AudioParams {
    pub sample_entry: SampleEntry,
    pub codec: String,
    pub clock_rate: u32,
}

impl VideoParams {
    /// Builds parameters from an encoded MP4 sample entry box (`avc1`, `hvc1`, ...).
    pub fn from_sample_entry_box(
        bytes: &[u8],
        codec: String,
        width: u32,
        height: u32,
        clock_rate: u32,
    ) -> Result<Self, ParamsError> {
        let (mut entry, _) = SampleEntry::decode(bytes).map_err(|source| ParamsError::Decode { source })?;
        complete_avcc(&mut entry);
        let kind = match &entry {
            SampleEntry::Avc1(_) => VideoCodec::H264,
            SampleEntry::Hev1(_) | SampleEntry::Hvc1(_) => VideoCodec::H265,
            other => return Err(ParamsError::Video(other.box_type())),
        };
        Ok(Self { sample_entry: entry, codec, width, height, clock_rate, kind })
    }
}

/// High-profile (and other non-baseline) `avcC` boxes carry chroma format and bit depths;
/// cameras' SDP-derived configs often lack them, and the MP4 writer refuses the box without
/// them. They are read from the SPS (4:2:0, 8 bit if the SPS cannot be read).
fn complete_avcc(entry: &mut SampleEntry) {
    use shiguredo_mp4::Uint;
    let SampleEntry::Avc1(avc1) = entry else { return };
    let c = &mut avc1.avcc_box;
    if matches!(c.avc_profile_indication, 66 | 77 | 88) || c.chroma_format.is_some() {
        return;
    }
    let sps = c.sps_list.first().and_then(|s| shiguredo_mp4::bitstream::h264::parse_sps(s).ok());
    let (chroma, luma, chroma_depth) =
        sps.map_or((1, 0, 0), |s| (s.chroma_format_idc, s.bit_depth_luma_minus8, s.bit_depth_chroma_minus8));
    c.chroma_format = Some(Uint::new(chroma));
    c.bit_depth_luma_minus8 = Some(Uint::new(luma));
    c.bit_depth_chroma_minus8 = Some(Uint::new(chroma_depth));
}

impl AudioParams {
    pub fn from_sample_entry_box(bytes: &[u8], codec: String, clock_rate: u32) -> Result<Self, ParamsError> {
        let (entry, _) = SampleEntry::decode(bytes).map_err(|source| ParamsError::Decode { source })?;
        if !matches!(entry, SampleEntry::Mp4a(_)) {
            return Err(ParamsError::Audio(entry.box_type()));
        }
        Ok(Self { sample_entry: entry, codec, clock_rate })
    }
}

/// One access unit of video, in MP4 framing (4-byte length-prefixed NAL units).
#[derive(Debug, Clone)]
pub struct VideoFrame {
    /// Presentation time in `clock_rate` ticks since the session started (no wraps).
    pub pts: i64,
    /// Wall-clock time of this frame, milliseconds since the epoch.
    pub wall_ms: i64,
    /// Whether decoding can start here (IDR, CRA/BLA, or an H.264 recovery point).
    pub keyframe: bool,
    /// Set on the first frame and whenever the camera changes its parameters.
    pub params: Option<Arc<VideoParams>>,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct AudioFrame {
    pub pts: i64,
    pub wall_ms: i64,
    /// Duration in the audio clock's ticks (1024 for AAC-LC).
    pub duration: u32,
    pub data: Vec<u8>,
}

/// Whether a length-prefixed access unit starts a point where decoding can begin. Cameras with
/// open GOPs send CRA pictures (H.265) or I-slices with a recovery-point SEI (H.264) instead of
/// IDRs; all of them count. A malformed length ends the scan (what was seen so far decides).
pub fn is_random_access(codec: VideoCodec, data: &[u8]) -> bool {
    let mut rest = data;
    while rest.len() >= 5 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(nal) = rest.get(4..4 + len) else { return false };
        if let Some(&header) = nal.first() {
            match codec {
                VideoCodec::H264 => {
                    let t = header & 0x1f;
                    // 5: IDR slice. 6: SEI whose first message is a recovery point (payload 6).
                    if t == 5 || (t == 6 && nal.get(1) == Some(&6)) {
                        return true;
                    }
                }
                VideoCodec::H265 => {
                    // 16..=21: BLA, IDR and CRA; 22..=23 are reserved IRAP types.
                    let t = (header >> 1) & 0x3f;
                    if (16..=23).contains(&t) {
                        return true;
                    }
                }
            }
        }
        rest = &rest[4 + len..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn au(nals: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for n in nals {
            v.extend_from_slice(&(n.len() as u32).to_be_bytes());
            v.extend_from_slice(n);
        }
        v
    }

    #[test]
    fn h264_idr_and_recovery_points_are_random_access() {
        assert!(is_random_access(VideoCodec::H264, &au(&[&[0x09, 0x10], &[0x65, 0x88]])));
        assert!(is_random_access(VideoCodec::H264, &au(&[&[0x06, 0x06, 0x01, 0x80], &[0x41, 0x9a]])));
        assert!(!is_random_access(VideoCodec::H264, &au(&[&[0x41, 0x9a]])));
        assert!(!is_random_access(VideoCodec::H264, &au(&[&[0x06, 0x05, 0x01], &[0x41, 0x9a]])));
    }

    #[test]
    fn h265_idr_and_cra_are_random_access_but_trail_pictures_are_not() {
        let idr = [19 << 1, 1];
        let cra = [21 << 1, 1];
        let trail = [1 << 1, 1];
        assert!(is_random_access(VideoCodec::H265, &au(&[&idr])));
        assert!(is_random_access(VideoCodec::H265, &au(&[&[35 << 1, 1], &cra])));
        assert!(!is_random_access(VideoCodec::H265, &au(&[&trail])));
    }

    #[test]
    fn truncated_or_garbage_frames_are_not_random_access() {
        assert!(!is_random_access(VideoCodec::H264, &[0, 0, 0, 9, 0x65]));
        assert!(!is_random_access(VideoCodec::H264, &[]));
        assert!(!is_random_access(VideoCodec::H265, &[0xff; 3]));
    }
}
