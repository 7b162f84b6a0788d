// Home (`#/`): each camera's still image and state with its recording switch, privacy mode,
// the hub mode, requests waiting for an answer, what is being shared right now (with Revoke),
// and problems.

import { html, useEffect, useRef, useState } from '../vendor/standalone.module.js';
import { get, put, post } from '../api.js';
import { held, subscribe, useLoad } from '../live.js';
import { act, Facts, LoadError, Switch } from '../ui.js';
import { ago, byWhom, cameraList, clock, duration, HEALTH_STATES, MODES, plural, size, subsystemName, when } from '../format.js';

const RELOAD_ON = [
  'camera_online', 'camera_offline', 'privacy_changed', 'mode_changed', 'request_pending',
  'decision_made', 'relay_started', 'relay_stopped', 'config_reloaded', 'storage_pressure',
  'plugin_loaded', 'plugin_rejected',
];

async function loadHome() {
  const [cameras, privacy, mode, requests, health, storage] = await Promise.all([
    get('/api/cameras'),
    get('/api/privacy'),
    get('/api/mode'),
    get('/api/requests'),
    get('/api/health').catch((e) => ({ status: 'unknown', subsystems: {}, error: e })),
    get('/api/storage').catch((e) => ({ error: e })),
  ]);
  return { cameras: cameras.cameras, privacy, mode, requests, health, storage };
}

/** The latest offline reason per camera, from the events the app has seen. */
function offlineReasons() {
  const reasons = {};
  for (const e of held()) {
    if (e.type === 'camera_offline') reasons[e.camera] = e.reason;
    if (e.type === 'camera_online') delete reasons[e.camera];
  }
  return reasons;
}

function cameraStatus(cam, reasons) {
  const paused = cam.state === 'off' && cam.record !== 'off';
  switch (cam.state) {
    case 'recording':
      return cam.record === 'events'
        ? ['Watching', 'Records only around motion, doorbell and alarms.']
        : ['Recording', 'Records all the time.'];
    case 'off':
      return paused
        ? ['Paused', 'You switched recording off. Nothing is recorded until you switch it on again.']
        : ['Off', 'Recording is off in the hub\u2019s settings (record = "off").'];
    case 'standby':
      return ['Standby', 'Its stream is opened when it reports a doorbell press or motion, recorded for the post-roll, then closed.'];
    case 'offline':
      return ['Offline', reasons[cam.name] ? `The hub cannot reach it: ${reasons[cam.name]}. It keeps trying.` : 'The hub cannot reach it. It keeps trying.'];
    case 'connecting': case 'starting': case 'resolving':
      return ['Connecting', 'The hub is connecting to the camera.'];
    case 'disabled':
      return ['Turned off', 'This camera is turned off in the hub\u2019s settings (enabled = false).'];
    case 'not_recording':
      return ['Not recording', 'The recordings storage could not be opened, so nothing is recorded.'];
    case 'error':
      return ['Not recording', 'The hub could not start recording this camera.'];
    default:
      return [cam.state, ''];
  }
}

/** How often a camera's still image is fetched again while it is on screen. */
const STILL_EVERY = 10000;
/** A camera's events that fetch its still image at once. */
const STILL_ON = ['motion_start', 'doorbell_press'];
const STILL_WIDTH = 320;

/** Whether the element is on screen: in the viewport of a page that is not hidden. */
function useOnScreen(ref) {
  const [inView, setInView] = useState(false);
  const [shown, setShown] = useState(document.visibilityState === 'visible');
  useEffect(() => {
    const onVisibility = () => setShown(document.visibilityState === 'visible');
    document.addEventListener('visibilitychange', onVisibility);
    let io = null;
    if (ref.current && 'IntersectionObserver' in window) {
      io = new IntersectionObserver((entries) => setInView(entries.some((e) => e.isIntersecting)));
      io.observe(ref.current);
    } else {
      setInView(true);
    }
    return () => {
      document.removeEventListener('visibilitychange', onVisibility);
      if (io) io.disconnect();
    };
  }, []);
  return inView && shown;
}

/** A blob as a `data:` URL (the page's CSP takes images from the hub and `data:` only). */
function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(blob);
  });
}

/** Why there is no picture, in the resident's words, from the hub's answer. */
function noPictureWhy(status, error) {
  if (status === 404) return 'No picture yet: the hub has had no image from this camera since it started.';
  if (status === 401) return 'No picture: your sign-in has ended.';
  if (status === 0) return 'No picture: the hub cannot be reached right now.';
  return `No picture: ${error || `the hub answered ${status}`}.`;
}

