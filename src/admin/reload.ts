/**
 * Reloading from the config file, shared by POST /api/config/reload and SIGHUP: the file is
 * re-read and validated first; an invalid one changes nothing and reports the same problems
 * `causeway check` prints (file:line:column path: message).
 */
import { ConfigError, formatProblem, loadConfigFile, type ConfigProblem } from '../config/load.js';
import { lintConfig, type Finding } from '../config/lint.js';
import type { Gateway, ReloadSummary } from '../gateway.js';

export type ReloadOutcome = { ok: true; summary: ReloadSummary; findings: Finding[] } | { ok: false; problems: ConfigProblem[]; lines: string[] };

export function reloadFromFile(gateway: Gateway, file: string): ReloadOutcome {
  let config;
  try {
    config = loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return rejected(gateway, file, err.problems);
  }
  const findings = lintConfig(config);
  const errors = findings.filter((f) => f.severity === 'error');
  if (errors.length) return rejected(gateway, file, errors.map((f) => ({ file, line: 0, column: 0, path: f.path, message: `${f.message} (fix: ${f.fix})` })));
  try {
    return { ok: true, summary: gateway.reload(config), findings };
  } catch (err) {
    // Building the new upstreams failed (an unreadable tls.ca file): nothing was swapped in yet.
    return rejected(gateway, file, [{ file, line: 0, column: 0, path: '', message: (err as Error).message }]);
  }
}

function rejected(gateway: Gateway, file: string, problems: ConfigProblem[]): ReloadOutcome {
  gateway.events.publish({ type: 'config.reload-failed', reason: `${file}: ${problems.length} problem(s); the running config stays` });
  return { ok: false, problems, lines: problems.map(formatProblem) };
}
