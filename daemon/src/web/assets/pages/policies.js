// Sharing rules (`#/policies`): the policy plugins installed (`GET /api/plugins`) and a form
// to try a made-up request against them (`POST /api/policy/evaluate`, a dry run: nothing is
// shared) with each rule's answer and the hub's final decision in plain words.

import { html, useState } from '../vendor/standalone.module.js';
import { get, post } from '../api.js';
import { useLoad } from '../live.js';
import { act, LoadError } from '../ui.js';
import { duration, grantWords, MODES, REQUESTER_KINDS, toLocalInput } from '../format.js';

const STATES = {
  loaded: ['Working', 'This rule decides every request.'],
  rejected: ['New version refused', 'The new file or settings were refused; the version before keeps deciding.'],
  not_loaded: ['Not working', 'This rule could not be loaded, so it refuses every request.'],
};

// Where a rule's code comes from (`source` in `GET /api/plugins`).
const SOURCES = {
  bundled: 'Built into Porchlight',
  file: 'A file you installed',
};

// The rules that come with Porchlight (`bundled` in `GET /api/plugins`): enabled by name in the
// config file, no file needed.
function BundledList({ bundled, enabled }) {
  return html`<details class="card" id="bundled">
    <summary>Rules that come with Porchlight (${bundled.length})</summary>
    <p class="muted small">Turn one on by adding its name to <code>enabled</code> under <code>[plugins]</code>
      in the config file; see the plugins guide for each one's settings.</p>
    <ul class="bundled-list">${bundled.map((b) => html`<li data-bundled=${b.name}>
      <strong>${b.name}</strong>${enabled.includes(b.name) ? html` <span class="pill plugin-loaded">On</span>` : null}
      <p>${b.summary}</p>
      <p class="muted small">Fingerprint (SHA-256) <code class="hash">${b.sha256}</code></p>
    </li>`)}</ul>
  </details>`;
}

function Plugin({ p }) {
  const [label, explain] = STATES[p.state] || [p.state, ''];
  return html`<li class="card plugin" data-plugin=${p.name} data-state=${p.state}>
    <div class="camera-head"><h3>${p.name}</h3><span class=${`pill plugin-${p.state}`}>${label}</span></div>
    <p class="muted">${explain}</p>
    ${p.reason ? html`<p class="problem">${p.reason}</p>` : null}
    <dl class="facts">
      ${p.source ? html`<div class="fact"><dt>Comes from</dt><dd class="plugin-source" data-source=${p.source}>${SOURCES[p.source] || p.source}</dd></div>` : null}
      ${p.file ? html`<div class="fact"><dt>File</dt><dd><code>${p.file}</code></dd></div>` : null}
      ${p.sha256 ? html`<div class="fact"><dt>Fingerprint (SHA-256)</dt><dd><code class="hash">${p.sha256}</code></dd></div>` : null}
    </dl>
    ${p.config && Object.keys(p.config).length
      ? html`<details><summary>Its settings</summary><pre>${JSON.stringify(p.config, null, 2)}</pre></details>`
      : html`<p class="muted small">No settings.</p>`}
  </li>`;
}

const DECISION_WORDS = { allow: 'Allowed', deny: 'Refused', ask: 'You would be asked' };

function decisionSentence(d) {
  switch (d.decision) {
    case 'allow': return `Allowed: the hub would ${grantWords(d.grant)}${d.grant && d.grant.notify_resident ? ', and tell you' : ''}.`;
    case 'deny': return `Refused: ${d.reason}`;
    case 'ask': return `You would be asked, and have ${duration(d.timeout_seconds)} to answer (no answer means no).`;
    default: return d.decision;
  }
}

function Verdict({ v }) {
  return html`<div class="card verdict" id="evaluate-result" data-decision=${v.decision} role="status">
    <h3>The hub's answer: ${DECISION_WORDS[v.decision] || v.decision}</h3>
    <p>${decisionSentence(v)}</p>
    ${v.decision === 'ask' ? html`<details><summary>The question you would see</summary><pre>${v.prompt}</pre></details>` : null}
    <p class="muted small">Every rule decides; the most careful answer wins (refuse, then ask, then allow the least).</p>
    ${v.plugins.length === 0
      ? html`<p class="muted">No rule was asked: the hub refused the request before that.</p>`
      : html`<div class="table-wrap"><table class="data">
          <thead><tr><th scope="col">Rule</th><th scope="col">Its answer</th><th scope="col">Details</th></tr></thead>
          <tbody>${v.plugins.map((o) => html`<tr data-plugin=${o.plugin} data-decision=${o.decision}>
            <td data-label="Rule">${o.plugin}</td>
            <td data-label="Its answer">${DECISION_WORDS[o.decision] || o.decision}</td>
            <td data-label="Details">${decisionSentence(o)}${o.failure ? html`<div class="problem small">The rule failed: ${o.failure}</div>` : null}
              <div class="muted small">took ${(o.time_us / 1000).toFixed(1)} ms</div></td>
          </tr>`)}</tbody>
        </table></div>`}
  </div>`;
}

