// The hub's HTTP API as the web app uses it: JSON in and out, the CSRF token on every write,
// `{"error": …}` answers turned into an ApiError whose message is shown to the resident, and a
// missing or expired session sends the browser to the sign-in page.

/** An API call that did not succeed; `message` is written for the resident. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let sessionPromise = null;

/** The session (`{csrf, expires, token_required}`), fetched once and again after a refusal. */
export function session() {
  if (!sessionPromise) {
    sessionPromise = call('GET', '/api/session').catch((e) => {
      sessionPromise = null;
      throw e;
    });
  }
  return sessionPromise;
}

function signIn() {
  location.assign('/login');
}

async function call(method, path, body, csrf) {
  const headers = { Accept: 'application/json' };
  if (csrf) headers['X-CSRF-Token'] = csrf;
  // The hub sends `Referrer-Policy: no-referrer`, under which a browser may send `Origin: null`
  // on a write; with `same-origin` it names this page's origin, which the hub checks.
  const init = { method, headers, credentials: 'same-origin', referrerPolicy: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'The hub cannot be reached right now. Check that it is running and that this device is on the home network.');
  }
  if (res.status === 401) {
    signIn();
    throw new ApiError(401, 'Your sign-in has ended. Please sign in again.');
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = null;
    }
  }
  if (!res.ok) {
    const why = data && typeof data.error === 'string' ? data.error : `the hub answered ${res.status} ${res.statusText}`.trim();
    throw new ApiError(res.status, capitalise(why));
  }
  return data;
}

/** Sends one request. Writes carry the session's CSRF token; a 403 refreshes it once and retries. */
export async function request(method, path, body) {
  if (method === 'GET' || method === 'HEAD') return call(method, path, body);
  const s = await session();
  try {
    return await call(method, path, body, s.csrf);
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) {
      sessionPromise = null;
      const fresh = await session();
      return call(method, path, body, fresh.csrf);
    }
    throw e;
  }
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body);
export const put = (path, body) => request('PUT', path, body);
export const del = (path) => request('DELETE', path);

/** Builds `path?k=v&…`, leaving out empty values. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** Ends the session and goes to the sign-in page. */
export async function signOut() {
  await post('/logout');
  sessionPromise = null;
  location.assign('/login');
}

function capitalise(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}
