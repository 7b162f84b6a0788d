// Small building blocks shared by the pages: messages for the resident, an on/off switch,
// a countdown, label/value lists and a bar chart drawn in SVG (with its numbers as text too).

import { html, useEffect, useState } from './vendor/standalone.module.js';

// ---- Messages ("Done", or what went wrong), shown at the top of the page. ----

let notices = [];
let nextNotice = 1;
const noticeListeners = new Set();

function publishNotices() {
  for (const fn of noticeListeners) fn(notices);
}

/** Shows a message; `kind` is `error` or `ok`. Success messages go away after 5 s. */
export function notify(text, kind = 'ok') {
  const id = nextNotice++;
  notices = [...notices, { id, text, kind }].slice(-2);
  publishNotices();
  if (kind !== 'error') setTimeout(() => dismiss(id), 5000);
}

/** Shows an error thrown by an API call (or anything else). */
export function notifyError(e) {
  notify(e && e.message ? e.message : String(e), 'error');
}

function dismiss(id) {
  notices = notices.filter((n) => n.id !== id);
  publishNotices();
}

export function Notices() {
  const [list, setList] = useState(notices);
  useEffect(() => {
    noticeListeners.add(setList);
    return () => noticeListeners.delete(setList);
  }, []);
  return html`<div class="notices" aria-live="polite">
    ${list.map((n) => html`<div key=${n.id} class=${`notice notice-${n.kind}`} role=${n.kind === 'error' ? 'alert' : 'status'}>
      <span>${n.text}</span>
      <button type="button" class="link" onClick=${() => dismiss(n.id)} aria-label="Close this message">Close</button>
    </div>`)}
  </div>`;
}

/** Runs an API action, shows `done` (if given) or the error; returns whether it worked. */
export async function act(fn, done) {
  try {
    const r = await fn();
    if (done) notify(done);
    return r === undefined ? true : r;
  } catch (e) {
    notifyError(e);
    return false;
  }
}

/** An error box inside a page (for data that could not be loaded). */
export function LoadError({ error, what }) {
  if (!error) return null;
  return html`<p class="problem" role="alert">Could not load ${what}: ${error.message}</p>`;
}

// ---- Controls ----

/** An on/off switch: a real button with `role="switch"`. */
export function Switch({ id, on, label, onChange, disabled, busy }) {
  return html`<button type="button" id=${id} class=${`switch ${on ? 'is-on' : 'is-off'}`} role="switch"
      aria-checked=${on ? 'true' : 'false'} disabled=${disabled || busy} onClick=${() => onChange(!on)}>
    <span class="switch-track" aria-hidden="true"><span class="switch-thumb"></span></span>
    <span class="switch-label">${label}</span>
    <span class="switch-state" aria-hidden="true">${on ? 'On' : 'Off'}</span>
  </button>`;
}

/** Time left until `until`, updated every second: "12 min 05 s left". */
export function Countdown({ until }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const left = Math.max(0, Math.floor((new Date(until).getTime() - now) / 1000));
  const h = Math.floor(left / 3600);
  const m = Math.floor((left % 3600) / 60);
  const s = left % 60;
  const text = left === 0 ? 'time is up' : `${h ? `${h} h ` : ''}${m} min ${String(s).padStart(2, '0')} s left`;
  return html`<span class=${`countdown ${left < 300 ? 'urgent' : ''}`} data-seconds-left=${left}>${text}</span>`;
}

/** A list of [label, value] pairs. */
export function Facts({ rows, className = 'facts' }) {
  return html`<dl class=${className}>
    ${rows.filter((r) => r).map(([k, v]) => html`<div class="fact"><dt>${k}</dt><dd>${v}</dd></div>`)}
  </dl>`;
}

// ---- Charts ----

/**
 * A bar chart in SVG. `items`: `[{label, values: [n, …]}]` with one value per series (stacked);
 * `series`: `[{name, className}]`. The same numbers are in a table for screen readers (and for
 * anyone who prefers numbers), so the SVG itself is hidden from them.
 */
export function BarChart({ title, items, series, format = (n) => String(n), id }) {
  const max = Math.max(1, ...items.map((it) => it.values.reduce((a, b) => a + b, 0)));
  const n = Math.max(items.length, 1);
  const width = 600;
  const height = 180;
  const top = 10;
  const bottom = 30;
  const slot = width / n;
  const barW = Math.max(2, Math.min(48, slot * 0.7));
  const plotH = height - top - bottom;
  const everyLabel = Math.ceil(n / 12);
  return html`<figure class="chart" id=${id}>
    <figcaption>${title}</figcaption>
    ${items.length === 0
      ? html`<p class="muted">Nothing in this period.</p>`
      : html`<svg viewBox=${`0 0 ${width} ${height}`} class="chart-svg" aria-hidden="true" focusable="false">
        <line x1="0" x2=${width} y1=${height - bottom} y2=${height - bottom} class="axis" />
        <text x="2" y=${top + 8} class="chart-max">${format(max)}</text>
        ${items.map((it, i) => {
          let y = height - bottom;
          const x = i * slot + (slot - barW) / 2;
          return html`<g>
            ${it.values.map((v, s) => {
              const h = (v / max) * plotH;
              y -= h;
              return v > 0 ? html`<rect x=${x} y=${y} width=${barW} height=${h} class=${series[s].className}><title>${it.label}: ${format(v)} ${series[s].name}</title></rect>` : null;
            })}
            ${i % everyLabel === 0 ? html`<text x=${x + barW / 2} y=${height - bottom + 16} class="chart-label" text-anchor="middle">${it.short || it.label}</text>` : null}
          </g>`;
        })}
      </svg>
      <ul class="legend" aria-hidden="true">
        ${series.map((s) => html`<li><span class=${`swatch ${s.className}`}></span>${s.name}</li>`)}
      </ul>
      <div class="visually-hidden"><table>
        <caption>${title}</caption>
        <thead><tr><th scope="col">${'Item'}</th>${series.map((s) => html`<th scope="col">${s.name}</th>`)}</tr></thead>
        <tbody>${items.map((it) => html`<tr><th scope="row">${it.label}</th>${it.values.map((v) => html`<td>${format(v)}</td>`)}</tr>`)}</tbody>
      </table></div>`}
  </figure>`;
}
