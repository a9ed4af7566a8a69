// REST calls with the session cookie; unsafe methods carry Django's CSRF token.

function cookie(name) {
  const row = document.cookie.split("; ").find((item) => item.startsWith(`${name}=`));
  return row ? decodeURIComponent(row.slice(name.length + 1)) : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `Request failed (${status})`);
    this.status = status;
    this.body = body;
  }
}

// `timeout` (ms) aborts a request that gets no answer: it rejects with a TimeoutError (no status).
async function request(path, { method = "GET", body, timeout } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = cookie("csrftoken");
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: timeout ? AbortSignal.timeout(timeout) : undefined,
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return { response, data };
}

export async function api(path, options) {
  return (await request(path, options)).data;
}

// One page of a paged list: its items, and the path of the next page (null on the last), which the
// server sends in an RFC 8288 Link header: `<url>; rel="next"`.
export async function apiPage(path) {
  const { response, data } = await request(path);
  return { items: data, next: linkPath(response.headers.get("Link"), "next") };
}

export function linkPath(header, rel) {
  for (const [, url, rels] of (header || "").matchAll(/<([^>]*)>\s*;\s*rel="?([^";]*)"?/g)) {
    if (rels.split(/\s+/).includes(rel)) {
      // Same origin whatever host the server named (behind a proxy it may name another).
      const target = new URL(url, location.href);
      return target.pathname + target.search;
    }
  }
  return null;
}

// A message's client_id: randomUUID needs a secure context, getRandomValues does not.
export function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}
