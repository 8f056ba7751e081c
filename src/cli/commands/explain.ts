/** `causeway explain REQUEST_ID`: the timeline, classification, remedy and context of one logged call. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, loadConfigFile } from '../../config/load.js';
import { explainCall, formatExplanation } from '../../diagnose/explain.js';
import { openCallStore } from '../../observe/store.js';
import { configPath, parse, UsageError, type Command } from '../args.js';

/** The call log file: --db, else the config's storage.path (relative to the working directory, as the gateway opens it). */
function callLogPath(db: string | undefined, config: string | undefined): string {
  if (db) return resolve(db);
  const cfg = loadConfigFile(configPath(config));
  if (!cfg.storage.enabled || cfg.storage.path === ':memory:') throw new UsageError('the config keeps no call log file (storage.enabled is false or storage.path is :memory:)');
  return resolve(cfg.storage.path);
}

export const explain: Command = {
  name: 'explain',
  summary: 'causeway explain REQUEST_ID [-c FILE] [--db FILE] [--json]  why one call failed, from the call log',
  help: `causeway explain REQUEST_ID [-c FILE] [--db FILE] [--json]

Reads one call from the call log (storage.path of the config, or --db) and prints its timeline —
each attempt with its target, phase timings (dns, connect, tls, send, ttfb, body) as bars, outcome
and why a retry followed — then the classification with the cause in plain words and the fix,
and how many other calls to the same upstream failed the same way in the 5 minutes around it,
on which targets. The request id is the X-Request-Id header of the response.
Exit status: 0 found, 1 not in the call log.`,
  async run(argv) {
    const { values, positionals } = parse(argv, { config: { type: 'string', short: 'c' }, db: { type: 'string' }, json: { type: 'boolean' } });
    const id = positionals[0];
    if (!id) throw new UsageError('explain needs a REQUEST_ID (the X-Request-Id of the response)');
    let path: string;
    try {
      path = callLogPath(values.db as string | undefined, values.config as string | undefined);
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(err.message);
        return 1;
      }
      throw err;
    }
    if (!existsSync(path)) {
      console.error(`causeway: no call log at ${path} (has the gateway run with this config?)`);
      return 1;
    }
    const store = openCallStore({ path, readonly: true });
    try {
      const e = explainCall(store, id);
      if (!e) {
        console.error(`causeway: no call ${id} in ${path} (calls are written within 200 ms; older ones may be pruned by storage.retention)`);
        return 1;
      }
      console.log(values.json ? JSON.stringify(e, null, 2) : formatExplanation(e));
      return 0;
    } finally {
      await store.close();
    }
  },
};
