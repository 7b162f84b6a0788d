// Events (`#/events`): what happens in the hub as it happens, newest first (at most 500), from
// the app's one event stream; filter by kind and camera, and pause the list to read it.

import { html, useEffect, useState } from '../vendor/standalone.module.js';
import { EVENT_TYPES, held, KEEP, subscribe, useConnected } from '../live.js';
import { clock, day, describeEvent } from '../format.js';

const GROUPS = {
  camera: ['camera_online', 'camera_offline'],
  activity: ['motion_start', 'motion_end', 'doorbell_press', 'tamper', 'alarm'],
  requests: ['request_received', 'decision_made', 'request_pending', 'relay_started', 'relay_stopped'],
  settings: ['privacy_changed', 'mode_changed', 'config_reloaded', 'plugin_loaded', 'plugin_rejected'],
  storage: ['segment_closed', 'storage_pressure'],
  network: ['device_discovered', 'device_left'],
};
const GROUP_WORDS = {
  camera: 'Cameras online / offline', activity: 'Motion, doorbell, alarms', requests: 'Requests and sharing',
  settings: 'Privacy, mode, settings, rules', storage: 'Recording and storage', network: 'Cameras found on the network',
};

export function Events() {
  const [events, setEvents] = useState(() => held().reverse());
  const [paused, setPaused] = useState(false);
  const [waiting, setWaiting] = useState([]);
  const [group, setGroup] = useState('');
  const [camera, setCamera] = useState('');
  const connected = useConnected();

  useEffect(() => subscribe((e) => {
    if (paused) setWaiting((w) => [e, ...w].slice(0, KEEP));
    else setEvents((list) => [e, ...list].slice(0, KEEP));
  }), [paused]);

  const resume = () => {
    setEvents((list) => [...waiting, ...list].slice(0, KEEP));
    setWaiting([]);
    setPaused(false);
  };

  const cameras = [...new Set(events.map((e) => e.camera).filter(Boolean))].sort();
  const shown = events.filter((e) => (!group || (GROUPS[group] ? GROUPS[group].includes(e.type) : e.type === group)) && (!camera || e.camera === camera));

  return html`<h1>Events</h1>
    <p>Everything the hub does, as it happens, newest first (the last ${KEEP}).
      ${connected ? '' : ' The connection to the hub is lost; the list continues when it is back.'}</p>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <div class="field"><label for="events-kind">Show</label>
        <select id="events-kind" value=${group} onChange=${(e) => setGroup(e.target.value)}>
          <option value="">Everything</option>
          <optgroup label="Groups">
            ${Object.entries(GROUP_WORDS).map(([v, l]) => html`<option value=${v}>${l}</option>`)}
          </optgroup>
          <optgroup label="One kind">
            ${EVENT_TYPES.map((t) => html`<option value=${t}>${t.replace(/_/g, ' ')}</option>`)}
          </optgroup>
        </select></div>
      <div class="field"><label for="events-camera">Camera</label>
        <select id="events-camera" value=${camera} onChange=${(e) => setCamera(e.target.value)}>
          <option value="">All cameras</option>
          ${cameras.map((c) => html`<option value=${c}>${c}</option>`)}
        </select></div>
      <div class="field field-button">
        ${paused
          ? html`<button type="button" class="primary" id="events-pause" aria-pressed="true" onClick=${resume}>
              Continue${waiting.length ? ` (${waiting.length} new)` : ''}</button>`
          : html`<button type="button" class="secondary" id="events-pause" aria-pressed="false" onClick=${() => setPaused(true)}>Pause</button>`}
      </div>
    </form>
    ${shown.length === 0 ? html`<p class="muted" id="events-empty">No event yet.</p>` : null}
    <ol class="events" id="events-list" data-count=${shown.length}>
      ${shown.map((e) => html`<li key=${`${e.seq}-${e.time}`} data-event-type=${e.type} data-seq=${e.seq} data-camera=${e.camera || undefined}
          class=${`event ev-${e.type}`}>
        <time datetime=${e.time} title=${day(e.time)}>${clock(e.time)}</time>
        <span>${describeEvent(e)}</span>
      </li>`)}
    </ol>`;
}
