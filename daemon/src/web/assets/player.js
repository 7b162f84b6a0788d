// Video in the page through Media Source Extensions: the hub streams fragmented MP4 (the frames
// as the camera sent them, never re-encoded) and a `MsePlayer` appends it to a `<video>`.
// `watchLive` reads the hub's multiplexed live stream (`GET /api/live?camera=…`: all cameras of
// a page over one connection) and hands each camera's part to its player; `playStream` plays
// one plain fMP4 response (recorded playback).

const MSG_START = 0;
const MSG_MEDIA = 1;
const MSG_STATUS = 2;

/** Whether this browser can play a stream of this MIME type (H.265 often not). */
export function canPlay(mime) {
  return typeof MediaSource !== 'undefined' && MediaSource.isTypeSupported(mime);
}

/** Words for a codec string, for the resident. */
export function codecName(mime) {
  if (/hvc1|hev1/.test(mime)) return 'H.265';
  if (/avc1|avc3/.test(mime)) return 'H.264';
  return mime;
}

/**
 * One `<video>` fed through a MediaSource. `live`: keeps playback at the newest frame (a
 * viewer that fell behind, or a page that was hidden, jumps ahead) and keeps only the last
 * seconds buffered.
 */
export class MsePlayer {
  constructor(video, { live = true } = {}) {
    this.video = video;
    this.live = live;
    this.queue = [];
    this.queued = 0;
    this.sb = null;
    this.ms = null;
    this.url = null;
    this.closed = false;
    this.onFrame = null;
  }

  /** Starts a new stream of `mime` (after a previous one, from scratch). */
  start(mime) {
    this.stop();
    this.closed = false;
    const ms = new MediaSource();
    this.ms = ms;
    this.url = URL.createObjectURL(ms);
    this.video.src = this.url;
    return new Promise((resolve, reject) => {
      ms.addEventListener('sourceopen', () => {
        try {
          this.sb = ms.addSourceBuffer(mime);
          this.sb.mode = 'segments';
          this.sb.addEventListener('updateend', () => this.pump());
          this.pump();
          resolve();
        } catch (e) {
          reject(e);
        }
      }, { once: true });
    });
  }

  /** Adds bytes of the stream (any split of it). */
  append(bytes) {
    if (this.closed) return;
    this.queue.push(bytes);
    this.queued += bytes.byteLength;
    // A page in the background does not play; a live view then drops what it cannot show.
    if (this.live && this.queued > 8 << 20) {
      this.queue = [];
      this.queued = 0;
    }
    this.pump();
  }

  /** Bytes waiting to be appended, for a reader that wants to pause. */
  get backlog() {
    return this.queued;
  }

  /** Seconds buffered ahead of the playhead. */
  get ahead() {
    const b = this.video.buffered;
    return b.length ? b.end(b.length - 1) - this.video.currentTime : 0;
  }

  pump() {
    const sb = this.sb;
    if (!sb || sb.updating || this.closed) return;
    const v = this.video;
    if (this.live && v.buffered.length) {
      const end = v.buffered.end(v.buffered.length - 1);
      const start = v.buffered.start(0);
      // Far behind the newest frame (the first group of pictures, a page that was hidden):
      // jump to it. A little behind: play a little faster until caught up.
      const behind = end - v.currentTime;
      if (behind > 0.5) v.currentTime = Math.max(start, end - 0.1);
      else if (behind > 0.25) v.playbackRate = 1.1;
      else if (behind < 0.15) v.playbackRate = 1;
      // Keep 10 s at most behind the playhead.
      if (v.currentTime - start > 15) {
        sb.remove(start, v.currentTime - 10);
        return;
      }
    }
    const next = this.queue.shift();
    if (!next) return;
    this.queued -= next.byteLength;
    try {
      sb.appendBuffer(next);
    } catch (e) {
      if (e.name === 'QuotaExceededError' && v.buffered.length) {
        // Full: make room behind the playhead and try again.
        this.queue.unshift(next);
        this.queued += next.byteLength;
        const start = v.buffered.start(0);
        if (v.currentTime - start > 1) sb.remove(start, v.currentTime - 1);
      } else {
        this.closed = true;
        throw e;
      }
    }
    if (v.paused && this.live) v.play().catch(() => {});
  }

  stop() {
    this.closed = true;
    this.queue = [];
    this.queued = 0;
    this.sb = null;
    if (this.ms && this.ms.readyState === 'open') {
      try {
        this.ms.endOfStream();
      } catch (e) {
        // Already ended.
      }
    }
    this.ms = null;
    if (this.url) {
      this.video.removeAttribute('src');
      this.video.load();
      URL.revokeObjectURL(this.url);
      this.url = null;
    }
  }
}