function Cameras({ id, all, chosen, setChosen, legend }) {
  return html`<fieldset>
    <legend>${legend}</legend>
    ${all.length === 0 ? html`<p class="muted">No camera is set up.</p>` : null}
    ${all.map((c) => html`<label class="check">
      <input type="checkbox" id=${`${id}-${c}`} checked=${chosen.includes(c)}
        onChange=${() => setChosen(chosen.includes(c) ? chosen.filter((x) => x !== c) : [...chosen, c])} /> ${c}
    </label>`)}
  </fieldset>`;
}

function TryForm({ cameras }) {
  const now = Date.now();
  const [org, setOrg] = useState('City Police');
  const [person, setPerson] = useState('');
  const [rkind, setRkind] = useState('police');
  const [kind, setKind] = useState('clip');
  const [cams, setCams] = useState(cameras.slice(0, 1));
  const [from, setFrom] = useState(toLocalInput(now - 3600000));
  const [to, setTo] = useState(toLocalInput(now - 1800000));
  const [seconds, setSeconds] = useState(300);
  const [basis, setBasis] = useState('none');
  const [wRef, setWRef] = useState('');
  const [wCourt, setWCourt] = useState('');
  const [wIssued, setWIssued] = useState(toLocalInput(now - 86400000));
  const [wExpires, setWExpires] = useState(toLocalInput(now + 30 * 86400000));
  const [wCams, setWCams] = useState(cameras.slice(0, 1));
  const [wFrom, setWFrom] = useState(toLocalInput(now - 2 * 3600000));
  const [wTo, setWTo] = useState(toLocalInput(now));
  const [statement, setStatement] = useState('');
  const [reason, setReason] = useState('');
  const [caseNo, setCaseNo] = useState('');
  const [mode, setMode] = useState('');
  const [verdict, setVerdict] = useState(null);
  const [busy, setBusy] = useState(false);

  const iso = (v) => new Date(v).toISOString();
  const submit = async (ev) => {
    ev.preventDefault();
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z');
    const k = kind === 'clip' ? { type: 'clip', cameras: cams, from: iso(from), to: iso(to) }
      : kind === 'live' ? { type: 'live', cameras: cams, max_seconds: Number(seconds) }
      : { type: 'snapshot', cameras: cams };
    const lb = basis === 'warrant'
      ? { type: 'warrant', reference: wRef, court: wCourt, issued: iso(wIssued), expires: iso(wExpires), scope: { cameras: wCams, from: iso(wFrom), to: iso(wTo) } }
      : basis === 'exigent' ? { type: 'exigent', statement }
      : { type: basis };
    const request = {
      id: `try-${stamp}`,
      requester: { organisation: org, person, kind: rkind },
      kind: k,
      reason,
      case_number: caseNo || null,
      legal_basis: lb,
      received_at: new Date().toISOString(),
    };
    const body = mode ? { request, mode } : { request };
    setBusy(true);
    const v = await act(() => post('/api/policy/evaluate', body));
    setBusy(false);
    if (v && v !== true) setVerdict(v);
  };

  return html`<form class="try" id="evaluate-form" onSubmit=${submit}>
    <fieldset>
      <legend>Who asks</legend>
      <div class="field"><label for="try-org">Organisation</label>
        <input id="try-org" required value=${org} onInput=${(e) => setOrg(e.target.value)} /></div>
      <div class="field"><label for="try-person">Person (optional)</label>
        <input id="try-person" value=${person} onInput=${(e) => setPerson(e.target.value)} /></div>
      <div class="field"><label for="try-requester-kind">They are</label>
        <select id="try-requester-kind" value=${rkind} onChange=${(e) => setRkind(e.target.value)}>
          ${Object.entries(REQUESTER_KINDS).map(([v, l]) => html`<option value=${v}>${l}</option>`)}
        </select></div>
    </fieldset>
    <fieldset>
      <legend>What they ask for</legend>
      <div class="field"><label for="try-kind">Kind</label>
        <select id="try-kind" value=${kind} onChange=${(e) => setKind(e.target.value)}>
          <option value="clip">Recorded video (a clip)</option>
          <option value="live">Live video</option>
          <option value="snapshot">A still image</option>
        </select></div>
      <${Cameras} id="try-cam" all=${cameras} chosen=${cams} setChosen=${setCams} legend="Cameras" />
      ${kind === 'clip' ? html`<div class="field"><label for="try-from">From</label>
          <input type="datetime-local" step="1" id="try-from" required value=${from} onInput=${(e) => setFrom(e.target.value)} /></div>
        <div class="field"><label for="try-to">To</label>
          <input type="datetime-local" step="1" id="try-to" required value=${to} onInput=${(e) => setTo(e.target.value)} /></div>` : null}
      ${kind === 'live' ? html`<div class="field"><label for="try-seconds">For at most (seconds)</label>
        <input type="number" min="1" step="1" id="try-seconds" required value=${seconds} onInput=${(e) => setSeconds(e.target.value)} /></div>` : null}
      <div class="field"><label for="try-reason">Their reason</label>
        <input id="try-reason" value=${reason} onInput=${(e) => setReason(e.target.value)} /></div>
      <div class="field"><label for="try-case">Case number (optional)</label>
        <input id="try-case" value=${caseNo} onInput=${(e) => setCaseNo(e.target.value)} /></div>
    </fieldset>
    <fieldset>
      <legend>Legal basis</legend>
      <div class="field"><label for="try-basis">They give</label>
        <select id="try-basis" value=${basis} onChange=${(e) => setBasis(e.target.value)}>
          <option value="none">Nothing</option>
          <option value="warrant">A warrant</option>
          <option value="exigent">An emergency</option>
          <option value="consent">Your consent</option>
        </select></div>
      ${basis === 'warrant' ? html`
        <div class="field"><label for="try-warrant-ref">Warrant reference</label>
          <input id="try-warrant-ref" value=${wRef} onInput=${(e) => setWRef(e.target.value)} /></div>
        <div class="field"><label for="try-warrant-court">Court</label>
          <input id="try-warrant-court" value=${wCourt} onInput=${(e) => setWCourt(e.target.value)} /></div>
        <div class="field"><label for="try-warrant-issued">Issued</label>
          <input type="datetime-local" step="1" id="try-warrant-issued" value=${wIssued} onInput=${(e) => setWIssued(e.target.value)} /></div>
        <div class="field"><label for="try-warrant-expires">Expires</label>
          <input type="datetime-local" step="1" id="try-warrant-expires" value=${wExpires} onInput=${(e) => setWExpires(e.target.value)} /></div>
        <${Cameras} id="try-warrant-cam" all=${cameras} chosen=${wCams} setChosen=${setWCams} legend="Cameras the warrant covers" />
        <div class="field"><label for="try-warrant-from">Warrant covers from</label>
          <input type="datetime-local" step="1" id="try-warrant-from" value=${wFrom} onInput=${(e) => setWFrom(e.target.value)} /></div>
        <div class="field"><label for="try-warrant-to">Warrant covers to</label>
          <input type="datetime-local" step="1" id="try-warrant-to" value=${wTo} onInput=${(e) => setWTo(e.target.value)} /></div>` : null}
      ${basis === 'exigent' ? html`<div class="field"><label for="try-statement">Their statement</label>
        <textarea id="try-statement" rows="2" value=${statement} onInput=${(e) => setStatement(e.target.value)}></textarea></div>` : null}
    </fieldset>
    <div class="field"><label for="try-mode">Hub mode to assume</label>
      <select id="try-mode" value=${mode} onChange=${(e) => setMode(e.target.value)}>
        <option value="">The hub's current mode</option>
        ${Object.entries(MODES).map(([v, l]) => html`<option value=${v}>${l}</option>`)}
      </select></div>
    <div class="actions">
      <button type="submit" class="primary" id="evaluate" disabled=${busy}>Ask my rules</button>
    </div>
    ${verdict ? html`<${Verdict} v=${verdict} />` : null}
  </form>`;
}

