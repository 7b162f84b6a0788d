// Recorded playback on the Recordings page: one camera's recordings from a moment on
// (`GET /api/cameras/{name}/play`) in a `<video>`, through player.js's `MsePlayer` and
// `playStream`. Media time t is wall time origin + t (`X-Porchlight-Origin`), so a gap in the
// recording is a hole in the video's buffered ranges: `Playback` jumps it and says what was
// skipped. A seek inside what this stream has buffered moves the playhead; any other asks the
// hub again from there.

import { MsePlayer, canPlay, codecName, playStream } from './player.js';
import { withQuery } from './api.js';

/** Seconds before a buffered range's end at which a hole after it counts as reached. */
const HOLE_EDGE = 0.1;

export class Playback {
  /**
   * `video`: the element; `camera`: whose recordings; `onChange(state)` is called whenever
   * something the page shows changes (state, time, a skipped gap, an error).
   */
  constructor(video, camera, onChange) {
    this.video = video;
    this.camera = camera;
    this.onChange = onChange;
    this.player = null;
    this.abort = null;
    this.origin = null;
    this.rate = 1;
    this.state = 'idle';
    this.message = '';
    this.skipped = null; // { from, to } wall ms of the last hole jumped
    this.ended = false; // the response ended (live edge, `to`, the hour)
    this.firstFrameMs = null; // from the request to the first frame shown
    this.generation = 0;
    this.timer = setInterval(() => this.tick(), 200);
    video.addEventListener('playing', () => this.set('playing'));
    video.addEventListener('pause', () => { if (this.state === 'playing') this.set('paused'); });
  }

  /** Wall time (ms since the epoch) of the frame showing, or null. */
  get wallMs() {
    return this.origin === null ? null : this.origin + this.video.currentTime * 1000;
  }

  set(state, message = '') {
    this.state = state;
    this.message = message;
    this.onChange(this);
  }

  /** Plays from wall time `at` (ms). `mime`, when known, is checked first. */
  async playFrom(at, mime) {
    if (mime && !canPlay(mime)) {
      this.stopStream();
      this.set('unsupported', `This browser cannot play ${codecName(mime)} video, so these recordings cannot be played here. Choose a range below and download the clip instead: video players on computers and phones play it.`);
      return;
    }
    const gen = ++this.generation;
    this.stopStream();
    this.skipped = null;
    this.ended = false;
    this.firstFrameMs = null;
    this.set('loading', 'Loading…');
    const started = performance.now();
    const abort = new AbortController();
    this.abort = abort;
    const player = new MsePlayer(this.video, { live: false });
    this.player = player;
    const url = withQuery(`/api/cameras/${encodeURIComponent(this.camera)}/play`, { from: new Date(at).toISOString() });
    try {
      const { origin, done } = await playStream(url, player, { signal: abort.signal });
      if (gen !== this.generation) return;
      this.origin = Date.parse(origin);
      this.video.dataset.originMs = String(this.origin);
      this.video.currentTime = Math.max(0, (at - this.origin) / 1000);
      this.video.playbackRate = this.rate;
      if (this.video.requestVideoFrameCallback) {
        this.video.requestVideoFrameCallback(() => {
          if (gen === this.generation) {
            this.firstFrameMs = Math.round(performance.now() - started);
            this.video.dataset.firstFrameMs = String(this.firstFrameMs);
          }
        });
      }
      this.video.play().catch(() => this.set('paused'));
      done.then(() => { if (gen === this.generation) this.ended = true; }, () => {});
    } catch (e) {
      if (gen !== this.generation || e.name === 'AbortError') return;
      if (e.unsupported) {
        this.set('unsupported', `${e.message} Choose a range below and download the clip instead: video players on computers and phones play it.`);
      } else if (e.status === 404) {
        this.set('error', 'Nothing was recorded from there on.');
      } else {
        this.set('error', `Cannot play: ${e.message}`);
      }
    }
  }

  /** Moves to wall time `at`: within what is buffered, else from the hub again. */
  seek(at, mime) {
    if (this.origin !== null && this.player && !this.player.closed) {
      const t = (at - this.origin) / 1000;
      const b = this.video.buffered;
      for (let i = 0; i < b.length; i++) {
        if (t >= b.start(i) && t < b.end(i) - HOLE_EDGE) {
          this.video.currentTime = t;
          if (this.video.paused) this.video.play().catch(() => {});
          return;
        }
      }
    }
    this.playFrom(at, mime);
  }

  setRate(rate) {
    this.rate = rate;
    this.video.playbackRate = rate;
    this.onChange(this);
  }

  toggle() {
    if (this.video.paused) this.video.play().catch(() => {});
    else this.video.pause();
  }

  /** Every 200 ms: jumps a hole in the buffered ranges, notices the end, reports the time. */
  tick() {
    const v = this.video;
    if (this.origin === null || !this.player) return;
    const b = v.buffered;
    const t = v.currentTime;
    let inside = false;
    let next = null;
    for (let i = 0; i < b.length; i++) {
      if (t >= b.start(i) - 0.05 && t < b.end(i) - HOLE_EDGE) inside = true;
      if (next === null && b.start(i) > t + 0.05) next = b.start(i);
    }
    if (!inside && next !== null) {
      this.skipped = { from: this.origin + t * 1000, to: this.origin + next * 1000 };
      v.currentTime = next + 0.001;
    } else if (!inside && this.ended && b.length && t >= b.end(b.length - 1) - HOLE_EDGE && this.state !== 'ended') {
      v.pause();
      this.set('ended', 'End of what was recorded from there (or of this hour): click the timeline to go on.');
      return;
    }
    this.onChange(this);
  }

  stopStream() {
    if (this.abort) this.abort.abort();
    this.abort = null;
    if (this.player) this.player.stop();
    this.player = null;
    this.origin = null;
    delete this.video.dataset.originMs;
    delete this.video.dataset.firstFrameMs;
  }

  /** Stops everything (the page goes away or the camera changes). */
  close() {
    this.generation += 1;
    clearInterval(this.timer);
    this.stopStream();
  }
}
