// The management API client: HTTP Basic credentials kept for the tab's lifetime
// (sessionStorage), sent explicitly on every call. `credentials: 'omit'` keeps the browser
// from adding cached credentials or popping up its own login dialog on a 401.
const KEY = 'warren.auth';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.reason || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export function credentials() {
  return sessionStorage.getItem(KEY);
}

export function saveCredentials(user, password) {
  // btoa needs Latin-1; encode UTF-8 first so any user name works.
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  const token = btoa(String.fromCharCode(...bytes));
  sessionStorage.setItem(KEY, token);
  return token;
}

export function forget() {
  sessionStorage.removeItem(KEY);
}

let onUnauthorised = () => {};
export function setUnauthorisedHandler(fn) {
  onUnauthorised = fn;
}

export async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: 'application/json', ...extraHeaders };
  const token = credentials();
  if (token) headers.Authorization = `Basic ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`/api${path}`, {
    method,
    headers,
    credentials: 'omit',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    // A failed login (not a tag refusal) means the stored password no longer works.
    if (res.status === 401 && data && data.error === 'not_authorized') onUnauthorised();
    throw new ApiError(res.status, data);
  }
  return data;
}

export const get = (path) => api('GET', path);
export const put = (path, body) => api('PUT', path, body ?? {});
export const post = (path, body) => api('POST', path, body ?? {});
export const del = (path, headers) => api('DELETE', path, undefined, headers);

/** One path segment, encoded as the API expects (the default vhost "/" is "%2F"). */
export const seg = (s) => encodeURIComponent(s);

/** Log in: remember the credentials only if /api/whoami accepts them. */
export async function login(user, password) {
  const previous = credentials();
  saveCredentials(user, password);
  try {
    return await get('/whoami');
  } catch (e) {
    if (previous) sessionStorage.setItem(KEY, previous);
    else forget();
    throw e;
  }
}