/** Why a camera has no picture to show yet, from its state. */
function waitingWhy(cam, label) {
  if (cam.state === 'recording') return 'Waiting for the first picture from the camera\u2026';
  return `No picture: the camera is ${label.toLowerCase()}.`;
}

/** The camera's latest still image (`GET /api/cameras/{name}/still`), fetched while it is on
 * screen every STILL_EVERY ms and on the camera's motion and doorbell events, once the hub has
 * a keyframe of it (`still_at`); a placeholder says why there is none. A failed refresh keeps
 * the picture it had. */
function Still({ cam, label }) {
  const box = useRef(null);
  const onScreen = useOnScreen(box);
  const [still, setStill] = useState({ src: null, why: null });
  const ready = Boolean(cam.still_at);
  useEffect(() => {
    if (!onScreen || !ready) return undefined;
    let stopped = false;
    let busy = false;
    const path = `/api/cameras/${encodeURIComponent(cam.name)}/still?width=${STILL_WIDTH}`;
    const fetchStill = async () => {
      if (busy) return;
      busy = true;
      let next;
      try {
        const res = await fetch(path, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'image/jpeg, application/json' } });
        if (res.ok) {
          next = { src: await dataUrl(await res.blob()), why: null };
        } else {
          const body = await res.json().catch(() => ({}));
          next = { src: null, why: noPictureWhy(res.status, typeof body.error === 'string' ? body.error : '') };
        }
      } catch (e) {
        next = { src: null, why: noPictureWhy(0, '') };
      }
      busy = false;
      if (stopped) return;
      setStill((had) => (next.src || !had.src ? next : { src: had.src, why: next.why }));
    };
    fetchStill();
    const timer = setInterval(fetchStill, STILL_EVERY);
    const stop = subscribe((e) => {
      if (e.camera === cam.name && STILL_ON.includes(e.type)) fetchStill();
    });
    return () => {
      stopped = true;
      clearInterval(timer);
      stop();
    };
  }, [onScreen, ready, cam.name]);
  const why = still.why || (ready ? 'Loading the picture\u2026' : waitingWhy(cam, label));
  return html`<div class="still" ref=${box} data-still=${still.src ? 'shown' : ready && !still.why ? 'loading' : 'none'}>
    ${still.src
      ? html`<img class="still-image" src=${still.src} width=${STILL_WIDTH} alt=${`Latest picture from ${cam.name}`} />`
      : html`<p class="still-placeholder">${why}</p>`}
  </div>`;
}

function Camera({ cam, reasons, onChanged }) {
  // The switch shows what the hub confirmed (`record`), not the camera's state, which follows
  // a moment later when its task has restarted; the page then loads again to show that.
  const [switched, setSwitched] = useState(null);
  const [busy, setBusy] = useState(false);
  const [label, explain] = cameraStatus(cam, reasons);
  const paused = cam.state === 'off' && cam.record !== 'off';
  const canSwitch = cam.record !== 'off' && cam.state !== 'disabled';
  const on = switched === null ? !paused : switched;
  useEffect(() => {
    if (switched !== null && switched === !paused) setSwitched(null);
  }, [cam.state]);
  const flip = async (want) => {
    setBusy(true);
    const r = await act(() => put(`/api/cameras/${encodeURIComponent(cam.name)}/record`, { on: want }),
      want ? `${cam.name} records again.` : `Recording of ${cam.name} is paused.`);
    setBusy(false);
    if (r && typeof r.record === 'boolean') setSwitched(r.record);
    onChanged();
    setTimeout(onChanged, 1500);
  };
  return html`<li class="card camera" data-camera=${cam.name} data-state=${cam.state} data-paused=${paused ? 'true' : 'false'}>
    <div class="camera-head">
      <h3>${cam.name}</h3>
      <span class=${`pill state-${cam.state}${paused ? ' state-paused' : ''}`}>${label}</span>
    </div>
    <${Still} cam=${cam} label=${label} />
    <p class="muted">${explain}</p>
    ${cam.tags && cam.tags.length ? html`<p class="muted small">Tags: ${cam.tags.join(', ')}</p>` : null}
    ${canSwitch
      ? html`<${Switch} id=${`record-${cam.name}`} on=${on} busy=${busy} label=${html`Recording<span class="visually-hidden"> of ${cam.name}</span>`} onChange=${flip} />`
      : null}
  </li>`;
}

