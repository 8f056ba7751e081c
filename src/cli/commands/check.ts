/** `causeway check`: validate and lint a config. */
import { ConfigError, loadConfigFile } from '../../config/load.js';
import { lintConfig, type Finding } from '../../config/lint.js';
import { configPath, parse, type Command } from '../args.js';

function printFindings(findings: Finding[]): void {
  for (const f of findings) console.log(`${f.severity}: ${f.path}: ${f.message}\n  fix: ${f.fix}`);
}

export const check: Command = {
  name: 'check',
  summary: 'causeway check [-c FILE] [--json]  validate and lint a config (exit 1 on errors)',
  help: `causeway check [-c FILE] [--json]

Validates a config: YAML syntax, unknown keys (with "did you mean"), types and units, and
references between sections, each reported as file:line:column path: message. Then lints
settings that validate but hurt in production (timeouts that don't cascade, https on port 80...).
Exit status: 0 valid (warnings may be printed), 1 errors.`,
  async run(argv) {
    const { values } = parse(argv, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } });
    const file = configPath(values.config as string | undefined);
    try {
      const config = loadConfigFile(file);
      const findings = lintConfig(config);
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
