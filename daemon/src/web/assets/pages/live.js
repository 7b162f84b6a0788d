// Live (`#/live`, one camera: `#/live?camera=NAME`): every camera live in a grid, or one camera
// full size with its sound. The video comes from the hub's own connection to each camera (no
// second connection to the camera) over one stream for the whole page (`player.js`). A camera
// that cannot be watched says why on its tile and comes back by itself.

import { html, useEffect, useRef, useState } from '../vendor/standalone.module.js';
import { get } from '../api.js';
import { useLoad } from '../live.js';
import { LoadError } from '../ui.js';
import { when } from '../format.js';
import { canPlay, codecName, MsePlayer, watchLive } from '../player.js';

function chosenCamera() {
  const query = location.hash.split('?')[1] || '';
  return new URLSearchParams(query).get('camera');
}

function useChosenCamera() {
  const [name, setName] = useState(chosenCamera());
  useEffect(() => {
    const on = () => setName(chosenCamera());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return name;
}

const STATE_WORDS = {
  connecting: 'Connecting…',
  playing: 'Live',
  waiting: 'Not live',
  unsupported: 'Picture only',
};

/** The words for why a camera cannot be watched, from the hub's status message. */
function statusWords(info) {
  switch (info.state) {
    case 'off': return 'Recording is off or paused for this camera, so the hub does not receive its picture.';
    case 'offline': return 'The camera is offline. The picture comes back by itself when the camera does.';
    case 'disabled': return 'This camera is turned off in the hub’s settings.';
    case 'starting':
    case 'resolving':
    case 'connecting': return 'The hub is connecting to the camera…';
    default: return info.error || 'The hub is not receiving this camera’s picture now.';
  }
}

/** How often the still picture of a camera that is not live is fetched again. */
const STILL_EVERY = 10000;

/** A camera's latest still picture (`GET /api/cameras/{name}/still`), fetched again every
 * STILL_EVERY ms; a failed fetch keeps the picture it had. */
function LiveStill({ name, width }) {
  const [src, setSrc] = useState(null);
  useEffect(() => {
    let stopped = false;
    const load = async () => {
      try {
        const res = await fetch(`/api/cameras/${encodeURIComponent(name)}/still?width=${width}`, { credentials: 'same-origin', cache: 'no-store' });
        if (!res.ok) return;
        const blob = await res.blob();
        const url = await new Promise((resolve, reject) => {
          const r = new FileReader();
          r.onload = () => resolve(r.result);
          r.onerror = () => reject(r.error);
          r.readAsDataURL(blob);
        });
        if (!stopped) setSrc(url);
      } catch (e) {
        // The hub cannot be reached now: keep the last picture.
      }
    };
    load();
    const timer = setInterval(load, STILL_EVERY);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [name, width]);
  return src ? html`<img class="live-still" alt=${`${name}, latest picture`} src=${src} />` : null;
}

function Tile({ cam, one, status, videoRef, onSound }) {
  const s = status || { state: 'connecting' };
  const still = s.state === 'unsupported' || s.state === 'waiting';
  return html`<li class=${`card live-tile${one ? ' live-one' : ''}`} data-camera=${cam.name} data-live=${s.state}>
    <div class="camera-head">
      <h3>${one ? cam.name : html`<a href=${`#/live?camera=${encodeURIComponent(cam.name)}`}>${cam.name}</a>`}</h3>
      <span class=${`pill live-${s.state}`}>${STATE_WORDS[s.state] || s.state}</span>
    </div>
    <div class="live-frame">
      <video ref=${videoRef} muted playsinline autoplay class=${still ? 'hidden' : ''}
        aria-label=${`${cam.name}, live`} data-camera=${cam.name}></video>
      ${still && s.stillAt ? html`<${LiveStill} name=${cam.name} width=${one ? 1280 : 640} />` : null}
    </div>
    ${s.message ? html`<p class="muted live-message">${s.message}</p>` : null}
    ${s.state === 'waiting' && s.lastSeen ? html`<p class="muted small">The picture above is from ${when(s.lastSeen)}.</p>` : null}
    ${one && s.audio
      ? html`<p><button type="button" class="secondary" id="sound" onClick=${onSound}>${s.muted === false ? 'Sound off' : 'Sound on'}</button></p>`
      : null}
  </li>`;
}

function PrivacyNote({ privacy }) {
  return html`<p class="note" id="live-privacy" data-privacy=${privacy && privacy.on ? 'on' : 'off'}>
    ${privacy && privacy.on
      ? html`<strong>Privacy mode is on: nothing leaves the house.</strong> `
      : null}
    This live view goes only to this browser, inside your home network. Privacy mode does not turn it
    off: privacy mode decides what leaves the house, and this picture does not.
  </p>`;
}

export function Live() {
  const chosen = useChosenCamera();
  const { data, error } = useLoad(() => get('/api/cameras'), ['config_reloaded'], 60000);
  const { data: privacy } = useLoad(() => get('/api/privacy'), ['privacy_changed'], 60000);
  const [status, setStatus] = useState({});
  const [connection, setConnection] = useState(null);
  const videos = useRef({});
  const players = useRef({});
  const all = data ? data.cameras.filter((c) => c.state !== 'disabled') : [];
  const cams = chosen ? all.filter((c) => c.name === chosen) : all;
  const names = cams.map((c) => c.name);
  const key = names.join('\u0000');

  useEffect(() => {
    if (!names.length) return undefined;
    const update = (name, change) => setStatus((old) => ({ ...old, [name]: { ...(old[name] || {}), ...change } }));
    const player = (name) => {
      const video = videos.current[name];
      if (!video) return null;
      if (!players.current[name] || players.current[name].video !== video) {
        players.current[name] = new MsePlayer(video, { live: true });
        video.addEventListener('playing', () => update(name, { state: 'playing', message: '' }));
      }
      return players.current[name];
    };
    const stop = watchLive(names, {
      start(i, info) {
        const name = names[i];
        const p = player(name);
        if (!p) return;
        if (!canPlay(info.codec)) {
          p.stop();
          update(name, {
            state: 'unsupported',
            stillAt: true,
            message: `This browser cannot play ${codecName(info.codec)} video; showing the camera’s latest picture instead.`,
          });
          return;
        }
        update(name, { state: 'connecting', message: '', stillAt: null, audio: info.audio, width: info.width, height: info.height });
        // The wall time of media time 0 (what a frame's time is counted from).
        p.video.dataset.origin = info.origin;
        p.start(info.codec).catch((e) => update(name, { state: 'waiting', message: `The video cannot start: ${e.message}` }));
      },
      media(i, bytes) {
        const name = names[i];
        const p = players.current[name];
        if (p) p.append(bytes);
      },
      status(i, info) {
        const name = names[i];
        const p = players.current[name];
        if (p) p.stop();
        // The latest picture the hub has of it, if any.
        update(name, { state: 'waiting', message: statusWords(info), stillAt: !!info.still_at, lastSeen: info.still_at });
      },
      connection(ok, message) {
        setConnection(ok ? null : message);
      },
    });
    return () => {
      stop();
      for (const p of Object.values(players.current)) p.stop();
      players.current = {};
    };
  }, [key]);

  const sound = (name) => {
    const v = videos.current[name];
    if (!v) return;
    v.muted = !v.muted;
    if (!v.muted) v.play().catch(() => {});
    setStatus((old) => ({ ...old, [name]: { ...(old[name] || {}), muted: v.muted } }));
  };

  return html`<h1>${chosen ? `${chosen}, live` : 'Live'}</h1>
    ${chosen ? html`<p><a href="#/live" id="all-cameras">All cameras</a></p>` : null}
    <${PrivacyNote} privacy=${privacy} />
    ${error ? html`<${LoadError} error=${error} what="the cameras" />` : null}
    ${connection ? html`<p class="problem" id="live-connection">${connection}</p>` : null}
    ${data && !cams.length
      ? html`<p>${chosen ? `There is no camera named “${chosen}”.` : 'There are no cameras to watch.'}</p>`
      : null}
    <ul class=${`live-grid${chosen ? ' live-grid-one' : ''}`} id="live-grid">
      ${cams.map((cam) => html`<${Tile} key=${cam.name} cam=${cam} one=${!!chosen} status=${status[cam.name]}
        videoRef=${(el) => { if (el) videos.current[cam.name] = el; }}
        onSound=${() => sound(cam.name)} />`)}
    </ul>`;
}
