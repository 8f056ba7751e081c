/** Reads the admin API; remembers the bearer token for the tab when the API asks for one. */
const KEY = 'causeway-admin-token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown[] = [],
  ) {
    super(message);
  }
}

let onUnauthorized: () => void = () => undefined;

export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

export function setToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const token = sessionStorage.getItem(KEY);
  const res = await fetch(path, { ...init, headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } });
  const body = (await res.json().catch(() => null)) as { error?: { code: string; message: string; details?: unknown[] } } | null;
  if (!res.ok) {
    if (res.status === 401) onUnauthorized();
    throw new ApiError(res.status, body?.error?.code ?? 'HTTP', body?.error?.message ?? `${res.status} ${res.statusText}`, body?.error?.details);
  }
  return body as T;
}
