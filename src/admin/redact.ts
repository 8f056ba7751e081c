/** The running config as the admin API shows it: secrets (tokens, API keys, HMAC secrets, URL passwords) masked. */
const SECRET_KEYS = /^(token|secret|secrets|password|keys?|apiKeys?)$/i;

export function redactConfig(value: unknown, key = ''): unknown {
  if (SECRET_KEYS.test(key) && value !== undefined && value !== null) return Array.isArray(value) ? value.map(() => '***') : '***';
  if (Array.isArray(value)) return value.map((v) => redactConfig(v));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactConfig(v, k)]));
  if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i.test(value)) return value.replace(/(:\/\/[^/:@\s]*:)[^/@\s]*@/, '$1***@');
  return value;
}
