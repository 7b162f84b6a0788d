// What left the house (`#/report`): for a chosen period, the totals from `GET /api/report` in
// sentences and big numbers, bar charts per day and per requester, every request with its
// outcome and what was actually sent, whether the audit record is intact, and downloads.

import { html, useMemo, useState } from '../vendor/standalone.module.js';
import { get, withQuery } from '../api.js';
import { useLoad } from '../live.js';
import { BarChart, LoadError } from '../ui.js';
import {
  cameraList, day, decidedBy, duration, KIND_WORDS, localMidnight, mb, plural, REQUESTER_KINDS,
  toDateInput, when,
} from '../format.js';

/** [from, to) of a period: local calendar Dates; `to` is null for "until now". */
function periodRange(period, customFrom, customTo) {
  const now = new Date();
  const start = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  switch (period) {
    case 'week': {
      const monday = new Date(start);
      monday.setDate(start.getDate() - ((start.getDay() + 6) % 7));
      return [monday, null];
    }
    case 'month':
      return [new Date(now.getFullYear(), now.getMonth(), 1), null];
    case 'year':
      return [new Date(now.getFullYear(), 0, 1), null];
    default: {
      const f = localMidnight(customFrom);
      const t = localMidnight(customTo);
      t.setDate(t.getDate() + 1);
      return [f, t];
    }
  }
}

function Total({ name, value, label, shown }) {
  return html`<div class="total">
    <span class="total-number" data-total=${name} data-value=${value}>${shown === undefined ? value : shown}</span>
    <span class="total-label">${label}</span>
  </div>`;
}

function Chain({ chain }) {
  if (!chain) return null;
  if (chain.state === 'intact') {
    return html`<p class="chain chain-intact" id="chain-status" data-chain="intact" data-entries=${chain.entries}>
      <strong>The record is intact:</strong> ${plural(chain.entries, 'entry', 'entries')}, each one sealed to the one before, so none was changed or removed.
    </p>`;
  }
  return html`<p class="chain chain-broken" id="chain-status" data-chain="broken" data-line=${chain.line} role="alert">
    <strong>The record is broken at entry ${chain.line}:</strong> ${chain.message}. Entries from there on cannot be trusted;
    keep a copy of the hub's audit folder and ask someone you trust to look at it.
  </p>`;
}

function summary(t, from, to) {
  const period = `Between ${day(from)} and ${day(new Date(new Date(to).getTime() - 1))}`;
  if (!t.requests && !t.bytes && !t.resident_shares) return `${period}, nobody asked for footage and nothing left the house.`;
  const parts = [];
  if (t.clips) parts.push(`${plural(t.clips, 'clip')} (${mb(t.clip_bytes)})`);
  if (t.stills) parts.push(`${plural(t.stills, 'still image')} (${mb(t.still_bytes)})`);
  if (t.live_streams) parts.push(`${duration(t.live_seconds)} of live video in ${plural(t.live_streams, 'stream')} (${mb(t.live_bytes)})`);
  let s = `${period}, ${plural(t.requests, 'request')} for footage came in: ${t.allowed} allowed, ${t.denied} refused`;
  s += t.undecided ? `, ${t.undecided} not decided.` : '.';
  s += parts.length ? ` What left the house: ${parts.join(', ')}, ${mb(t.bytes)} in all.` : ' No footage left the house.';
  if (t.resident_shares) s += ` You shared ${plural(t.resident_shares, 'clip')} yourself.`;
  if (t.revoked) s += ` You stopped ${plural(t.revoked, 'share')}.`;
  if (t.failed) s += ` ${plural(t.failed, 'share')} could not be made.`;
  return s;
}

function sent(s) {
  if (!s) return '—';
  const parts = [];
  if (s.clips) parts.push(`${plural(s.clips, 'clip')}, ${mb(s.clip_bytes)}`);
  if (s.stills) parts.push(`${plural(s.stills, 'still image')}, ${mb(s.still_bytes)}`);
  if (s.live_seconds) parts.push(`${duration(s.live_seconds)} live, ${mb(s.live_bytes)}`);
  return parts.length ? parts.join('; ') : 'Nothing';
}

