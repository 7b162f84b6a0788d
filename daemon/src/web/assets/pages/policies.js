// Sharing rules (`#/policies`): the policy plugins installed (`GET /api/plugins`), a form
// to try a made-up request against them (`POST /api/policy/evaluate`, a dry run: nothing is
// shared) with each rule's answer and the hub's final decision in plain words, and a form to
// try a new rule on the requests of the past (`POST /api/policy/replay`: nothing is shared or
// recorded) with the decisions it would change.

import { html, useState } from '../vendor/standalone.module.js';
import { get, post } from '../api.js';
import { useLoad } from '../live.js';
import { act, LoadError } from '../ui.js';
import { day, duration, grantWords, MODES, plural, requester, REQUESTER_KINDS, toLocalInput, when } from '../format.js';

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

// ---- Try a rule on past requests ----

const CHANGE_WORDS = {
  allow_to_deny: 'Allowed then, refused now',
  allow_to_ask: 'Allowed then, you would be asked now',
  deny_to_allow: 'Refused then, allowed now',
  deny_to_ask: 'Refused then, you would be asked now',
  ask_to_allow: 'You were asked then, allowed without asking now',
  ask_to_deny: 'You were asked then, refused without asking now',
  ask_changed: 'You would be asked, with another time to answer',
  grant_narrowed: 'Allowed both times, less shared now',
  grant_widened: 'Allowed both times, more shared now',
  grant_changed: 'Allowed both times, shared differently now',
};

const PERIODS = [['7d', 'the last week'], ['30d', 'the last 30 days'], ['90d', 'the last 90 days'], ['365d', 'the last year']];

/** A file name as a rule name: `Warrant Required (2).wasm` → `warrant-required-2`. */
function ruleName(fileName) {
  const stem = fileName.replace(/\.wasm$/i, '').toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '');
  return stem.slice(0, 64) || 'candidate';
}

/** The file's bytes as base64 (the browser encodes it). */
function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.onerror = () => reject(new Error(`Could not read ${file.name}.`));
    reader.readAsDataURL(file);
  });
}

function SideTotals({ label, side, id }) {
  const kinds = Object.entries(side.by_change).filter(([, n]) => n > 0);
  return html`<div class="fact" id=${id} data-changed=${side.changed}>
    <dt>${label}</dt>
    <dd>${side.changed === 0 ? 'No decision would change.' : `${plural(side.changed, 'decision')} would change`}
      ${kinds.length ? html`<ul class="small">${kinds.map(([k, n]) => html`<li data-change=${k}>${CHANGE_WORDS[k] || k}: ${n}</li>`)}</ul>` : null}</dd>
  </div>`;
}

function ChangeRow({ c }) {
  const side = (label, d) => html`<p><strong>${label}:</strong> ${d
    ? html`${CHANGE_WORDS[d.change] || d.change}. ${capital(d.words)}.${d.candidate_failure ? html` <span class="problem small">The new rule failed: ${d.candidate_failure}</span>` : null}`
    : 'no change.'}</p>`;
  return html`<li class="card replay-change" data-request-id=${c.request_id}
      data-alone=${c.alone ? c.alone.change : 'none'} data-composed=${c.composed ? c.composed.change : 'none'}>
    <h4>${when(c.time)}: ${requester(c.requester)}</h4>
    <p class="muted small">Request ${c.request_id}, ${c.kind} of ${c.cameras.join(', ')}. Decided then: ${c.recorded.decision === 'deny' ? 'refused' : c.recorded.decision === 'allow' ? 'allowed' : 'asked you'}.</p>
    ${side('The new rule on its own', c.alone)}
    ${side('With your other rules', c.composed)}
  </li>`;
}

