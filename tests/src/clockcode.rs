//! Reads the clock code of the RTSP test camera's `/clock` mount (`tests/peers/rtsp_server.py`,
//! whose header defines it): the host's wall clock at capture, in ms since the Unix epoch, drawn
//! into a frame's top-left corner as 16 × 16-pixel black and white squares, 16 wide and 5 rows
//! high (a marker row, three rows of the 48-bit time, a check row).
//!
//! [`decode_gray`] reads one decoded frame as 8-bit luma (what `ffmpeg … -f rawvideo
//! -pix_fmt gray -` writes); [`frames`] runs ffmpeg on a file or URL and reads the code of
//! each frame it decodes. [`JS`] is the same reader for a `<video>` in the browser.

use crate::media::run_tool_within;

/// Pixels per square side.
pub const SQUARE: usize = 16;
/// Squares per row (one bit each).
pub const COLUMNS: usize = 16;
/// Rows of squares: marker, three data rows, check.
pub const ROWS: usize = 5;
/// The marker row's bits.
pub const MARKER: u16 = 0xB38E;
/// The smallest frame that carries a code.
pub const MIN_WIDTH: usize = SQUARE * COLUMNS;
pub const MIN_HEIGHT: usize = SQUARE * ROWS;

/// The browser's reader: a script for [`crate::browser::Browser::execute`] that takes a
/// `<video>` element as `arguments[0]`, draws its current frame on a canvas at the video's own
/// size, and returns the frame's clock in ms (a number), or `null` when it carries no code.
pub const JS: &str = include_str!("clockcode.js");

/// The clock code of a frame given as `width` × `height` 8-bit luma samples, row after row
/// with no padding: the time in ms since the Unix epoch, or `None` when the frame has no
/// readable code (too small, wrong marker, failed check).
pub fn decode_gray(frame: &[u8], width: usize, height: usize) -> Option<u64> {
    if width < MIN_WIDTH || height < MIN_HEIGHT || frame.len() < width * height {
        return None;
    }
    let mut rows = [0u16; ROWS];
    for (r, word) in rows.iter_mut().enumerate() {
        for c in 0..COLUMNS {
            // The mean of the square's central 8 × 8 pixels, away from its blurred edges.
            let (x0, y0) = (c * SQUARE + SQUARE / 4, r * SQUARE + SQUARE / 4);
            let mut sum = 0u32;
            for y in y0..y0 + SQUARE / 2 {
                let line = &frame[y * width + x0..y * width + x0 + SQUARE / 2];
                sum += line.iter().map(|&p| u32::from(p)).sum::<u32>();
            }
            let mean = sum / (SQUARE as u32 / 2).pow(2);
            *word = (*word << 1) | u16::from(mean >= 128);
        }
    }
    let [marker, hi, mid, lo, check] = rows;
    if marker != MARKER || hi ^ mid ^ lo != check {
        return None;
    }
    Some((u64::from(hi) << 32) | (u64::from(mid) << 16) | u64::from(lo))
}

/// Decodes up to `count` frames of `input` (a file or URL, with `input_args` before `-i`, e.g.
/// `-rtsp_transport tcp`) with ffmpeg and returns each frame's code, in order. `width` and
/// `height` are the video's size. `None`: ffmpeg is not installed (skip).
pub fn frames(
    input_args: &[&str],
    input: &str,
    width: usize,
    height: usize,
    count: usize,
) -> Option<Vec<Option<u64>>> {
    let count_arg = count.to_string();
    let mut args = vec!["-hide_banner", "-loglevel", "error"];
    args.extend_from_slice(input_args);
    args.extend_from_slice(&[
        "-i",
        input,
        "-frames:v",
        &count_arg,
        // Every decoded frame once, as it comes (none duplicated or dropped for a steady rate).
        "-fps_mode",
        "passthrough",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "gray",
        "-",
    ]);
    // The camera draws each frame in Python: on a loaded 2-core machine (the other tests of
    // the file run beside it, each with its own camera) it can fall well behind real time.
    let out = run_tool_within("ffmpeg", &args, crate::WAIT * 3)?;
    assert!(out.status.success(), "ffmpeg {args:?}: {}", crate::output_text(&out));
    Some(out.stdout.chunks_exact(width * height).map(|f| decode_gray(f, width, height)).collect())
}

/// The host's wall clock now, in ms since the Unix epoch (what the code carries).
pub fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970");
    u64::try_from(since.as_millis()).expect("ms fit u64")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws a code as the camera does (white 235, black 16, grey elsewhere).
    fn draw(ms: u64, width: usize, height: usize) -> Vec<u8> {
        let words = [(ms >> 32) as u16, (ms >> 16) as u16, ms as u16];
        let rows = [MARKER, words[0], words[1], words[2], words[0] ^ words[1] ^ words[2]];
        let mut f = vec![128u8; width * height];
        for (r, word) in rows.iter().enumerate() {
            for c in 0..COLUMNS {
                let v = if word >> (COLUMNS - 1 - c) & 1 == 1 { 235 } else { 16 };
                for y in r * SQUARE..(r + 1) * SQUARE {
                    for x in c * SQUARE..(c + 1) * SQUARE {
                        f[y * width + x] = v;
                    }
                }
            }
        }
        f
    }

    #[test]
    fn reads_what_the_camera_draws() {
        let ms = 1_796_584_630_130;
        assert_eq!(decode_gray(&draw(ms, 320, 240), 320, 240), Some(ms));
    }

    #[test]
    fn refuses_a_frame_without_a_code() {
        assert_eq!(decode_gray(&vec![128u8; 320 * 240], 320, 240), None);
        let mut f = draw(1_796_584_630_130, 320, 240);
        // One data square flipped: the check row no longer matches.
        for y in SQUARE + 4..SQUARE + 12 {
            for x in 4..12 {
                f[y * 320 + x] = 255 - f[y * 320 + x];
            }
        }
        assert_eq!(decode_gray(&f, 320, 240), None);
        assert_eq!(decode_gray(&draw(1, 200, 100), 200, 100), None);
    }
}