async function loadPolicies() {
  const [plugins, cameras] = await Promise.all([get('/api/plugins'), get('/api/cameras')]);
  return { plugins, cameras: cameras.cameras.map((c) => c.name) };
}

export function Policies() {
  const { data, error } = useLoad(loadPolicies, ['plugin_loaded', 'plugin_rejected', 'config_reloaded'], 60000);
  return html`<h1>Sharing rules</h1>
    <p>Your sharing rules (policies) answer every request for footage before anything leaves the house.
      Each rule can allow, refuse or ask you. If any rule refuses, the request is refused; if none refuses
      but one asks, you are asked; only if all allow is footage shared, and then no more than the
      strictest rule allows.</p>
    <${LoadError} error=${error} what="the sharing rules" />
    ${!data && !error ? html`<p>Loading…</p>` : null}
    ${data ? html`
      <section aria-labelledby="plugins-h" id="plugins" data-count=${data.plugins.plugins.length}>
        <h2 id="plugins-h">Installed rules</h2>
        ${data.plugins.plugins.length === 0
          ? html`<p class="note">No sharing rule is installed, so every request is refused.</p>`
          : html`<ul class="cards">${data.plugins.plugins.map((p) => html`<${Plugin} key=${p.name} p=${p} />`)}</ul>`}
        ${data.plugins.bundled && data.plugins.bundled.length
          ? html`<${BundledList} bundled=${data.plugins.bundled} enabled=${data.plugins.plugins.map((p) => p.name)} />` : null}
        <p class="muted small">The hub speaks the rules' contract <code>${data.plugins.contract}</code>.</p>
      </section>
      <section aria-labelledby="try-h">
        <h2 id="try-h">Try a request</h2>
        <p>Make up a request and see what your rules would answer. <strong>Nothing is shared</strong>;
          the test is written in the hub's record as a test.</p>
        <${TryForm} cameras=${data.cameras} />
      </section>` : null}`;
}
