//! RTP packetization of a camera's frames (RFC 3550; H.264 RFC 6184, H.265 RFC 7798, AAC
//! RFC 3640), each packet framed for RTSP interleaving (`$`, channel, length), and the SDP
//! media sections that describe them. Shared by the relay's live push (`relay/live.rs`, RTSP
//! `RECORD`) and the local RTSP server (`restream/`, RTSP `PLAY`). It reads only the frame
//! types of `recording::frames`; the frames themselves come from `recording::live`.

use base64::Engine;

use crate::recording::frames::{AudioParams, VideoCodec, VideoParams};

/// The largest RTP payload: packets stay under a 1500-byte MTU if a receiver relays them on
/// over UDP.
pub const MAX_PAYLOAD: usize = 1400;

/// One RTP stream (one track) on an interleaved RTSP connection: its channel, sequence
/// numbers, SSRC and random timestamp offset, and what it has sent (for RTCP sender reports).
#[derive(Debug)]
pub struct Rtp {
    channel: u8,
    seq: u16,
    ssrc: u32,
    offset: u32,
    packets: u32,
    octets: u32,
}

impl Rtp {
    /// A stream on interleaved channel `channel` (its RTCP, if sent, on `channel + 1`).
    pub fn new(channel: u8) -> Self {
        Self {
            channel,
            seq: fastrand::u16(..),
            ssrc: fastrand::u32(..),
            offset: fastrand::u32(..),
            packets: 0,
            octets: 0,
        }
    }

    /// The sequence number of the next packet.
    pub fn next_seq(&self) -> u16 {
        self.seq
    }

    /// The RTP timestamp a packet of media time `ts` carries.
    pub fn rtptime(&self, ts: u32) -> u32 {
        ts.wrapping_add(self.offset)
    }

    /// Appends one packet of media time `ts` (in the track's clock) made of `parts`.
    pub fn packet(&mut self, out: &mut Vec<u8>, pt: u8, ts: u32, marker: bool, parts: &[&[u8]]) {
        let payload = parts.iter().map(|p| p.len()).sum::<usize>();
        let len = 12 + payload;
        out.push(b'$');
        out.push(self.channel);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.push(0x80);
        out.push(if marker { 0x80 | pt } else { pt });
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.rtptime(ts).to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        for p in parts {
            out.extend_from_slice(p);
        }
        self.seq = self.seq.wrapping_add(1);
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload as u32);
    }

    /// Appends an RTCP sender report (RFC 3550 §6.4.1) on channel `channel + 1`: media time
    /// `ts` of this track happened at `ntp` (NTP format: seconds since 1900 in the high 32
    /// bits, the fraction in the low 32). Receivers line the tracks up by these reports.
    pub fn sender_report(&self, out: &mut Vec<u8>, ntp: u64, ts: u32) {
        out.push(b'$');
        out.push(self.channel.wrapping_add(1));
        out.extend_from_slice(&28u16.to_be_bytes());
        // V=2, no padding, no report blocks; PT 200 (SR); length 6 (32-bit words minus one).
        out.extend_from_slice(&[0x80, 200, 0, 6]);
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&ntp.to_be_bytes());
        out.extend_from_slice(&self.rtptime(ts).to_be_bytes());
        out.extend_from_slice(&self.packets.to_be_bytes());
        out.extend_from_slice(&self.octets.to_be_bytes());
    }
}