const OUTCOMES = { allowed: 'Allowed', denied: 'Refused', undecided: 'Not decided' };

export function Report() {
  const [period, setPeriod] = useState('week');
  const [customFrom, setCustomFrom] = useState(toDateInput(Date.now() - 7 * 86400000));
  const [customTo, setCustomTo] = useState(toDateInput(Date.now()));
  const [from, to] = useMemo(() => periodRange(period, customFrom, customTo), [period, customFrom, customTo]);
  const q = { from: from.toISOString(), to: to ? to.toISOString() : 'now' };
  const { data, error } = useLoad(() => get(withQuery('/api/report', q)), ['decision_made', 'relay_stopped'], 60000, [q.from, q.to]);
  const t = data ? data.totals : null;

  return html`<h1>What left the house</h1>
    <p class="no-print">Everything your hub shared, and every request it answered, as written in its tamper-evident record.</p>
    <form class="filters no-print" onSubmit=${(e) => e.preventDefault()}>
      <fieldset class="segmented">
        <legend>Period</legend>
        ${[['week', 'This week'], ['month', 'This month'], ['year', 'This year'], ['custom', 'Choose dates']].map(([v, label]) => html`<label class=${period === v ? 'checked' : ''}>
          <input type="radio" name="report-period" id=${`period-${v}`} value=${v} checked=${period === v} onChange=${() => setPeriod(v)} /> ${label}
        </label>`)}
      </fieldset>
      ${period === 'custom' ? html`<div class="field">
          <label for="report-from">From</label>
          <input type="date" id="report-from" value=${customFrom} onChange=${(e) => setCustomFrom(e.target.value)} />
        </div>
        <div class="field">
          <label for="report-to">To (included)</label>
          <input type="date" id="report-to" value=${customTo} onChange=${(e) => setCustomTo(e.target.value)} />
        </div>` : null}
    </form>
    <div class="actions no-print">
      <a class="button" id="download-csv" href=${withQuery('/api/report', { ...q, format: 'csv' })} download>Download CSV</a>
      <a class="button" id="download-html" href=${withQuery('/api/report', { ...q, format: 'html' })} download>Download report (HTML)</a>
      <button type="button" class="secondary" id="print" onClick=${() => print()}>Print</button>
    </div>
    <${LoadError} error=${error} what="the report" />
    ${!data && !error ? html`<p>Loading…</p>` : null}
    ${data ? html`<div id="report" data-from=${data.from} data-to=${data.to}>
      <p class="print-only">Porchlight hub “${data.hub}”, report made ${when(data.generated)}.</p>
      <${Chain} chain=${data.chain} />
      <p class="summary" id="report-summary">${summary(t, data.from, data.to)}</p>
      <div class="totals">
        <${Total} name="requests" value=${t.requests} label="requests" />
        <${Total} name="allowed" value=${t.allowed} label="allowed" />
        <${Total} name="denied" value=${t.denied} label="refused" />
        <${Total} name="undecided" value=${t.undecided} label="not decided" />
        <${Total} name="clips" value=${t.clips} label="clips sent" />
        <${Total} name="stills" value=${t.stills} label="still images sent" />
        <${Total} name="live_minutes" value=${Math.round(t.live_seconds / 6) / 10} label="minutes of live video" />
        <${Total} name="bytes" value=${t.bytes} shown=${mb(t.bytes)} label="of footage in all" />
        <${Total} name="resident_shares" value=${t.resident_shares} label="shared by you" />
        <${Total} name="revoked" value=${t.revoked} label="stopped by you" />
        <${Total} name="failed" value=${t.failed} label="could not be made" />
      </div>
      <div class="charts">
        <${BarChart} id="chart-days" title="Requests per day"
          series=${[{ name: 'allowed', className: 'bar-allowed' }, { name: 'refused', className: 'bar-denied' }, { name: 'not decided', className: 'bar-other' }]}
          items=${data.by_day.map((d) => ({
            label: day(localMidnight(d.date)),
            short: d.date.slice(5),
            values: [d.allowed, d.denied, Math.max(0, d.requests - d.allowed - d.denied)],
          }))} />
        <${BarChart} id="chart-requesters" title="Requests per requester"
          series=${[{ name: 'allowed', className: 'bar-allowed' }, { name: 'refused', className: 'bar-denied' }, { name: 'not decided', className: 'bar-other' }]}
          items=${data.by_requester.map((r) => ({
            label: `${r.organisation} (${REQUESTER_KINDS[r.kind] || r.kind})`,
            short: r.organisation.length > 14 ? `${r.organisation.slice(0, 13)}…` : r.organisation,
            values: [r.allowed, r.denied, Math.max(0, r.requests - r.allowed - r.denied)],
          }))} />
      </div>
      <h2>Every request</h2>
      ${data.requests.length === 0 ? html`<p class="muted">No request in this period.</p>` : html`<div class="table-wrap">
        <table class="data" id="report-table">
          <thead><tr>
            <th scope="col">Came in</th><th scope="col">From</th><th scope="col">Asked for</th>
            <th scope="col">Legal basis</th><th scope="col">Answer</th><th scope="col">Actually sent</th>
          </tr></thead>
          <tbody>${data.requests.map((r) => html`<tr data-request-id=${r.id} data-outcome=${r.outcome}>
            <td data-label="Came in">${when(r.received)}<div class="muted small"><code>${r.id}</code></div></td>
            <td data-label="From">${r.requester ? r.requester.organisation : '—'}${r.requester && r.requester.person ? html`<div class="muted small">${r.requester.person}</div>` : null}</td>
            <td data-label="Asked for">${KIND_WORDS[r.kind] || r.kind}, ${cameraList(r.cameras)}
              ${r.from && r.to ? html`<div class="muted small">${when(r.from)} to ${when(r.to)}</div>` : null}
              ${r.max_seconds ? html`<div class="muted small">up to ${duration(r.max_seconds)}</div>` : null}
              ${r.reason ? html`<div class="muted small">“${r.reason}”${r.case_number ? `, case ${r.case_number}` : ''}</div>` : null}</td>
            <td data-label="Legal basis">${r.legal_basis ? ({ warrant: `Warrant ${r.legal_basis.reference || ''}`, exigent: 'Emergency', consent: 'Consent', none: 'None' }[r.legal_basis.type] || r.legal_basis.type) : '—'}</td>
            <td data-label="Answer"><span class=${`pill outcome-${r.outcome}`}>${OUTCOMES[r.outcome] || r.outcome}</span>
              <div class="muted small">by ${decidedBy(r.decided_by)}</div>
              ${r.deny_reason ? html`<div class="muted small">${r.deny_reason}</div>` : null}
              ${r.revoked_by ? html`<div class="muted small">Stopped by ${r.revoked_by}</div>` : null}</td>
            <td data-label="Actually sent">${sent(r.sent)}</td>
          </tr>`)}</tbody>
        </table>
      </div>`}
      ${data.resident_shares && data.resident_shares.length ? html`<h2>Shared by you</h2>
        <div class="table-wrap"><table class="data" id="resident-shares-table">
          <thead><tr><th scope="col">When</th><th scope="col">Camera and time</th><th scope="col">To</th><th scope="col">Note</th></tr></thead>
          <tbody>${data.resident_shares.map((s) => html`<tr data-request-id=${s.request_id}>
            <td data-label="When">${when(s.time)}</td><td data-label="Camera and time">${s.camera}, ${when(s.from)} to ${when(s.to)}</td>
            <td data-label="To">${s.destination === 'center' ? 'the requests center' : 'files on the hub'}</td><td data-label="Note">${s.note || ''}</td>
          </tr>`)}</tbody>
        </table></div>` : null}
    </div>` : null}`;
}
