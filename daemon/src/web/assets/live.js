// The one connection to the hub's event stream (`GET /api/events`) that every page shares.
// It starts with the events the hub still holds (`?from=0`), keeps the newest 500 in memory for the
// Events page, and tells subscribers about each new event. After a lost connection it reconnects
// from the next event it has not seen (`?from=<seq>`); events already seen are skipped.

import { useEffect, useRef, useState } from './vendor/standalone.module.js';
import { get } from './api.js';

/** Every event type the hub publishes (docs/ref/events.md). */
export const EVENT_TYPES = [
  'config_reloaded', 'camera_online', 'camera_offline', 'motion_start', 'motion_end',
  'doorbell_press', 'tamper', 'alarm', 'segment_closed', 'storage_pressure',
  'request_received', 'decision_made', 'request_pending', 'privacy_changed', 'mode_changed',
  'device_discovered', 'device_left', 'relay_started', 'relay_stopped', 'plugin_loaded',
  'plugin_rejected',
];

export const KEEP = 500;

const listeners = new Set();
const statusListeners = new Set();
const recent = []; // newest last
let source = null;
let lastSeq = -1;
let connected = false;
let retry = null;
let failures = 0;

function setConnected(on) {
  if (connected === on) return;
  connected = on;
  for (const fn of statusListeners) fn(on);
}

function isRepeat(e) {
  if (typeof e.seq !== 'number' || e.seq > lastSeq) return false;
  // Seen before in this run, or a new run of the daemon whose numbering started again?
  const seen = recent.find((r) => r.seq === e.seq);
  if (seen && seen.time !== e.time) {
    lastSeq = -1;
    return false;
  }
  return true;
}

function onMessage(ev) {
  let e;
  try {
    e = JSON.parse(ev.data);
  } catch (err) {
    return;
  }
  if (isRepeat(e)) return;
  lastSeq = e.seq;
  recent.push(e);
  if (recent.length > KEEP) recent.splice(0, recent.length - KEEP);
  for (const fn of listeners) fn(e);
}

function connect() {
  if (source || retry) return;
  source = new EventSource(`/api/events?from=${lastSeq + 1}`);
  source.onopen = () => {
    failures = 0;
    setConnected(true);
  };
  source.onerror = () => {
    // Reconnect ourselves, from the next event not seen, after checking the session (a 401
    // there goes to the sign-in page).
    setConnected(false);
    source.close();
    source = null;
    failures += 1;
    retry = setTimeout(() => {
      retry = null;
      get('/api/session').then(connect, connect);
    }, failures > 1 ? 10000 : 2000);
  };
  for (const t of EVENT_TYPES) source.addEventListener(t, onMessage);
}

/** Calls `fn(event)` for each new event; returns the function that stops it. */
export function subscribe(fn) {
  connect();
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** The newest events seen (at most 500), oldest first. */
export function held() {
  return recent.slice();
}

/** Whether the stream is connected now, and a hook that follows it. */
export function useConnected() {
  const [on, setOn] = useState(connected);
  useEffect(() => {
    connect();
    statusListeners.add(setOn);
    setOn(connected);
    return () => statusListeners.delete(setOn);
  }, []);
  return on;
}

/**
 * Loads data with `load()` and loads it again when an event of one of `types` arrives (a short
 * pause gathers bursts into one reload) and every `everyMs` (never more often than every 10 s).
 * Returns `{data, error, loading, reload}`.
 */
export function useLoad(load, types, everyMs = 30000, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const loadRef = useRef(load);
  loadRef.current = load;
  const seqRef = useRef(0);

  const reload = () => {
    const mine = ++seqRef.current;
    return Promise.resolve()
      .then(() => loadRef.current())
      .then(
        (data) => {
          if (mine === seqRef.current) setState({ data, error: null, loading: false });
        },
        (error) => {
          if (mine === seqRef.current) setState((s) => ({ data: s.data, error, loading: false }));
        },
      );
  };

  useEffect(() => {
    setState((s) => ({ data: s.data, error: null, loading: true }));
    reload();
    let timer = null;
    const unsubscribe = subscribe((e) => {
      if (!types.includes(e.type)) return;
      clearTimeout(timer);
      timer = setTimeout(reload, 300);
    });
    const every = setInterval(reload, Math.max(everyMs, 10000));
    return () => {
      unsubscribe();
      clearTimeout(timer);
      clearInterval(every);
    };
  }, deps);

  return { ...state, reload };
}
