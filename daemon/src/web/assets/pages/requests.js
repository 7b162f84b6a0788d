// Requests (`#/requests`): every request waiting for the resident's answer, in full, with
// Approve (as asked or narrowed: the form only offers less than was asked) and Deny; then the
// history of decided requests from the report (`GET /api/report`) with filters.

import { html, useEffect, useMemo, useRef, useState } from '../vendor/standalone.module.js';
import { get, post, withQuery } from '../api.js';
import { useLoad } from '../live.js';
import { act, Countdown, Facts, LoadError } from '../ui.js';
import {
  asksFor, cameraList, decidedBy, duration, KIND_WORDS, legalBasis, REQUESTER_KINDS, requester,
  size, toDateInput, toLocalInput, when, localMidnight,
} from '../format.js';

const RELOAD_ON = ['request_pending', 'decision_made', 'privacy_changed'];

function NarrowForm({ p, onDone, onCancel }) {
  const kind = p.request.kind;
  const [cams, setCams] = useState(kind.cameras.slice());
  const [from, setFrom] = useState(kind.type === 'clip' ? toLocalInput(kind.from) : '');
  const [to, setTo] = useState(kind.type === 'clip' ? toLocalInput(kind.to) : '');
  const [seconds, setSeconds] = useState(kind.type === 'live' ? kind.max_seconds : 0);
  const [strip, setStrip] = useState(false);
  const [problem, setProblem] = useState('');
  const [busy, setBusy] = useState(false);
  const pid = `narrow-${p.id}`;
  const heading = useRef(null);
  useEffect(() => heading.current && heading.current.focus(), []);

  const submit = async (ev) => {
    ev.preventDefault();
    const body = { cameras: cams };
    if (cams.length === 0) return setProblem('Choose at least one camera, or refuse the request instead.');
    if (kind.type === 'clip') {
      // An unchanged field keeps the requested time exactly (the field only shows whole seconds).
      const f = from === toLocalInput(kind.from) ? new Date(kind.from) : new Date(from);
      const t = to === toLocalInput(kind.to) ? new Date(kind.to) : new Date(to);
      if (Number.isNaN(f.getTime()) || Number.isNaN(t.getTime())) return setProblem('Give both a start and an end time.');
      if (f >= t) return setProblem('The start must be before the end.');
      if (f < new Date(kind.from) || t > new Date(kind.to)) return setProblem('You can only share less than was asked: keep the times inside the requested ones.');
      body.from = f.toISOString();
      body.to = t.toISOString();
    }
    if (kind.type === 'live') {
      const n = Number(seconds);
      if (!Number.isInteger(n) || n < 1 || n > kind.max_seconds) return setProblem(`Give a whole number of seconds from 1 to ${kind.max_seconds}.`);
      body.live_max_seconds = n;
    }
    if (kind.type !== 'snapshot') body.strip_audio = strip;
    setProblem('');
    setBusy(true);
    const ok = await act(() => post(`/api/requests/${encodeURIComponent(p.id)}/approve`, body), `Request ${p.id} approved with your limits.`);
    setBusy(false);
    if (ok) onDone();
  };

  const toggle = (c) => setCams(cams.includes(c) ? cams.filter((x) => x !== c) : kind.cameras.filter((x) => x === c || cams.includes(x)));

  return html`<form class="narrow" id=${pid} onSubmit=${submit} aria-labelledby=${`${pid}-h`}>
    <h4 id=${`${pid}-h`} tabindex="-1" ref=${heading}>Share less than was asked</h4>
    <p class="muted small">You can only take away: fewer cameras, a shorter time, no sound.</p>
    <fieldset>
      <legend>Cameras to share</legend>
      ${kind.cameras.map((c) => html`<label class="check">
        <input type="checkbox" id=${`${pid}-cam-${c}`} checked=${cams.includes(c)} onChange=${() => toggle(c)} /> ${c}
      </label>`)}
    </fieldset>
    ${kind.type === 'clip' ? html`<fieldset>
      <legend>Time to share (asked: ${when(kind.from)} to ${when(kind.to)})</legend>
      <label for=${`${pid}-from`}>From</label>
      <input type="datetime-local" step="1" id=${`${pid}-from`} value=${from} min=${toLocalInput(kind.from)} max=${toLocalInput(kind.to)} onInput=${(e) => setFrom(e.target.value)} />
      <label for=${`${pid}-to`}>To</label>
      <input type="datetime-local" step="1" id=${`${pid}-to`} value=${to} min=${toLocalInput(kind.from)} max=${toLocalInput(kind.to)} onInput=${(e) => setTo(e.target.value)} />
    </fieldset>` : null}
    ${kind.type === 'live' ? html`<div class="field">
      <label for=${`${pid}-seconds`}>Longest live video, in seconds (asked: ${kind.max_seconds} s, ${duration(kind.max_seconds)})</label>
      <input type="number" id=${`${pid}-seconds`} min="1" max=${kind.max_seconds} step="1" value=${seconds} onInput=${(e) => setSeconds(e.target.value)} />
    </div>` : null}
    ${kind.type !== 'snapshot' ? html`<label class="check">
      <input type="checkbox" id=${`${pid}-strip-audio`} checked=${strip} onChange=${(e) => setStrip(e.target.checked)} /> Leave the sound out
    </label>` : null}
    ${problem ? html`<p class="problem" role="alert">${problem}</p>` : null}
    <div class="actions">
      <button type="submit" class="primary" id=${`approve-narrowed-${p.id}`} disabled=${busy}>Approve with these limits</button>
      <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}

function DenyForm({ p, onDone, onCancel }) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const box = useRef(null);
  useEffect(() => box.current && box.current.focus(), []);
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    const body = reason.trim() ? { reason: reason.trim() } : undefined;
    const ok = await act(() => post(`/api/requests/${encodeURIComponent(p.id)}/deny`, body), `Request ${p.id} refused.`);
    setBusy(false);
    if (ok) onDone();
  };
  return html`<form class="deny" id=${`deny-form-${p.id}`} onSubmit=${submit}>
    <label for=${`deny-reason-${p.id}`}>Why not? (optional; the requester sees this)</label>
    <textarea ref=${box} id=${`deny-reason-${p.id}`} rows="2" maxlength="512" value=${reason} onInput=${(e) => setReason(e.target.value)}></textarea>
    <div class="actions">
      <button type="submit" class="danger" id=${`deny-confirm-${p.id}`} disabled=${busy}>Refuse the request</button>
      <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}

