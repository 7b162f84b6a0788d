// Recordings (`#/recordings`): one camera's day as a 24-hour timeline of what was recorded,
// the gaps (with their reason), events and pins (`GET /api/recordings`), and a player under it
// (`../playback.js`: click or drag on the timeline to play from there; gaps are skipped and
// named; previous/next event; 1×/2×/4×). A chosen time range can be downloaded as a clip
// (`/api/clips`) or pinned so that it is kept (`POST /api/pins`).

import { html, useEffect, useRef, useState } from '../vendor/standalone.module.js';
import { del, get, post, withQuery } from '../api.js';
import { Playback } from '../playback.js';
import { useLoad } from '../live.js';
import { act, LoadError } from '../ui.js';
import { clock, day, duration, localMidnight, plural, size, toDateInput, when } from '../format.js';

const W = 1440; // one unit per minute of a 24-hour day
const H = 70;
const EVENT_WORDS = {
  motion_start: 'motion', motion_end: 'motion ended', doorbell_press: 'doorbell', tamper: 'tamper', alarm: 'alarm',
  motion: 'motion', doorbell: 'doorbell',
};

/** "HH:MM:SS" (24-hour, local) for an `<input type="time">`. */
function timeValue(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function withTime(dayStart, value) {
  const [h, m, s] = value.split(':').map(Number);
  const d = new Date(dayStart);
  d.setHours(h || 0, m || 0, s || 0, 0);
  return d.getTime();
}

function Timeline({ data, dayStart, dayEnd, sel, onSeek, playhead, labels }) {
  const span = dayEnd - dayStart;
  const x = (t) => Math.min(W, Math.max(0, ((new Date(t).getTime() - dayStart) / span) * W));
  const [focus, setFocus] = useState(null);
  // Dragging shows where the playhead would go; letting go (or a click) seeks there. The ref
  // holds it for the handlers (a press and a release may come before the next render).
  const [drag, setDrag] = useState(null);
  const dragging = useRef(null);
  const timeAt = (ev) => {
    const r = ev.currentTarget.getBoundingClientRect();
    const frac = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
    return Math.round(dayStart + frac * span);
  };
  const down = (ev) => {
    if (ev.button !== undefined && ev.button !== 0) return;
    if (ev.currentTarget.setPointerCapture && ev.pointerId !== undefined) {
      try { ev.currentTarget.setPointerCapture(ev.pointerId); } catch (e) { /* a synthetic pointer */ }
    }
    dragging.current = timeAt(ev);
    setDrag(dragging.current);
  };
  const move = (ev) => {
    if (dragging.current === null) return;
    dragging.current = timeAt(ev);
    setDrag(dragging.current);
  };
  const up = (ev) => {
    if (dragging.current === null) return;
    const t = timeAt(ev);
    dragging.current = null;
    setDrag(null);
    onSeek(t);
  };
  const cancel = () => {
    dragging.current = null;
    setDrag(null);
  };
  const now = Date.now();
  const head = drag !== null ? drag : playhead;
  return html`<div class="timeline-wrap">
    <svg viewBox=${`0 0 ${W} ${H}`} class="timeline" id="timeline" preserveAspectRatio="none"
      data-view-start=${dayStart} data-view-end=${dayEnd}
      role="group" aria-label=${`Timeline from ${clock(dayStart)} to ${clock(dayEnd)}; click or drag to play from a moment`}
      onPointerDown=${down} onPointerMove=${move} onPointerUp=${up} onPointerCancel=${cancel}>
      <rect x="0" y="10" width=${W} height=${H - 20} class="tl-empty" />
      ${data.segments.map((s) => html`<rect class="tl-segment" x=${x(s.start)} y="10" width=${Math.max(0.5, x(s.end) - x(s.start))} height=${H - 20}>
        <title>Recorded ${clock(s.start)} to ${clock(s.end)}</title></rect>`)}
      ${data.gaps.map((g, i) => html`<rect class="tl-gap" x=${x(g.start)} y="10" width=${Math.max(2, x(g.end) - x(g.start))} height=${H - 20}
          tabindex="0" role="img" data-gap=${i} aria-label=${`Not recorded ${clock(g.start)} to ${clock(g.end)}: ${g.reason}`}
          onFocus=${() => setFocus(`Not recorded ${clock(g.start)} to ${clock(g.end)}: ${g.reason}`)} onBlur=${() => setFocus(null)}
          onMouseEnter=${() => setFocus(`Not recorded ${clock(g.start)} to ${clock(g.end)}: ${g.reason}`)} onMouseLeave=${() => setFocus(null)}>
        <title>Not recorded ${clock(g.start)} to ${clock(g.end)}: ${g.reason}</title></rect>`)}
      ${(data.pins || []).map((p) => html`<rect class="tl-pin" x=${x(p.from)} y="2" width=${Math.max(2, x(p.to) - x(p.from))} height="6">
        <title>Pinned ${clock(p.from)} to ${clock(p.to)}${p.reason ? `: ${p.reason}` : ''}</title></rect>`)}
      ${(data.events || []).map((e) => html`<line class=${`tl-event tl-${e.kind}`} x1=${x(e.at)} x2=${x(e.at)} y1=${H - 10} y2=${H}>
        <title>${EVENT_WORDS[e.kind] || e.kind} at ${clock(e.at)}</title></line>`)}
      ${sel.from !== null && sel.to !== null
        ? html`<rect class="tl-selection" x=${x(Math.min(sel.from, sel.to))} y="8" width=${Math.max(1, Math.abs(x(sel.to) - x(sel.from)))} height=${H - 16} />`
        : sel.from !== null ? html`<line class="tl-mark" x1=${x(sel.from)} x2=${x(sel.from)} y1="6" y2=${H - 6} /> ` : null}
      ${now > dayStart && now < dayEnd ? html`<line class="tl-now" x1=${x(now)} x2=${x(now)} y1="4" y2=${H - 4}><title>Now</title></line>` : null}
      ${head !== null && head >= dayStart && head <= dayEnd
        ? html`<line class=${drag !== null ? 'tl-playhead tl-dragging' : 'tl-playhead'} id="tl-playhead" data-at=${Math.round(head)} x1=${x(head)} x2=${x(head)} y1="0" y2=${H}><title>${drag !== null ? 'Play from' : 'Playing'} ${clock(head)}</title></line>`
        : null}
    </svg>
    <div class="tl-hours" aria-hidden="true">${labels.map((l) => html`<span>${l}</span>`)}</div>
    <p class="muted small" id="timeline-focus" aria-live="polite">${focus || 'Click or drag on the timeline to play from there. Green: recorded. Red: not recorded (move over it or tab to it for the reason). Blue marks: pinned. Ticks below: events.'}</p>
  </div>`;
}

function summaryOf(data) {
  const recorded = data.segments.reduce((a, s) => a + (new Date(s.end) - new Date(s.start)), 0) / 1000;
  const bytes = data.segments.reduce((a, s) => a + (s.bytes || 0), 0);
  return `${duration(recorded)} recorded in ${plural(data.segments.length, 'piece')} (${size(bytes)}); ${plural(data.gaps.length, 'gap')}; ${plural((data.events || []).length, 'event')}.`;
}

/** "HH:MM:SS" of a wall time, for the player's words. */
function hms(ms) {
  return timeValue(ms);
}

/** The gap (from the day's listing) that covers most of a skipped hole, for its reason. */
function gapReason(gaps, hole) {
  const g = gaps.find((x) => new Date(x.start).getTime() <= hole.to && new Date(x.end).getTime() >= hole.from);
  return g ? g.reason : 'not recorded';
}

/** The MIME type of the recording at wall time `t`, from the day's segments. */
function mimeAt(segments, t) {
  const s = segments.find((x) => new Date(x.start).getTime() <= t && t < new Date(x.end).getTime())
    || segments.find((x) => new Date(x.start).getTime() > t);
  return s ? `video/mp4; codecs="${s.codec}"` : null;
}

function Player({ camera, data, onTime, seekRef, range }) {
  const videoRef = useRef(null);
  const pbRef = useRef(null);
  const [, setTick] = useState(0);
  useEffect(() => {
    const pb = new Playback(videoRef.current, camera, (p) => {
      setTick((n) => n + 1);
      onTime(p.wallMs);
    });
    pbRef.current = pb;
    return () => pb.close();
  }, [camera]);
  const pb = pbRef.current;
  const segments = data.segments;
  const events = (data.events || []).map((e) => ({ ...e, t: new Date(e.at).getTime() }));
  const seek = (t) => pbRef.current && pbRef.current.seek(t, mimeAt(segments, t));
  seekRef.current = seek;
  const now = pb && pb.wallMs !== null ? pb.wallMs : range.from;
  const prev = events.filter((e) => now !== null && e.t < now - 4000).pop();
  const next = events.find((e) => now === null || e.t > now + 1000);
  const state = pb ? pb.state : 'idle';
  const wall = pb ? pb.wallMs : null;
  const hole = pb && pb.skipped;
  const rate = pb ? pb.rate : 1;
  return html`<section aria-labelledby="player-h" id="player" data-state=${state}
      data-wall-ms=${wall === null ? '' : Math.round(wall)} data-rate=${rate}>
    <h2 id="player-h" class="visually-hidden">Player</h2>
    <div class="player-frame">
      <video id="rec-video" ref=${videoRef} muted playsinline></video>
      ${state === 'idle' ? html`<p class="player-hint">Click the timeline to play from that moment.</p>` : null}
    </div>
    <div class="actions player-controls">
      <button type="button" class="secondary" id="play-pause" disabled=${!pb || pb.origin === null}
        onClick=${() => pb.toggle()}>${state === 'playing' ? 'Pause' : 'Play'}</button>
      <button type="button" class="secondary" id="prev-event" disabled=${!prev}
        onClick=${() => seek(prev.t - 2000)}>◀ Previous event</button>
      <button type="button" class="secondary" id="next-event" disabled=${!next}
        onClick=${() => seek(next.t - 2000)}>Next event ▶</button>
      <span class="rates" role="group" aria-label="Speed">
        ${[1, 2, 4].map((r) => html`<button type="button" id=${`rate-${r}`} aria-pressed=${rate === r ? 'true' : 'false'}
          class=${rate === r ? 'primary' : 'secondary'} onClick=${() => pb && pb.setRate(r)}>${r}×</button>`)}
      </span>
    </div>
    <p id="play-status" aria-live="polite">${
      state === 'playing' ? `Playing ${hms(wall)}${rate !== 1 ? ` at ${rate}×` : ''}`
      : state === 'paused' && wall !== null ? `Paused at ${hms(wall)}`
      : pb && pb.message ? pb.message : ''}</p>
    ${state === 'unsupported' ? html`<p class="problem" role="alert" id="play-unsupported">${pb.message}</p>` : null}
    ${state === 'error' ? html`<p class="problem" role="alert" id="play-error">${pb.message}</p>` : null}
    ${hole ? html`<p class="muted" id="gap-notice" data-from=${Math.round(hole.from)} data-to=${Math.round(hole.to)}>
      No recording ${hms(hole.from)}–${hms(hole.to)} (${gapReason(data.gaps, hole)}); skipped.</p>` : null}
  </section>`;
}

function Pins({ camera, onChanged }) {
  const { data, error, reload } = useLoad(() => get('/api/pins'), [], 60000, [camera]);
  const pins = data ? data.pins.filter((p) => !camera || p.camera === camera) : [];
  const unpin = async (id) => {
    if (await act(() => del(`/api/pins/${encodeURIComponent(id)}`), 'The pin is removed; this footage can be deleted when space is needed.')) {
      reload();
      onChanged();
    }
  };
  return html`<section aria-labelledby="pins-h" id="pins" data-count=${pins.length}>
    <h2 id="pins-h">Pinned footage of ${camera}</h2>
    <p class="muted">Pinned footage is never deleted to make room, until you unpin it.</p>
    <${LoadError} error=${error} what="the pins" />
    ${data && pins.length === 0 ? html`<p class="muted">Nothing is pinned.</p>` : null}
    <ul class="list">${pins.map((p) => html`<li data-pin-id=${p.id}>
      <span>${when(p.from)} to ${clock(p.to)}${p.reason ? ` — ${p.reason}` : ''}</span>
      <button type="button" class="secondary" id=${`unpin-${p.id}`} onClick=${() => unpin(p.id)}>Unpin</button>
    </li>`)}</ul>
  </section>`;
}

export function Recordings() {
  const cams = useLoad(() => get('/api/cameras'), ['config_reloaded'], 60000);
  const names = cams.data ? cams.data.cameras.map((c) => c.name) : [];
  const [camera, setCamera] = useState('');
  const [date, setDate] = useState(toDateInput(Date.now()));
  const [sel, setSel] = useState({ from: null, to: null });
  const [reason, setReason] = useState('');
  const [pinTick, setPinTick] = useState(0);
  const [zoom, setZoom] = useState('');
  const cam = camera || names[0] || '';
  const dayStart = localMidnight(date).getTime();
  const dayEndDate = localMidnight(date);
  dayEndDate.setDate(dayEndDate.getDate() + 1);
  const dayEnd = dayEndDate.getTime();

  useEffect(() => {
    setSel({ from: null, to: null });
    setPlayhead(null);
  }, [cam, date]);
  // The timeline shows the whole day, or one hour of it to choose a piece to the second.
  const hourStart = zoom === '' ? null : withTime(dayStart, `${zoom}:00:00`);
  const viewStart = hourStart === null ? dayStart : hourStart;
  const viewEnd = hourStart === null ? dayEnd : hourStart + 3600000;
  const p2 = (n) => String(n).padStart(2, '0');
  const labels = hourStart === null
    ? [0, 3, 6, 9, 12, 15, 18, 21].map((h) => `${p2(h)}:00`)
    : [0, 10, 20, 30, 40, 50].map((m) => `${p2(Number(zoom))}:${p2(m)}`);

  const rec = useLoad(
    () => (cam ? get(withQuery('/api/recordings', { camera: cam, from: new Date(dayStart).toISOString(), to: new Date(dayEnd).toISOString() })) : Promise.resolve(null)),
    ['segment_closed', 'camera_offline', 'camera_online'], 60000, [cam, date, pinTick],
  );

  const [playhead, setPlayhead] = useState(null);
  const seekRef = useRef(null);
  const from = sel.from;
  const to = sel.to;
  const valid = from !== null && to !== null && to > from;
  const tooLong = valid && to - from > 6 * 3600000;
  const clipHref = valid ? withQuery('/api/clips', { camera: cam, from: new Date(from).toISOString(), to: new Date(to).toISOString() }) : null;

  const pin = async () => {
    const body = { camera: cam, from: new Date(from).toISOString(), to: new Date(to).toISOString() };
    if (reason.trim()) body.reason = reason.trim();
    if (await act(() => post('/api/pins', body), 'Pinned: this footage is kept until you unpin it.')) {
      setReason('');
      setPinTick(pinTick + 1);
    }
  };

  return html`<h1>Recordings</h1>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <div class="field"><label for="rec-camera">Camera</label>
        <select id="rec-camera" value=${cam} onChange=${(e) => setCamera(e.target.value)}>
          ${names.map((n) => html`<option value=${n}>${n}</option>`)}
        </select></div>
      <div class="field"><label for="rec-day">Day</label>
        <input type="date" id="rec-day" value=${date} max=${toDateInput(Date.now())} onChange=${(e) => e.target.value && setDate(e.target.value)} /></div>
    </form>
    <${LoadError} error=${cams.error} what="the cameras" />
    ${cams.data && names.length === 0 ? html`<p class="muted">No camera is set up.</p>` : null}
    <${LoadError} error=${rec.error} what="the recordings" />
    ${rec.data ? html`<section aria-labelledby="day-h" id="day" data-camera=${cam} data-date=${date}
        data-segments=${rec.data.segments.length} data-gaps=${rec.data.gaps.length}>
      <h2 id="day-h">${cam}, ${day(dayStart)}</h2>
      <p id="day-summary">${summaryOf(rec.data)}</p>
      <div class="filters">
        <div class="field"><label for="rec-zoom">Show</label>
          <select id="rec-zoom" value=${zoom} onChange=${(e) => setZoom(e.target.value)}>
            <option value="">The whole day</option>
            ${Array.from({ length: 24 }, (_, h) => html`<option value=${p2(h)}>${p2(h)}:00 to ${p2((h + 1) % 24)}:00</option>`)}
          </select></div>
      </div>
      <${Timeline} data=${rec.data} dayStart=${viewStart} dayEnd=${viewEnd} sel=${sel} labels=${labels}
        playhead=${playhead} onSeek=${(t) => seekRef.current && seekRef.current(t)} />
      <${Player} key=${cam} camera=${cam} data=${rec.data} onTime=${setPlayhead} seekRef=${seekRef} range=${sel} />
      ${rec.data.gaps.length ? html`<details><summary>Gaps and why (${rec.data.gaps.length})</summary><ul class="list">
        ${rec.data.gaps.map((g) => html`<li>${clock(g.start)} to ${clock(g.end)}: ${g.reason}</li>`)}</ul></details>` : null}
      ${(rec.data.events || []).length ? html`<details><summary>Events (${rec.data.events.length})</summary><ul class="list">
        ${rec.data.events.map((e) => html`<li class="event-row">
          <button type="button" class="link" onClick=${() => seekRef.current && seekRef.current(new Date(e.at).getTime() - 2000)}>
            <img class="event-thumb" loading="lazy" alt="" width="96"
              src=${withQuery(`/api/cameras/${encodeURIComponent(cam)}/still`, { at: e.at, width: 192 })} />
            ${clock(e.at)}: ${EVENT_WORDS[e.kind] || e.kind}</button></li>`)}</ul></details>` : null}
    </section>` : null}
    ${cam ? html`<section aria-labelledby="range-h" id="range">
      <h2 id="range-h">Choose a piece</h2>
      <p class="muted">Type the times, or take the player's moment for either end.</p>
      <div class="filters">
        <div class="field"><label for="range-from">From</label>
          <input type="time" step="1" id="range-from" value=${from !== null ? timeValue(from) : ''}
            onChange=${(e) => e.target.value && setSel({ from: withTime(dayStart, e.target.value), to: sel.to })} /></div>
        <div class="field"><label for="range-to">To</label>
          <input type="time" step="1" id="range-to" value=${to !== null ? timeValue(to) : ''}
            onChange=${(e) => e.target.value && setSel({ from: sel.from, to: withTime(dayStart, e.target.value) })} /></div>
        <div class="actions">
          <button type="button" class="secondary" id="mark-start" disabled=${playhead === null}
            onClick=${() => setSel({ from: Math.floor(playhead / 1000) * 1000, to: sel.to })}>Start at the player's moment</button>
          <button type="button" class="secondary" id="mark-end" disabled=${playhead === null}
            onClick=${() => setSel({ from: sel.from, to: Math.ceil(playhead / 1000) * 1000 })}>End at the player's moment</button>
        </div>
      </div>
      ${from !== null && to !== null && !valid ? html`<p class="problem" role="alert">The start must be before the end.</p>` : null}
      ${tooLong ? html`<p class="problem" role="alert">A clip can be at most 6 hours long.</p>` : null}
      ${valid ? html`<p>Chosen: ${clock(from)} to ${clock(to)} (${duration((to - from) / 1000)}).</p>` : null}
      <div class="actions">
        ${valid && !tooLong
          ? html`<a class="button primary" id="download-clip" href=${clipHref} download>Export this range</a>`
          : html`<button type="button" class="primary" id="download-clip" disabled>Export this range</button>`}
        <label for="pin-reason" class="visually-hidden">Why pin it (optional)</label>
        <input id="pin-reason" placeholder="Why pin it (optional)" value=${reason} onInput=${(e) => setReason(e.target.value)} />
        <button type="button" class="secondary" id="pin" disabled=${!valid} onClick=${pin}>Pin (keep it)</button>
      </div>
    </section>
    <${Pins} key=${`${cam}-${pinTick}`} camera=${cam} onChanged=${() => setPinTick(pinTick + 1)} />` : null}`;
}