/** Splits the multiplexed stream into messages: `[kind][camera][u32 length][payload]`. */
class Messages {
  constructor() {
    this.buf = new Uint8Array(0);
  }

  push(chunk) {
    const b = new Uint8Array(this.buf.length + chunk.length);
    b.set(this.buf);
    b.set(chunk, this.buf.length);
    this.buf = b;
    const out = [];
    let at = 0;
    while (this.buf.length - at >= 6) {
      const len = new DataView(this.buf.buffer, this.buf.byteOffset + at + 2, 4).getUint32(0);
      if (this.buf.length - at - 6 < len) break;
      out.push({ kind: this.buf[at], camera: this.buf[at + 1], payload: this.buf.slice(at + 6, at + 6 + len) });
      at += 6 + len;
    }
    this.buf = this.buf.slice(at);
    return out;
  }
}

/**
 * Watches `cameras` live over one connection until the returned function is called.
 * `on.start(i, info)`: camera `i` starts (info: codec, origin, width, height, audio);
 * `on.media(i, bytes)`; `on.status(i, info)`: it cannot be watched now (info.error says why);
 * `on.connection(ok, message)`. Reconnects by itself after a lost connection.
 */
export function watchLive(cameras, on) {
  let stopped = false;
  let controller = null;
  let failures = 0;
  const decoder = new TextDecoder();
  const json = (p) => {
    try {
      return JSON.parse(decoder.decode(p));
    } catch (e) {
      return {};
    }
  };
  async function run() {
    while (!stopped) {
      controller = new AbortController();
      const query = cameras.map((c) => `camera=${encodeURIComponent(c)}`).join('&');
      try {
        const res = await fetch(`/api/live?${query}`, { credentials: 'same-origin', signal: controller.signal });
        if (res.status === 401) {
          location.assign('/login');
          return;
        }
        if (!res.ok) {
          const body = await res.json().catch(() => ({}));
          throw new Error(body.error || `the hub answered ${res.status}`);
        }
        on.connection(true);
        failures = 0;
        const reader = res.body.getReader();
        const messages = new Messages();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const m of messages.push(value)) {
            if (m.kind === MSG_START) on.start(m.camera, json(m.payload));
            else if (m.kind === MSG_MEDIA) on.media(m.camera, m.payload);
            else if (m.kind === MSG_STATUS) on.status(m.camera, json(m.payload));
          }
        }
        if (!stopped) on.connection(false, 'The live stream ended; connecting again…');
      } catch (e) {
        if (stopped) return;
        on.connection(false, e.name === 'TypeError' ? 'The hub cannot be reached right now; trying again…' : `${e.message}; trying again…`);
      }
      failures += 1;
      await new Promise((r) => setTimeout(r, Math.min(10000, 500 * 2 ** Math.min(failures, 5))));
    }
  }
  run();
  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}

/**
 * Plays one fMP4 response (e.g. recorded playback) in `player`, reading only as fast as it is
 * watched: the reader pauses while more than `aheadSeconds` are buffered. Returns
 * `{ origin, mime, done }` once the stream has started; `done` settles when it ends.
 * `signal` aborts it.
 */
export async function playStream(url, player, { signal, aheadSeconds = 30 } = {}) {
  const res = await fetch(url, { credentials: 'same-origin', signal });
  if (res.status === 401) {
    location.assign('/login');
    throw new Error('Your sign-in has ended. Please sign in again.');
  }
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    const err = new Error(body.error || `the hub answered ${res.status}`);
    err.status = res.status;
    throw err;
  }
  const mime = res.headers.get('X-Porchlight-Codec') || 'video/mp4';
  const origin = res.headers.get('X-Porchlight-Origin');
  if (!canPlay(mime)) {
    res.body.cancel().catch(() => {});
    const err = new Error(`This browser cannot play ${codecName(mime)} video.`);
    err.unsupported = true;
    throw err;
  }
  await player.start(mime);
  const reader = res.body.getReader();
  const done = (async () => {
    for (;;) {
      while (player.ahead > aheadSeconds || player.backlog > 4 << 20) {
        if (signal && signal.aborted) return;
        await new Promise((r) => setTimeout(r, 250));
      }
      const { value, done: end } = await reader.read();
      if (end) return;
      player.append(value);
    }
  })();
  return { origin, mime, done };
}