function Pending({ p, privacyOn, onChanged }) {
  const [open, setOpen] = useState('');
  const [busy, setBusy] = useState(false);
  const r = p.request;
  const approve = async () => {
    setBusy(true);
    const ok = await act(() => post(`/api/requests/${encodeURIComponent(p.id)}/approve`), `Request ${p.id} approved as asked.`);
    setBusy(false);
    if (ok) onChanged();
  };
  const done = () => {
    setOpen('');
    onChanged();
  };
  const rows = [
    ['From', requester(r.requester)],
    ['Asks for', asksFor(r.kind)],
    ...legalBasis(r.legal_basis),
    ['Their reason', r.reason || 'None given'],
    ['Case number', r.case_number || 'None given'],
    ['Came in', `${when(p.asked_at)}${p.source === 'relay' ? ' through the requests center' : p.source === 'api' ? ' through the API' : ''}`],
    ['Answer by', html`${when(p.expires)} (<${Countdown} until=${p.expires} />). No answer means no.`],
  ];
  return html`<li class="card request" data-request-id=${p.id} data-kind=${r.kind.type}>
    <h3>Request <code>${p.id}</code>: ${KIND_WORDS[r.kind.type] || r.kind.type} for ${r.requester.organisation}</h3>
    <${Facts} rows=${rows} />
    <details class="prompt" open>
      <summary>The question from your sharing rules</summary>
      <pre>${p.prompt}</pre>
    </details>
    ${privacyOn ? html`<p class="note">Privacy mode is on, so you cannot approve anything. Turn it off on the home page first.</p>` : null}
    <div class="actions">
      <button type="button" class="primary" id=${`approve-${p.id}`} disabled=${busy || privacyOn} onClick=${approve}>Approve as asked</button>
      <button type="button" class="secondary" id=${`narrow-open-${p.id}`} disabled=${privacyOn} aria-expanded=${open === 'narrow' ? 'true' : 'false'}
        onClick=${() => setOpen(open === 'narrow' ? '' : 'narrow')}>Approve less…</button>
      <button type="button" class="danger" id=${`deny-${p.id}`} aria-expanded=${open === 'deny' ? 'true' : 'false'}
        onClick=${() => setOpen(open === 'deny' ? '' : 'deny')}>Refuse…</button>
    </div>
    ${open === 'narrow' ? html`<${NarrowForm} p=${p} onDone=${done} onCancel=${() => setOpen('')} />` : null}
    ${open === 'deny' ? html`<${DenyForm} p=${p} onDone=${done} onCancel=${() => setOpen('')} />` : null}
  </li>`;
}