/// A Unix time as an NTP timestamp (for [`Rtp::sender_report`]).
pub fn ntp_time(unix: std::time::Duration) -> u64 {
    const UNIX_TO_NTP: u64 = 2_208_988_800;
    let secs = unix.as_secs().wrapping_add(UNIX_TO_NTP);
    let frac = (u64::from(unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The dynamic payload type of the video track.
pub const VIDEO_PT: u8 = 96;
/// The dynamic payload type of the audio track.
pub const AUDIO_PT: u8 = 97;

/// The video track: codec, parameter sets (sent in the SDP and again before each keyframe
/// that lacks them) and the NAL length size of the camera's frames.
#[derive(Debug)]
pub struct VideoTrack {
    pub codec: VideoCodec,
    pub length_size: usize,
    /// H.264: SPS, PPS. H.265: VPS, SPS, PPS.
    pub params: Vec<Vec<u8>>,
    /// The SDP `a=fmtp` parameters (profile, parameter sets).
    pub fmtp: String,
}

impl VideoTrack {
    pub fn new(v: &VideoParams) -> Result<Self, TrackError> {
        use shiguredo_mp4::boxes::SampleEntry;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        match &v.sample_entry {
            SampleEntry::Avc1(e) => {
                let c = &e.avcc_box;
                let sps = c.sps_list.first().ok_or(TrackError::NoSps)?;
                let pps = c.pps_list.first().ok_or(TrackError::NoPps)?;
                let profile = sps
                    .get(1..4)
                    .map_or_else(String::new, |p| format!("{:02X}{:02X}{:02X}", p[0], p[1], p[2]));
                let fmtp = format!(
                    "packetization-mode=1;profile-level-id={profile};sprop-parameter-sets={},{}",
                    b64(sps),
                    b64(pps)
                );
                let params = c.sps_list.iter().chain(&c.pps_list).cloned().collect();
                Ok(Self {
                    codec: VideoCodec::H264,
                    length_size: usize::from(c.length_size_minus_one.get()) + 1,
                    params,
                    fmtp,
                })
            }
            SampleEntry::Hvc1(shiguredo_mp4::boxes::Hvc1Box { hvcc_box: c, .. })
            | SampleEntry::Hev1(shiguredo_mp4::boxes::Hev1Box { hvcc_box: c, .. }) => {
                let of = |t: u8| -> Vec<Vec<u8>> {
                    c.nalu_arrays
                        .iter()
                        .filter(|a| a.nal_unit_type.get() == t)
                        .flat_map(|a| a.nalus.clone())
                        .collect()
                };
                let (vps, sps, pps) = (of(32), of(33), of(34));
                let (Some(v), Some(s), Some(p)) = (vps.first(), sps.first(), pps.first()) else {
                    return Err(TrackError::H265Sets);
                };
                let fmtp = format!("sprop-vps={};sprop-sps={};sprop-pps={}", b64(v), b64(s), b64(p));
                let params = vps.iter().chain(&sps).chain(&pps).cloned().collect();
                Ok(Self {
                    codec: VideoCodec::H265,
                    length_size: usize::from(c.length_size_minus_one.get()) + 1,
                    params,
                    fmtp,
                })
            }
            other => {
                use shiguredo_mp4::BaseBox;
                Err(TrackError::Video(other.box_type()))
            }
        }
    }

    pub fn rtpmap(&self) -> &'static str {
        match self.codec {
            VideoCodec::H264 => "H264/90000",
            VideoCodec::H265 => "H265/90000",
        }
    }

    fn is_param_set(&self, nal: &[u8]) -> bool {
        match self.codec {
            VideoCodec::H264 => nal.first().is_some_and(|h| matches!(h & 0x1F, 7 | 8)),
            VideoCodec::H265 => nal.first().is_some_and(|h| matches!((h >> 1) & 0x3F, 32..=34)),
        }
    }

    /// One access unit (`data`: length-prefixed NAL units) as RTP packets; the marker bit is on
    /// its last packet.
    pub fn packetize(
        &self,
        rtp: &mut Rtp,
        ts: u32,
        keyframe: bool,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), NalError> {
        let mut nals = split_nals(data, self.length_size)?;
        if keyframe && !nals.iter().any(|n| self.is_param_set(n)) {
            let mut with = self.params.iter().map(Vec::as_slice).collect::<Vec<_>>();
            with.append(&mut nals);
            nals = with;
        }
        let count = nals.len();
        for (i, nal) in nals.into_iter().enumerate() {
            let last = i + 1 == count;
            if nal.len() <= MAX_PAYLOAD {
                rtp.packet(out, VIDEO_PT, ts, last, &[nal]);
                continue;
            }
            // Fragmentation units: H.264 FU-A (type 28), H.265 FU (type 49).
            let (indicator, skip, nal_type): (Vec<u8>, usize, u8) = match self.codec {
                VideoCodec::H264 => (vec![(nal[0] & 0xE0) | 28], 1, nal[0] & 0x1F),
                VideoCodec::H265 => (vec![(nal[0] & 0x81) | (49 << 1), nal[1]], 2, (nal[0] >> 1) & 0x3F),
            };
            let body = &nal[skip..];
            let room = MAX_PAYLOAD - indicator.len() - 1;
            let chunks = body.len().div_ceil(room);
            for (j, chunk) in body.chunks(room).enumerate() {
                let mut fu = nal_type;
                if j == 0 {
                    fu |= 0x80;
                }
                if j + 1 == chunks {
                    fu |= 0x40;
                }
                rtp.packet(out, VIDEO_PT, ts, last && j + 1 == chunks, &[&indicator, &[fu], chunk]);
            }
        }
        Ok(())
    }
}

/// A camera's codec parameters the live stream cannot describe.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("the camera's H.264 parameters have no SPS")]
    NoSps,
    #[error("the camera's H.264 parameters have no PPS")]
    NoPps,
    #[error("the camera's H.265 parameters lack a VPS, SPS or PPS")]
    H265Sets,
    #[error("cannot stream video sample entry {0:?}")]
    Video(shiguredo_mp4::BoxType),
    #[error("not AAC")]
    NotAac,
    #[error("the AAC parameters have no AudioSpecificConfig")]
    NoAudioConfig,
}

/// A camera's access unit that does not split into NAL units.
#[derive(Debug, thiserror::Error)]
pub enum NalError {
    #[error("a NAL unit length is cut short")]
    CutShort,
    #[error("a NAL unit of {len} bytes in {left} bytes left")]
    Length { len: usize, left: usize },
}

/// NAL units of a length-prefixed access unit.
pub fn split_nals(mut data: &[u8], length_size: usize) -> Result<Vec<&[u8]>, NalError> {
    let mut nals = Vec::new();
    while !data.is_empty() {
        if data.len() < length_size {
            return Err(NalError::CutShort);
        }
        let len = data[..length_size].iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
        data = &data[length_size..];
        if len == 0 || len > data.len() {
            return Err(NalError::Length { len, left: data.len() });
        }
        nals.push(&data[..len]);
        data = &data[len..];
    }
    Ok(nals)
}

/// The AAC track (`mpeg4-generic`, AAC-hbr: one access unit per packet).
#[derive(Debug)]
pub struct AudioTrack {
    pub rate: u32,
    pub channels: u16,
    /// The AudioSpecificConfig in hex, for the SDP.
    pub config: String,
}

impl AudioTrack {
    pub fn new(a: &AudioParams) -> Result<Self, TrackError> {
        let shiguredo_mp4::boxes::SampleEntry::Mp4a(m) = &a.sample_entry else {
            return Err(TrackError::NotAac);
        };
        let config = m
            .esds_box
            .es
            .dec_config_descr
            .dec_specific_info
            .as_ref()
            .ok_or(TrackError::NoAudioConfig)?
            .payload
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self { rate: a.clock_rate, channels: m.audio.channelcount.max(1), config })
    }

    pub fn packetize(&self, rtp: &mut Rtp, ts: u32, au: &[u8], out: &mut Vec<u8>) {
        // The AU size has 13 bits; a larger frame is not AAC as cameras send it.
        let Ok(size) = u16::try_from(au.len()) else { return };
        if size >= 1 << 13 {
            return;
        }
        let headers = [0x00, 0x10, (size >> 5) as u8, ((size & 0x1F) << 3) as u8];
        rtp.packet(out, AUDIO_PT, ts, true, &[&headers, au]);
    }
}

