// The management API from the browser: same-origin fetch with the session cookie, the CSRF
// header on every request that may change something, and problem JSON turned into ApiError.
// The bearer token lives in an HttpOnly cookie; this script never sees it.

const SAFE = new Set(['GET', 'HEAD']);
let onSessionEnd = () => {};

/** An answer that is not 2xx: `status` and the RFC 9457 `problem` (type, title, detail, errors). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** Called when the server says the session is gone (401 on an API call). */
export function whenSessionEnds(callback) {
  onSessionEnd = callback;
}

function csrfToken() {
  const entry = document.cookie.split('; ').find((c) => c.startsWith('parley_csrf='));
  return entry ? decodeURIComponent(entry.slice('parley_csrf='.length)) : '';
}

async function problemOf(response) {
  try {
    const body = await response.json();
    if (body && typeof body === 'object') return body;
  } catch {
    // not JSON: fall through to a generic problem
  }
  return {type: 'http_error', title: response.statusText || 'Error', status: response.status};
}

/** Call the API; resolves to the parsed JSON body (null for 204), rejects with ApiError. */
export async function api(method, path, body, {contentType = 'application/json'} = {}) {
  const headers = {Accept: 'application/json'};
  if (!SAFE.has(method)) headers['X-CSRF-Token'] = csrfToken();
  const init = {method, headers, credentials: 'same-origin', cache: 'no-store'};
  if (body !== undefined) {
    headers['Content-Type'] = contentType;
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, {
      type: 'network_error', title: 'No connection',
      detail: 'The server could not be reached. Check your connection and try again.',
    });
  }
  if (!response.ok) {
    const error = new ApiError(response.status, await problemOf(response));
    if (response.status === 401 && !path.startsWith('/console/session')) onSessionEnd();
    throw error;
  }
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Plain words for a problem, for a notice. */
export function describe(error) {
  if (!(error instanceof ApiError)) return String(error?.message ?? error);
  const p = error.problem;
  if (error.status === 503) {
    return `${p.detail || 'A service is unavailable'} (503 ${p.type || 'service_unavailable'}).`;
  }
  const what = p.detail && p.detail !== p.title ? `${p.title}: ${p.detail}` : (p.title || 'Error');
  return error.status ? `${what} (${error.status} ${p.type ?? ''})`.replace(' )', ')') : what;
}
