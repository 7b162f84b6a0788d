// The /clock test camera's code (tests/peers/rtsp_server.py defines it; tests/src/clockcode.rs
// reads it from decoded frames), read from a <video> in the browser. A WebDriver script body:
// arguments[0] is the <video>. Draws the current frame on a canvas at the video's own size,
// takes the mean luma of each square's central 8 x 8 pixels, checks the marker and check rows,
// and returns the time in ms since the Unix epoch, or null when the frame has no code.
const video = arguments[0];
const SQUARE = 16, COLUMNS = 16, ROWS = 5, MARKER = 0xb38e;
const w = video.videoWidth, h = video.videoHeight;
if (!w || !h || w < SQUARE * COLUMNS || h < SQUARE * ROWS) return null;
const canvas = document.createElement('canvas');
canvas.width = w;
canvas.height = h;
const ctx = canvas.getContext('2d', { willReadFrequently: true });
ctx.drawImage(video, 0, 0, w, h);
const px = ctx.getImageData(0, 0, SQUARE * COLUMNS, SQUARE * ROWS);
const rows = [];
for (let r = 0; r < ROWS; r++) {
  let word = 0;
  for (let c = 0; c < COLUMNS; c++) {
    let sum = 0;
    for (let y = r * SQUARE + SQUARE / 4; y < r * SQUARE + (3 * SQUARE) / 4; y++) {
      for (let x = c * SQUARE + SQUARE / 4; x < c * SQUARE + (3 * SQUARE) / 4; x++) {
        const i = (y * px.width + x) * 4;
        sum += 0.299 * px.data[i] + 0.587 * px.data[i + 1] + 0.114 * px.data[i + 2];
      }
    }
    word = (word << 1) | (sum / ((SQUARE / 2) * (SQUARE / 2)) >= 128 ? 1 : 0);
  }
  rows.push(word);
}
const [marker, hi, mid, lo, check] = rows;
if (marker !== MARKER || (hi ^ mid ^ lo) !== check) return null;
return hi * 2 ** 32 + mid * 2 ** 16 + lo;