function sentWords(s) {
  if (!s) return 'nothing';
  const parts = [];
  if (s.clips) parts.push(`${s.clips} clip${s.clips === 1 ? '' : 's'} (${size(s.clip_bytes)})`);
  if (s.stills) parts.push(`${s.stills} still image${s.stills === 1 ? '' : 's'} (${size(s.still_bytes)})`);
  if (s.live_seconds) parts.push(`${duration(s.live_seconds)} of live video (${size(s.live_bytes)})`);
  return parts.length ? parts.join(', ') : 'nothing';
}

const OUTCOMES = { allowed: 'Allowed', denied: 'Refused', undecided: 'Not decided' };

function History() {
  const [days, setDays] = useState('30');
  const [fromDate, setFromDate] = useState(toDateInput(Date.now() - 30 * 86400000));
  const [toDate, setToDate] = useState(toDateInput(Date.now()));
  const [who, setWho] = useState('');
  const [kind, setKind] = useState('');
  const [outcome, setOutcome] = useState('');
  const [onDay, setOnDay] = useState('');

  const range = useMemo(() => {
    if (days === 'custom') {
      const f = localMidnight(fromDate);
      const t = localMidnight(toDate);
      t.setDate(t.getDate() + 1);
      return { from: f.toISOString(), to: t.toISOString() };
    }
    return { from: `-${days}d`, to: 'now' };
  }, [days, fromDate, toDate]);

  const { data, error } = useLoad(() => get(withQuery('/api/report', range)), ['decision_made'], 60000, [range.from, range.to]);
  const rows = data ? data.requests.slice().reverse() : [];
  const orgs = [...new Set(rows.map((r) => r.requester && r.requester.organisation))].filter(Boolean).sort();
  const shown = rows.filter((r) => (!who || (r.requester && r.requester.organisation === who))
    && (!kind || r.kind === kind)
    && (!outcome || r.outcome === outcome)
    && (!onDay || toDateInput(r.received) === onDay));

  return html`<section aria-labelledby="history-h" id="history">
    <h2 id="history-h">Decided requests</h2>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <div class="field">
        <label for="history-period">Period</label>
        <select id="history-period" value=${days} onChange=${(e) => setDays(e.target.value)}>
          <option value="7">Last 7 days</option>
          <option value="30">Last 30 days</option>
          <option value="90">Last 90 days</option>
          <option value="365">Last year</option>
          <option value="custom">Choose dates…</option>
        </select>
      </div>
      ${days === 'custom' ? html`<div class="field">
          <label for="history-from">From</label>
          <input type="date" id="history-from" value=${fromDate} onChange=${(e) => setFromDate(e.target.value)} />
        </div>
        <div class="field">
          <label for="history-to">To</label>
          <input type="date" id="history-to" value=${toDate} onChange=${(e) => setToDate(e.target.value)} />
        </div>` : null}
      <div class="field">
        <label for="history-requester">Requester</label>
        <select id="history-requester" value=${who} onChange=${(e) => setWho(e.target.value)}>
          <option value="">Everyone</option>
          ${orgs.map((o) => html`<option value=${o}>${o}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="history-kind">What was asked</label>
        <select id="history-kind" value=${kind} onChange=${(e) => setKind(e.target.value)}>
          <option value="">Anything</option>
          <option value="clip">Recorded video</option>
          <option value="live">Live video</option>
          <option value="snapshot">Still images</option>
        </select>
      </div>
      <div class="field">
        <label for="history-outcome">Answer</label>
        <select id="history-outcome" value=${outcome} onChange=${(e) => setOutcome(e.target.value)}>
          <option value="">Any</option>
          <option value="allowed">Allowed</option>
          <option value="denied">Refused</option>
          <option value="undecided">Not decided</option>
        </select>
      </div>
      <div class="field">
        <label for="history-day">On the day</label>
        <input type="date" id="history-day" value=${onDay} onChange=${(e) => setOnDay(e.target.value)} />
      </div>
    </form>
    <${LoadError} error=${error} what="the history" />
    ${!data && !error ? html`<p>Loading…</p>` : null}
    ${data ? html`<p class="muted" id="history-count">${shown.length} of ${rows.length} requests shown.</p>
      <div class="table-wrap">
        <table class="data" id="history-table">
          <thead><tr>
            <th scope="col">Came in</th><th scope="col">From</th><th scope="col">Asked for</th>
            <th scope="col">Answer</th><th scope="col">Sent</th>
          </tr></thead>
          <tbody>
            ${shown.map((r) => html`<tr data-request-id=${r.id} data-outcome=${r.outcome}>
              <td data-label="Came in">${when(r.received)}</td>
              <td data-label="From">${r.requester ? `${r.requester.organisation}${r.requester.person ? ` (${r.requester.person})` : ''}` : '—'}
                <div class="muted small">${r.requester ? REQUESTER_KINDS[r.requester.kind] || r.requester.kind : ''}</div></td>
              <td data-label="Asked for">${KIND_WORDS[r.kind] || r.kind}, ${cameraList(r.cameras)}
                ${r.from && r.to ? html`<div class="muted small">${when(r.from)} to ${when(r.to)}</div>` : null}
                ${r.reason ? html`<div class="muted small">“${r.reason}”</div>` : null}</td>
              <td data-label="Answer"><span class=${`pill outcome-${r.outcome}`}>${OUTCOMES[r.outcome] || r.outcome}</span>
                <div class="muted small">by ${decidedBy(r.decided_by)}${r.decided_at ? `, ${when(r.decided_at)}` : ''}</div>
                ${r.deny_reason ? html`<div class="muted small">${r.deny_reason}</div>` : null}
                ${r.revoked_by ? html`<div class="muted small">Stopped by ${r.revoked_by}</div>` : null}</td>
              <td data-label="Sent">${sentWords(r.sent)}</td>
            </tr>`)}
          </tbody>
        </table>
      </div>` : null}
  </section>`;
}

async function loadPending() {
  const [requests, privacy] = await Promise.all([get('/api/requests'), get('/api/privacy')]);
  return { requests, privacy };
}

export function Requests() {
  const { data, error, reload } = useLoad(loadPending, RELOAD_ON, 30000);
  const pending = data ? data.requests.pending : [];
  return html`<h1>Requests for footage</h1>
    <p>Requests your sharing rules could not decide alone wait here for your answer. You can allow
      them as asked, allow less (fewer cameras, a shorter time, no sound), or refuse them.
      If you do not answer in time, the answer is no.</p>
    <section aria-labelledby="pending-h" id="pending" data-count=${pending.length}>
      <h2 id="pending-h">Waiting for your answer</h2>
      <${LoadError} error=${error} what="the requests" />
      ${!data && !error ? html`<p>Loading…</p>` : null}
      ${data && pending.length === 0 ? html`<p class="muted" id="no-pending">No request is waiting for you.</p>` : null}
      <ul class="cards">
        ${pending.map((p) => html`<${Pending} key=${p.id} p=${p} privacyOn=${data.privacy.on} onChanged=${reload} />`)}
      </ul>
    </section>
    <${History} />`;
}
