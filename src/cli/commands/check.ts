/** `causeway check`: validate and lint a config. */
import { ConfigError, loadConfigFile } from '../../config/load.js';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { findingPath, lintConfig, type Finding } from '../../config/lint.js';
import { tlsFindings } from '../../edge/check.js';
import type { Config } from '../../config/schema.js';
import { parseDuration } from '../../config/units.js';
import { adviseFromCallLog, probeHosts } from '../../diagnose/advisors.js';
import { openCallStore } from '../../observe/store.js';
import { PgCallStore } from '../../observe/store-pg.js';
import { connect, describeDbError } from '../../fleet/db.js';
import { configPath, parse, UsageError, type Command } from '../args.js';

function printFindings(findings: Finding[]): void {
  for (const f of findings) console.log(`${f.severity}: ${findingPath(f)}: ${f.message}\n  fix: ${f.fix}`);
}

/** Advice from the call log of the config, when one exists on disk (or, with storage.url, from the fleet's). */
async function callLogAdvice(config: Config, sinceMs: number): Promise<Finding[]> {
  const st = config.storage;
  if (st.url) {
    const sql = connect(st.url, { max: 1, connectTimeout: 3 });
    try {
      return await adviseFromCallLog(config, PgCallStore.reader(sql), { since: Date.now() - sinceMs });
    } catch (err) {
      console.error(`causeway check: the fleet's call log could not be read for advice (${describeDbError(err)})`);
      return [];
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
  const path = resolve(st.path);
  if (!st.enabled || st.path === ':memory:' || !existsSync(path)) return [];
  const store = openCallStore({ path, readonly: true });
  try {
    return await adviseFromCallLog(config, store, { since: Date.now() - sinceMs });
  } finally {
    await store.close();
  }
}

export const check: Command = {
  name: 'check',
  summary: 'causeway check [-c FILE] [--probe] [--json]  validate and lint a config (exit 1 on errors)',
  help: `causeway check [-c FILE] [--probe] [--since 24h] [--json]

Validates a config: YAML syntax, unknown keys (with "did you mean"), types and units, and
references between sections, each reported as file:line:column path: message. Then lints
settings that validate but hurt in production (timeouts that don't cascade, total beyond the
declared clientTimeout, retries that cannot fit in total, https on port 80...).
When the config's call log (storage.path) exists, advisors compare the config with the traffic
of the last --since (default 24h): a read timeout below a route's observed p99 latency, and a
pool smaller than the peak concurrency by Little's law (requests/s × latency).
Listener certificates (listen[].tls) must exist, parse and match their keys; one that expired
is an error, one that expires within 14 days a warning (with its name and date).
--probe also resolves every target host name.
Exit status: 0 valid (warnings may be printed), 1 errors.`,
  async run(argv) {
    const { values } = parse(argv, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, probe: { type: 'boolean' }, since: { type: 'string' } });
    const since = parseDuration((values.since as string | undefined) ?? '24h');
    if (since === undefined) throw new UsageError(`--since: expected a duration like 24h, got "${values.since}"`);
    const file = configPath(values.config as string | undefined);
    try {
      const config = loadConfigFile(file);
      const findings = [...lintConfig(config), ...tlsFindings(config), ...(await callLogAdvice(config, since)), ...(values.probe ? await probeHosts(config) : [])];
      const errors = findings.filter((f) => f.severity === 'error').length;
      if (values.json) console.log(JSON.stringify({ file, valid: errors === 0, problems: [], findings }, null, 2));
      else {
        printFindings(findings);
        console.log(`${file}: ${errors ? 'invalid' : 'valid'} — ${Object.keys(config.upstreams).length} upstreams, ${config.routes.length} routes, ${findings.length} finding(s)`);
      }
      return errors ? 1 : 0;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      if (values.json) console.log(JSON.stringify({ file, valid: false, problems: err.problems, findings: [] }, null, 2));
      else {
        console.error(err.message);
        console.error(`${file}: invalid — ${err.problems.length} problem(s)`);
      }
      return 1;
    }
  },
};