function Privacy({ privacy, onChanged }) {
  const [busy, setBusy] = useState(false);
  const flip = async (on) => {
    setBusy(true);
    await act(() => put('/api/privacy', { on }), on ? 'Privacy mode is on: nothing is shared.' : 'Privacy mode is off.');
    setBusy(false);
    onChanged();
  };
  return html`<section class="card" id="privacy" data-on=${privacy.on ? 'true' : 'false'} aria-labelledby="privacy-h">
    <h2 id="privacy-h">Privacy mode</h2>
    <p>While privacy mode is on, <strong>nothing is shared with anyone</strong>: every request is refused,
      requests waiting for you are refused, and anything being shared stops at once. Recording goes on.</p>
    <${Switch} id="privacy-switch" on=${privacy.on} busy=${busy} disabled=${privacy.forced}
      label="Privacy mode" onChange=${flip} />
    ${privacy.forced
      ? html`<p class="note">It is forced on in the hub's settings (<code>hub.privacy = true</code>); change the settings file to turn it off.</p>`
      : null}
    <p class="muted small" id="privacy-changed">${privacy.changed_at
      ? `Changed by ${byWhom(privacy.changed_by)} ${ago(privacy.changed_at)} (${when(privacy.changed_at)}).`
      : 'Never changed.'}</p>
  </section>`;
}

function Mode({ mode, onChanged }) {
  const [busy, setBusy] = useState(false);
  const choose = async (m) => {
    if (m === mode.mode) return;
    setBusy(true);
    await act(() => put('/api/mode', { mode: m }), `The hub mode is now ${MODES[m]}.`);
    setBusy(false);
    onChanged();
  };
  return html`<section class="card" id="mode" data-mode=${mode.mode} aria-labelledby="mode-h">
    <h2 id="mode-h">Hub mode</h2>
    <p>Your sharing rules can depend on whether you are at home, away, asleep or on holiday
      (for example: live video for the alarm company only while you are away).</p>
    <fieldset class="segmented" disabled=${busy}>
      <legend class="visually-hidden">Hub mode</legend>
      ${Object.entries(MODES).map(([m, label]) => html`<label class=${m === mode.mode ? 'checked' : ''}>
        <input type="radio" name="hub-mode" id=${`mode-${m}`} value=${m} checked=${m === mode.mode} onChange=${() => choose(m)} />
        ${label}
      </label>`)}
    </fieldset>
    <p class="muted small" id="mode-changed">${mode.changed_at
      ? `Changed by ${byWhom(mode.changed_by)} ${ago(mode.changed_at)} (${when(mode.changed_at)}).`
      : 'Never changed.'}</p>
  </section>`;
}

function Share({ share, onChanged }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const yes = useRef(null);
  const again = useRef(null);
  const first = useRef(true);
  // Keep the keyboard focus on the question, and back on Revoke after Cancel.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const el = confirming ? yes.current : again.current;
    if (el) el.focus();
  }, [confirming]);
  const revoke = async () => {
    setBusy(true);
    const ok = await act(() => post(`/api/requests/${encodeURIComponent(share.id)}/revoke`), `Sharing for ${share.id} stopped.`);
    setBusy(false);
    setConfirming(false);
    if (ok) onChanged();
  };
  const what = { live: 'Live video', clip: 'Recorded video', snapshot: 'Still images' }[share.kind] || share.kind;
  return html`<li class="card share" data-share-id=${share.id} data-kind=${share.kind}>
    <p><strong>${what}</strong> from ${cameraList(share.cameras)}, for request <code>${share.id}</code>.</p>
    <p class="muted small">Started ${ago(share.started)} (${clock(share.started)})${share.until ? `; stops by itself at ${clock(share.until)}` : ''}.</p>
    ${confirming
      ? html`<div class="confirm" role="group" aria-label="Confirm stopping">
          <p>Stop sharing this now? What was already sent cannot be taken back.</p>
          <button type="button" class="danger" ref=${yes} id=${`revoke-confirm-${share.id}`} disabled=${busy} onClick=${revoke}>Yes, stop sharing</button>
          <button type="button" class="secondary" onClick=${() => setConfirming(false)}>Cancel</button>
        </div>`
      : html`<button type="button" class="danger" ref=${again} id=${`revoke-${share.id}`} onClick=${() => setConfirming(true)}>Revoke</button>`}
  </li>`;
}

function limitsWords(st) {
  const parts = [];
  if (st.max_age_seconds) parts.push(`recordings older than ${duration(st.max_age_seconds)} are deleted`);
  if (st.max_bytes) parts.push(`recordings take at most ${size(st.max_bytes)}`);
  if (st.min_free_bytes) parts.push(`at least ${size(st.min_free_bytes)} of the disk is kept free`);
  if (!parts.length) return 'No limit is set: the oldest recordings are deleted only when the disk is full.';
  return `Limits: ${parts.join('; ')}. The oldest recordings that are not pinned are deleted first.`;
}

function Storage({ st }) {
  if (!st) return null;
  if (st.error) return html`<section class="card" id="storage" aria-labelledby="storage-h"><h2 id="storage-h">Storage</h2><p class="problem">Could not read the storage: ${st.error.message}</p></section>`;
  const used = st.filesystem_bytes && st.free_bytes !== null ? 1 - st.free_bytes / st.filesystem_bytes : null;
  return html`<section class="card" id="storage" aria-labelledby="storage-h" data-recorded=${st.recorded_bytes} data-free=${st.free_bytes}>
    <h2 id="storage-h">Storage</h2>
    <p>Recordings use <strong>${size(st.recorded_bytes)}</strong>${st.free_bytes !== null ? html`; <strong>${size(st.free_bytes)}</strong> of ${size(st.filesystem_bytes)} free on the disk` : null}${used !== null ? ` (it is ${Math.round(used * 100)} % full)` : ''}.</p>
    ${used !== null ? html`<div class="meter" aria-hidden="true">
      <span style=${{ width: `${Math.min(100, Math.max(0, used * 100)).toFixed(1)}%` }}></span>
    </div>` : null}
    ${st.cameras.length ? html`<ul class="list">${st.cameras.map((c) => html`<li data-storage-camera=${c.camera}><span>${c.camera}</span><span>${size(c.bytes)} in ${plural(c.segments, 'file')}</span></li>`)}</ul>` : null}
    <p class="muted small">${limitsWords(st)}</p>
  </section>`;
}

function Problems({ health }) {
  const problems = Object.entries(health.subsystems || {}).filter(([, s]) => HEALTH_STATES[s.state]);
  return html`<section class="card" id="health" data-status=${health.status} aria-labelledby="health-h">
    <h2 id="health-h">Hub health</h2>
    ${health.error ? html`<p class="problem">Could not read the hub's health: ${health.error.message}</p>` : null}
    ${problems.length === 0 && !health.error
      ? html`<p class="ok-text">Everything is working.</p>`
      : html`<ul class="problems">
          ${problems.map(([name, s]) => html`<li class="problem" data-subsystem=${name} data-state=${s.state}>
            <strong>${subsystemName(name)}: ${HEALTH_STATES[s.state]}.</strong>${s.detail ? html` <span>${s.detail}</span>` : null}
          </li>`)}
        </ul>`}
  </section>`;
}

export function Home() {
  const { data, error, reload } = useLoad(loadHome, RELOAD_ON, 30000);
  // A camera that streams but had no keyframe yet when the page loaded: look again soon, so its
  // picture comes without waiting for the next reload.
  const waiting = data ? data.cameras.some((c) => c.state === 'recording' && !c.still_at) : false;
  useEffect(() => {
    if (!waiting) return undefined;
    const t = setTimeout(reload, 2000);
    return () => clearTimeout(t);
  }, [waiting, data]);
  if (!data) return html`<h1>Home</h1>${error ? html`<${LoadError} error=${error} what="the hub's state" />` : html`<p>Loading…</p>`}`;
  const reasons = offlineReasons();
  const pending = data.requests.pending;
  const sharing = data.requests.sharing;
  return html`<h1>Home</h1>
    <${LoadError} error=${error} what="the latest state" />
    ${pending.length
      ? html`<p class="banner" id="pending-banner" data-count=${pending.length}>
          <strong>${plural(pending.length, 'request')} for footage ${pending.length === 1 ? 'is' : 'are'} waiting for your answer.</strong>
          <a href="#/requests" class="button">Answer now</a>
        </p>`
      : null}
    <section aria-labelledby="sharing-h" id="sharing" data-count=${sharing.length}>
      <h2 id="sharing-h">Being shared right now</h2>
      ${sharing.length
        ? html`<ul class="cards">${sharing.map((s) => html`<${Share} key=${s.id} share=${s} onChanged=${reload} />`)}</ul>`
        : html`<p class="muted">Nothing is leaving the house right now.</p>`}
    </section>
    <section aria-labelledby="cameras-h">
      <h2 id="cameras-h">Cameras</h2>
      ${data.cameras.length
        ? html`<ul class="cards cameras">${data.cameras.map((c) => html`<${Camera} key=${c.name} cam=${c} reasons=${reasons} onChanged=${reload} />`)}</ul>`
        : html`<p class="muted">No camera is set up yet.</p>`}
    </section>
    <div class="two-col">
      <${Privacy} privacy=${data.privacy} onChanged=${reload} />
      <${Mode} mode=${data.mode} onChanged=${reload} />
    </div>
    <div class="two-col">
      <${Problems} health=${data.health} />
      <${Storage} st=${data.storage} />
    </div>`;
}
