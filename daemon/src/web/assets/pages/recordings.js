// Recordings (`#/recordings`): one camera's day as a 24-hour timeline of what was recorded,
// the gaps (with their reason), events and pins (`GET /api/recordings`); a chosen time range can
// be downloaded as a clip (`/api/clips`) or pinned so that it is kept (`POST /api/pins`).

import { html, useEffect, useState } from '../vendor/standalone.module.js';
import { del, get, post, withQuery } from '../api.js';
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

function Timeline({ data, dayStart, dayEnd, sel, onPick, labels }) {
  const span = dayEnd - dayStart;
  const x = (t) => Math.min(W, Math.max(0, ((new Date(t).getTime() - dayStart) / span) * W));
  const [focus, setFocus] = useState(null);
  const click = (ev) => {
    const svg = ev.currentTarget;
    const r = svg.getBoundingClientRect();
    const frac = (ev.clientX - r.left) / r.width;
    onPick(Math.round(dayStart + frac * span));
  };
  const now = Date.now();
  return html`<div class="timeline-wrap">
    <svg viewBox=${`0 0 ${W} ${H}`} class="timeline" id="timeline" preserveAspectRatio="none"
      role="group" aria-label=${`Timeline from ${clock(dayStart)} to ${clock(dayEnd)}; click to choose the start, then the end, of a piece`} onClick=${click}>
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
    </svg>
    <div class="tl-hours" aria-hidden="true">${labels.map((l) => html`<span>${l}</span>`)}</div>
    <p class="muted small" id="timeline-focus" aria-live="polite">${focus || 'Green: recorded. Red: not recorded (move over it or tab to it for the reason). Blue marks: pinned. Ticks below: events.'}</p>
  </div>`;
}

function summaryOf(data) {
  const recorded = data.segments.reduce((a, s) => a + (new Date(s.end) - new Date(s.start)), 0) / 1000;
  const bytes = data.segments.reduce((a, s) => a + (s.bytes || 0), 0);
  return `${duration(recorded)} recorded in ${plural(data.segments.length, 'piece')} (${size(bytes)}); ${plural(data.gaps.length, 'gap')}; ${plural((data.events || []).length, 'event')}.`;
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

  useEffect(() => setSel({ from: null, to: null }), [cam, date]);
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
    [], 60000, [cam, date, pinTick],
  );

  const pick = (t) => setSel((s) => {
    if (s.from === null || s.to !== null) return { from: t, to: null };
    return t < s.from ? { from: t, to: s.from } : { from: s.from, to: t };
  });
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
      <${Timeline} data=${rec.data} dayStart=${viewStart} dayEnd=${viewEnd} sel=${sel} onPick=${pick} labels=${labels} />
      ${rec.data.gaps.length ? html`<details><summary>Gaps and why (${rec.data.gaps.length})</summary><ul class="list">
        ${rec.data.gaps.map((g) => html`<li>${clock(g.start)} to ${clock(g.end)}: ${g.reason}</li>`)}</ul></details>` : null}
      ${(rec.data.events || []).length ? html`<details><summary>Events (${rec.data.events.length})</summary><ul class="list">
        ${rec.data.events.map((e) => html`<li>${clock(e.at)}: ${EVENT_WORDS[e.kind] || e.kind}</li>`)}</ul></details>` : null}
    </section>` : null}
    ${cam ? html`<section aria-labelledby="range-h" id="range">
      <h2 id="range-h">Choose a piece</h2>
      <p class="muted">Click the timeline twice (start, then end), or type the times.</p>
      <div class="filters">
        <div class="field"><label for="range-from">From</label>
          <input type="time" step="1" id="range-from" value=${from !== null ? timeValue(from) : ''}
            onChange=${(e) => e.target.value && setSel({ from: withTime(dayStart, e.target.value), to: sel.to })} /></div>
        <div class="field"><label for="range-to">To</label>
          <input type="time" step="1" id="range-to" value=${to !== null ? timeValue(to) : ''}
            onChange=${(e) => e.target.value && setSel({ from: sel.from, to: withTime(dayStart, e.target.value) })} /></div>
      </div>
      ${from !== null && to !== null && !valid ? html`<p class="problem" role="alert">The start must be before the end.</p>` : null}
      ${tooLong ? html`<p class="problem" role="alert">A clip can be at most 6 hours long.</p>` : null}
      ${valid ? html`<p>Chosen: ${clock(from)} to ${clock(to)} (${duration((to - from) / 1000)}).</p>` : null}
      <div class="actions">
        ${valid && !tooLong
          ? html`<a class="button primary" id="download-clip" href=${clipHref} download>Download clip</a>`
          : html`<button type="button" class="primary" id="download-clip" disabled>Download clip</button>`}
        <label for="pin-reason" class="visually-hidden">Why pin it (optional)</label>
        <input id="pin-reason" placeholder="Why pin it (optional)" value=${reason} onInput=${(e) => setReason(e.target.value)} />
        <button type="button" class="secondary" id="pin" disabled=${!valid} onClick=${pin}>Pin (keep it)</button>
      </div>
    </section>
    <${Pins} key=${`${cam}-${pinTick}`} camera=${cam} onChanged=${() => setPinTick(pinTick + 1)} />` : null}`;
}
