// Plain-words formatting shared by the pages: times, durations, sizes, who changed something,
// what a request asks for, and one sentence per hub event.

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** "5 minutes ago", "in 2 hours" for an RFC 3339 time. */
export function ago(t, now = Date.now()) {
  if (!t) return '';
  const s = Math.round((new Date(t).getTime() - now) / 1000);
  const a = Math.abs(s);
  if (a < 45) return 'just now';
  if (a < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (a < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

/** A full local date and time: "Sun 6 Dec 2026, 17:05". */
export function when(t) {
  if (!t) return '—';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toLocaleString(undefined, {
    weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

/** Local time of day with seconds: "17:05:12". */
export function clock(t) {
  return new Date(t).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** A local date: "Sun 6 Dec 2026". */
export function day(t) {
  return new Date(t).toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });
}

/** "1 h 5 min", "45 s". */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.floor(h / 24)} days ${h % 24} h`;
}

/** Bytes as MB (or KB/GB where that reads better). */
export function size(bytes) {
  const b = Number(bytes) || 0;
  if (b < 100000) return `${(b / 1000).toFixed(b < 10000 ? 1 : 0)} KB`;
  if (b < 1e9) return `${(b / 1e6).toFixed(b < 1e7 ? 1 : 0)} MB`;
  return `${(b / 1e9).toFixed(1)} GB`;
}

/** Bytes always as MB, as the report gives them: "14.3 MB", "0.05 MB". */
export function mb(bytes) {
  const m = (Number(bytes) || 0) / 1e6;
  return `${m === 0 ? '0' : m < 0.1 ? m.toFixed(2) : m.toFixed(1)} MB`;
}

/** "1 clip", "3 clips". */
export function plural(n, one, many = one + 's') {
  return `${n} ${n === 1 ? one : many}`;
}

/** Who changed a switch, from its `changed_by` channel. */
export function byWhom(channel) {
  switch (channel) {
    case 'web': return 'you in the web app';
    case 'api': return 'a script or the command line (API)';
    case 'mqtt': return 'Home Assistant (MQTT)';
    case 'config': return 'the settings file';
    case undefined: case null: case '': return 'nobody yet';
    default: return channel;
  }
}

/** Who decided a request, from `decided_by`. */
export function decidedBy(by) {
  switch (by) {
    case 'policy': return 'your sharing rules';
    case 'resident (web)': return 'you, in the web app';
    case 'resident (api)': return 'you, through the API';
    case 'resident (mqtt)': return 'you, in Home Assistant';
    case 'timeout': return 'nobody answered in time';
    case 'privacy mode': return 'privacy mode';
    case 'shutdown': return 'the hub shutting down';
    case 'overflow': return 'too many requests were waiting';
    default: return by || 'nobody yet';
  }
}

export const REQUESTER_KINDS = {
  police: 'police', monitoring: 'alarm monitoring company', insurer: 'insurance company',
  neighbour: 'neighbour', resident: 'resident', other: 'other',
};

export const MODES = {
  home: 'Home', away: 'Away', night: 'Night', vacation: 'Vacation',
};

/** "City Police RTCC (Det. Smith), police". */
export function requester(r) {
  if (!r) return 'unknown';
  const who = r.person ? `${r.organisation} (${r.person})` : r.organisation;
  return `${who}, ${REQUESTER_KINDS[r.kind] || r.kind}`;
}

export function cameraList(cams) {
  if (!cams || cams.length === 0) return 'no camera';
  return cams.join(', ');
}

/** What a request's `kind` asks for, in a sentence. */
export function asksFor(kind) {
  if (!kind) return '';
  const cams = cameraList(kind.cameras);
  switch (kind.type) {
    case 'clip':
      return `recorded video from ${cams}, ${when(kind.from)} to ${when(kind.to)} (${duration((new Date(kind.to) - new Date(kind.from)) / 1000)})`;
    case 'live':
      return `live video from ${cams} for at most ${duration(kind.max_seconds)}`;
    case 'snapshot':
      return `one still image from each of ${cams}`;
    default:
      return `${kind.type} from ${cams}`;
  }
}

export const KIND_WORDS = { clip: 'recorded video', live: 'live video', snapshot: 'still image' };

/** The legal basis in words (a list of [label, value] pairs). */
export function legalBasis(lb) {
  if (!lb || lb.type === 'none') return [['Legal basis', 'None given']];
  switch (lb.type) {
    case 'warrant': {
      const rows = [
        ['Legal basis', 'A warrant'],
        ['Warrant reference', lb.reference || '—'],
        ['Court', lb.court || '—'],
        ['Issued', when(lb.issued)],
        ['Warrant expires', when(lb.expires)],
      ];
      if (lb.scope) {
        const cams = lb.scope.cameras && lb.scope.cameras.length ? lb.scope.cameras.join(', ') : 'no camera named';
        rows.push(['Warrant covers', `${cams}; ${when(lb.scope.from)} to ${when(lb.scope.to)}`]);
      }
      return rows;
    }
    case 'exigent':
      return [['Legal basis', 'An emergency, in their words:'], ['Their statement', lb.statement || '—']];
    case 'consent':
      return [['Legal basis', 'Consent (they say you agreed)']];
    default:
      return [['Legal basis', lb.type]];
  }
}

/** A grant in words: what would be or was shared. */
export function grantWords(g) {
  if (!g) return '';
  let s = `share ${cameraList(g.cameras)}`;
  if (g.from && g.to) s += `, ${when(g.from)} to ${when(g.to)}`;
  if (g.live_max_seconds) s += `, live for at most ${duration(g.live_max_seconds)}`;
  if (g.strip_audio) s += ', without sound';
  return s;
}

const HEALTH_NAMES = {
  api: 'The web and API server',
  audit: 'The record of what was shared (audit log)',
  bus: 'The hub\u2019s internal messages',
  cameras: 'Cameras',
  config: 'The settings file',
  discovery: 'Finding cameras on the network',
  mqtt: 'Home Assistant (MQTT) connection',
  plugins: 'Your sharing rules',
  relay: 'The connection to the requests center',
  storage: 'Recording storage',
};

export function subsystemName(name) {
  return HEALTH_NAMES[name] || name;
}

export const HEALTH_STATES = {
  starting: 'starting',
  degraded: 'not working fully',
  failed: 'not working',
  stopping: 'stopping',
  stopped: 'stopped',
};

/** One sentence for a hub event. */
export function describeEvent(e) {
  const cam = e.camera ? `${e.camera}: ` : '';
  switch (e.type) {
    case 'camera_online': return `${cam}camera is online`;
    case 'camera_offline': return `${cam}camera went offline (${e.reason})`;
    case 'motion_start': return `${cam}motion started`;
    case 'motion_end': return `${cam}motion ended`;
    case 'doorbell_press': return `${cam}doorbell pressed`;
    case 'tamper': return `${cam}someone tampered with the camera`;
    case 'alarm': return `${cam}alarm`;
    case 'segment_closed': return `${cam}recording saved, ${clock(e.start)} to ${clock(e.end)} (${size(e.bytes)})`;
    case 'storage_pressure': return `${cam}storage problem: ${e.message} (${size(e.free_bytes)} free)`;
    case 'request_received': return `Request ${e.request_id} received from ${e.requester}`;
    case 'decision_made': {
      const d = { allow: 'allowed', deny: 'refused', ask: 'waits for your answer' }[e.decision] || e.decision;
      return `Request ${e.request_id} ${d}${e.decision === 'deny' && e.reason ? `: ${e.reason}` : ''}`;
    }
    case 'request_pending': return `Request ${e.request_id} from ${e.requester} waits for your answer until ${clock(e.expires)}`;
    case 'privacy_changed': return `Privacy mode turned ${e.on ? 'on' : 'off'} by ${byWhom(e.by)}`;
    case 'mode_changed': return `Hub mode set to ${MODES[e.mode] || e.mode} by ${byWhom(e.by)}`;
    case 'config_reloaded':
      return e.outcome === 'applied'
        ? `Settings reloaded${e.changes && e.changes.length ? `: ${e.changes.join('; ')}` : ''}`
        : `New settings refused: ${(e.problems || []).join('; ')}`;
    case 'device_discovered': return `New camera found on the network: ${e.name || e.endpoint}${e.model ? ` (${e.model})` : ''}`;
    case 'device_left': return `${cam}a camera left the network (${e.endpoint})`;
    case 'relay_started': return `Live video for request ${e.request_id} started`;
    case 'relay_stopped': return `Live video for request ${e.request_id} stopped: ${e.reason}`;
    case 'plugin_loaded': return `Sharing rule ${e.plugin} loaded`;
    case 'plugin_rejected': return `Sharing rule ${e.plugin} refused: ${e.reason}`;
    default: return `${cam}${e.type}`;
  }
}

/** A Date as the value of an `<input type="datetime-local" step="1">` (local time). */
export function toLocalInput(t) {
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A Date as the value of an `<input type="date">` (local date). */
export function toDateInput(t) {
  return toLocalInput(t).slice(0, 10);
}

/** The local midnight starting the date `yyyy-mm-dd`. */
export function localMidnight(dateValue) {
  const [y, m, d] = dateValue.split('-').map(Number);
  return new Date(y, m - 1, d);
}