function capital(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

function ReplayReport({ r }) {
  const t = r.totals;
  return html`<div class="card verdict" id="replay-result" role="status"
      data-replayed=${t.replayed} data-alone=${t.alone.changed} data-composed=${t.composed.changed}>
    <h3>${r.candidate.name} on ${plural(t.replayed, 'past request')}</h3>
    <p>Requests since ${day(r.since)}, decided again the way they came.${r.candidate.replaces ? ` With your other rules, it takes the place of your rule “${r.candidate.replaces}”. ` : ' With your other rules, it is added to them. '}Nothing was shared and nothing was recorded.</p>
    ${!r.complete ? html`<p class="note" id="replay-incomplete">Not every request was tried: ${r.stopped || `only the newest ${r.bounds.max_requests} are`} (${t.not_replayed} left out).</p>` : null}
    <dl class="facts">
      <${SideTotals} label="The new rule on its own" side=${t.alone} id="replay-alone" />
      <${SideTotals} label="With your other rules" side=${t.composed} id="replay-composed" />
    </dl>
    ${t.candidate_failures ? html`<p class="problem">The new rule failed on ${plural(t.candidate_failures, 'request')}; a rule that fails refuses.</p>` : null}
    ${t.decided_by_other_policies ? html`<p class="muted small">${plural(t.decided_by_other_policies, 'request')} were decided by other rules than those you have now.</p>` : null}
    ${r.changes.length
      ? html`<ul class="cards" id="replay-changes">${r.changes.map((c) => html`<${ChangeRow} key=${c.request_id + c.time} c=${c} />`)}</ul>`
      : html`<p id="replay-no-change">No past decision would change.</p>`}
  </div>`;
}

function ReplayForm({ bundled }) {
  // '' : a file the resident chooses; else the name of a rule that comes with Porchlight.
  const [choice, setChoice] = useState('');
  const [file, setFile] = useState(null);
  const [config, setConfig] = useState('');
  const [since, setSince] = useState('90d');
  const [report, setReport] = useState(null);
  const [busy, setBusy] = useState(false);
  const ready = choice !== '' || file !== null;

  const submit = async (ev) => {
    ev.preventDefault();
    if (!ready) return;
    setBusy(true);
    setReport(null);
    const r = await act(async () => {
      const body = choice !== ''
        ? { bundled: choice, since }
        : { wasm: await base64Of(file), name: ruleName(file.name), since };
      if (config.trim()) body.config = config;
      return post('/api/policy/replay', body);
    });
    setBusy(false);
    if (r && r !== true) setReport(r);
  };

  return html`<form class="try" id="replay-form" onSubmit=${submit}>
    <div class="field"><label for="replay-source">The rule</label>
      <select id="replay-source" value=${choice} onChange=${(e) => setChoice(e.target.value)}>
        <option value="">A file of my own (.wasm)</option>
        ${(bundled || []).map((b) => html`<option value=${b.name}>Comes with Porchlight: ${b.name}</option>`)}
      </select></div>
    ${choice === '' ? html`<div class="field"><label for="replay-file">The rule's file (<code>.wasm</code>)</label>
      <input type="file" id="replay-file" accept=".wasm,application/wasm" required
        onChange=${(e) => setFile(e.target.files[0] || null)} /></div>` : null}
    ${choice === '' && file ? html`<p class="muted small">It goes by the name <code id="replay-name">${ruleName(file.name)}</code>; if one of your rules has that name, the new one takes its place.</p>` : null}
    ${choice !== '' ? html`<p class="muted small">If one of your rules is called <code id="replay-name">${choice}</code>, this one takes its place.</p>` : null}
    <div class="field"><label for="replay-config">Its settings (TOML, optional; empty: those of your rule of the same name)</label>
      <textarea id="replay-config" rows="3" value=${config} onInput=${(e) => setConfig(e.target.value)}></textarea></div>
    <div class="field"><label for="replay-since">Requests of</label>
      <select id="replay-since" value=${since} onChange=${(e) => setSince(e.target.value)}>
        ${PERIODS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}
      </select></div>
    <div class="actions">
      <button type="submit" class="primary" id="replay" disabled=${busy || !ready}>${busy ? 'Trying…' : 'Try it on past requests'}</button>
    </div>
    ${report ? html`<${ReplayReport} r=${report} />` : null}
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
      </section>
      <section aria-labelledby="replay-h">
        <h2 id="replay-h">Try a rule on past requests</h2>
        <p>Before you install a new rule, see what it would have decided about the requests your hub
          already had: on its own, and together with your rules.
          <strong>Nothing is shared</strong> and nothing is written in the hub's record.</p>
        <${ReplayForm} bundled=${data.plugins.bundled} />
      </section>` : null}`;
}
