/**
 * Reloading from the config file, shared by POST /api/config/reload and SIGHUP: the file is
 * re-read and validated first; an invalid one changes nothing and reports the same problems
 * `causeway check` prints (file:line:column path: message).
 */
import { ConfigError, formatProblem, loadConfigFile, type ConfigProblem } from '../config/load.js';
import { lintConfig, type Finding } from '../config/lint.js';
import type { Config } from '../config/schema.js';
import type { Gateway, ReloadSummary } from '../gateway.js';

export type ReloadOutcome = { ok: true; summary: ReloadSummary; findings: Finding[]; config: Config } | { ok: false; problems: ConfigProblem[]; lines: string[] };
export type ReadOutcome = { ok: true; config: Config; findings: Finding[] } | { ok: false; problems: ConfigProblem[]; lines: string[] };

/** Reads, validates and lints the file without applying it (the cluster primary checks once for all workers). */
export function readReloadable(file: string): ReadOutcome {
  let config;
  try {
    config = loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return invalid(err.problems);
  }
  const findings = lintConfig(config);
  const errors = findings.filter((f) => f.severity === 'error');
  if (errors.length) return invalid(errors.map((f) => ({ file, line: 0, column: 0, path: f.path, message: `${f.message} (fix: ${f.fix})` })));
  return { ok: true, config, findings };
}

export function reloadFromFile(gateway: Gateway, file: string): ReloadOutcome {
  // A node of a fleet: its file's per-node keys, with the fleet's published config (src/fleet/config.ts).
  const read = gateway.fleet ? gateway.fleet.agent.readLocal(file) : readReloadable(file);
  if (!read.ok) return rejected(gateway, file, read.problems);
  try {
    return { ok: true, summary: gateway.reload(read.config), findings: read.findings, config: read.config };
  } catch (err) {
    // Building the new upstreams failed (an unreadable tls.ca file): nothing was swapped in yet.
    return rejected(gateway, file, [{ file, line: 0, column: 0, path: '', message: (err as Error).message }]);
  }
}

function invalid(problems: ConfigProblem[]): ReadOutcome {
  return { ok: false, problems, lines: problems.map(formatProblem) };
}

export function rejected(gateway: Gateway, file: string, problems: ConfigProblem[]): ReloadOutcome {
  gateway.events.publish({ type: 'config.reload-failed', reason: `${file}: ${problems.length} problem(s); the running config stays` });
  return { ok: false, problems, lines: problems.map(formatProblem) };
}