/// The SDP media sections (`m=video`, then `m=audio` if there is audio) with each track's
/// `a=control` from `control(track index)`.
pub fn media_sdp(
    video: &VideoTrack,
    audio: Option<&AudioTrack>,
    control: impl Fn(usize) -> String,
) -> String {
    let mut s = format!(
        "m=video 0 RTP/AVP {VIDEO_PT}\r\na=rtpmap:{VIDEO_PT} {}\r\na=fmtp:{VIDEO_PT} {}\r\na=control:{}\r\n",
        video.rtpmap(),
        video.fmtp,
        control(0)
    );
    if let Some(a) = audio {
        s.push_str(&format!(
            "m=audio 0 RTP/AVP {AUDIO_PT}\r\na=rtpmap:{AUDIO_PT} mpeg4-generic/{}/{}\r\n\
             a=fmtp:{AUDIO_PT} streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config={}\r\n\
             a=control:{}\r\n",
            a.rate,
            a.channels,
            a.config,
            control(1)
        ));
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An H.264 track with a short SPS and PPS.
    pub(crate) fn h264() -> VideoTrack {
        VideoTrack {
            codec: VideoCodec::H264,
            length_size: 4,
            params: vec![vec![0x67, 0x64, 0x00, 0x1f], vec![0x68, 0xee]],
            fmtp: String::new(),
        }
    }

    /// (channel, marker, seq, payload) of each interleaved packet in `out`.
    pub(crate) fn packets(mut out: &[u8]) -> Vec<(u8, bool, u16, Vec<u8>)> {
        let mut v = Vec::new();
        while !out.is_empty() {
            assert_eq!(out[0], b'$');
            let len = usize::from(u16::from_be_bytes([out[2], out[3]]));
            let p = &out[4..4 + len];
            assert_eq!(p[0], 0x80, "RTP version 2");
            v.push((out[1], p[1] & 0x80 != 0, u16::from_be_bytes([p[2], p[3]]), p[12..].to_vec()));
            out = &out[4 + len..];
        }
        v
    }

    /// An access unit of length-prefixed NAL units.
    pub(crate) fn au(nals: &[&[u8]]) -> Vec<u8> {
        nals.iter()
            .flat_map(|n| (n.len() as u32).to_be_bytes().into_iter().chain(n.iter().copied()))
            .collect()
    }

    #[test]
    fn a_keyframe_gets_parameter_sets_and_large_nal_units_are_fragmented_and_rebuild_exactly() {
        let track = h264();
        let mut rtp = Rtp::new(0);
        let idr: Vec<u8> = std::iter::once(0x65).chain((0..5000u32).map(|i| (i % 251) as u8)).collect();
        let mut out = Vec::new();
        track.packetize(&mut rtp, 9000, true, &au(&[&idr]), &mut out).expect("packetized");
        let p = packets(&out);
        assert_eq!(p[0].3, vec![0x67, 0x64, 0x00, 0x1f], "SPS first");
        assert_eq!(p[1].3, vec![0x68, 0xee], "then PPS");
        // The IDR in FU-A fragments: start bit on the first, end bit on the last, and the
        // marker bit only on the access unit's last packet.
        let fus = &p[2..];
        assert!(fus.len() >= 4);
        assert!(fus.iter().all(|f| f.3.len() <= MAX_PAYLOAD && f.3[0] == (0x60 | 28)));
        assert_eq!(fus[0].3[1], 0x80 | 5);
        assert_eq!(fus.last().expect("last").3[1], 0x40 | 5);
        assert!(p.iter().rev().skip(1).all(|f| !f.1) && p.last().expect("last").1);
        let mut rebuilt = vec![(fus[0].3[0] & 0xE0) | (fus[0].3[1] & 0x1F)];
        for f in fus {
            rebuilt.extend_from_slice(&f.3[2..]);
        }
        assert_eq!(rebuilt, idr);
        let seqs: Vec<u16> = p.iter().map(|f| f.2).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)), "{seqs:?}");

        // A non-key frame with parameter sets of its own gets none added.
        let mut out = Vec::new();
        track.packetize(&mut rtp, 12000, false, &au(&[&[0x41, 1, 2, 3]]), &mut out).expect("packetized");
        let p = packets(&out);
        assert_eq!(p.len(), 1);
        assert!(p[0].1);
    }

    #[test]
    fn h265_fragments_carry_the_two_byte_header() {
        let track =
            VideoTrack { codec: VideoCodec::H265, length_size: 4, params: vec![], fmtp: String::new() };
        let mut rtp = Rtp::new(0);
        // nal_unit_type 1 (TRAIL_R): header 0x02 0x01.
        let nal: Vec<u8> = [0x02, 0x01].into_iter().chain(std::iter::repeat_n(7u8, 3000)).collect();
        let mut out = Vec::new();
        track.packetize(&mut rtp, 0, false, &au(&[&nal]), &mut out).expect("packetized");
        let p = packets(&out);
        assert_eq!(p.len(), 3);
        assert_eq!(&p[0].3[..3], &[(49 << 1), 0x01, 0x80 | 1]);
        assert_eq!(p[2].3[2], 0x40 | 1);
        let total: usize = p.iter().map(|f| f.3.len() - 3).sum();
        assert_eq!(total, 3000);
    }

    #[test]
    fn broken_access_units_are_errors() {
        assert!(split_nals(&[0, 0, 0, 9, 1, 2], 4).is_err());
        assert!(split_nals(&[0, 0], 4).is_err());
        assert!(split_nals(&[0, 0, 0, 0], 4).is_err());
        assert_eq!(split_nals(&[0, 0, 0, 1, 5, 0, 0, 0, 2, 6, 7], 4).expect("ok"), vec![&[5u8][..], &[6, 7]]);
    }

    #[test]
    fn aac_packets_carry_one_au_header() {
        let track = AudioTrack { rate: 16000, channels: 1, config: "1408".into() };
        let mut rtp = Rtp::new(2);
        let mut out = Vec::new();
        track.packetize(&mut rtp, 1024, &[9u8; 300], &mut out);
        let p = packets(&out);
        assert_eq!(p[0].0, 2);
        assert_eq!(&p[0].3[..4], &[0x00, 0x10, (300u16 >> 5) as u8, ((300u16 & 0x1F) << 3) as u8]);
        assert_eq!(p[0].3.len(), 304);
    }

    #[test]
    fn a_sender_report_names_the_stream_and_what_it_sent() {
        let mut rtp = Rtp::new(2);
        let mut out = Vec::new();
        rtp.packet(&mut out, VIDEO_PT, 0, true, &[&[1, 2, 3]]);
        rtp.packet(&mut out, VIDEO_PT, 3000, true, &[&[4, 5]]);
        let ssrc = out[12..16].to_vec();
        let mut sr = Vec::new();
        let ntp = ntp_time(std::time::Duration::from_millis(1_500));
        rtp.sender_report(&mut sr, ntp, 3000);
        assert_eq!(sr.len(), 4 + 28);
        assert_eq!(&sr[..4], &[b'$', 3, 0, 28], "on the RTCP channel");
        assert_eq!(&sr[4..8], &[0x80, 200, 0, 6]);
        assert_eq!(&sr[8..12], &ssrc[..]);
        assert_eq!(u64::from_be_bytes(sr[12..20].try_into().expect("8 bytes")), ntp);
        assert_eq!(ntp >> 32, 2_208_988_801);
        assert_eq!(ntp & 0xFFFF_FFFF, 1 << 31, "half a second");
        assert_eq!(u32::from_be_bytes(sr[20..24].try_into().expect("4 bytes")), rtp.rtptime(3000));
        assert_eq!(u32::from_be_bytes(sr[24..28].try_into().expect("4 bytes")), 2, "packets");
        assert_eq!(u32::from_be_bytes(sr[28..32].try_into().expect("4 bytes")), 5, "payload octets");
    }

    #[test]
    fn the_sdp_names_codec_parameters_and_controls() {
        let aac = AudioTrack { rate: 16000, channels: 1, config: "1408".into() };
        let mut video = h264();
        video.fmtp = "packetization-mode=1".into();
        let sdp = media_sdp(&video, Some(&aac), |t| format!("trackID={t}"));
        assert_eq!(
            sdp,
            "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n\
             m=audio 0 RTP/AVP 97\r\na=rtpmap:97 mpeg4-generic/16000/1\r\n\
             a=fmtp:97 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1408\r\n\
             a=control:trackID=1\r\n"
        );
        assert!(!media_sdp(&video, None, |t| format!("{t}")).contains("m=audio"));
    }
}
