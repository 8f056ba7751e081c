/** `causeway doctor TARGET`: probe a backend directly, step by step, and compare with the gateway. */
import { ConfigError, loadConfigFile } from '../../config/load.js';
import { parseDuration } from '../../config/units.js';
import { existsSync } from 'node:fs';
import type { Config } from '../../config/schema.js';
import { formatDoctor, runDoctor } from '../../diagnose/doctor.js';
import { DEFAULT_ADMIN, fetchRunningConfig } from '../../diagnose/locate.js';
import { configPath, parse, UsageError, type Command } from '../args.js';

export const doctor: Command = {
  name: 'doctor',
  summary: 'causeway doctor TARGET [-c FILE] [--json]  probe a backend directly (DNS, TCP, TLS, HTTP) and compare with the gateway',
  help: `causeway doctor TARGET [-c FILE | --admin URL] [--timeout 3s] [--no-gateway] [--json]

TARGET is an upstream name of the config (-c; every target is probed) or a URL. Each target is
probed directly, bypassing the gateway: DNS resolution, TCP connect, TLS handshake (https) or a
check that the port does not speak TLS (http), then GET of the URL path (or the upstream's
health-check path, else /) — with the time of each step. It stops at the first failing step
and prints the failure code the gateway gives for it and the fix.
An upstream name needs the config: -c FILE ($CAUSEWAY_CONFIG, ./causeway.yaml), or, when there is
no config file, the running gateway's own (GET /api/config on --admin URL, default
${DEFAULT_ADMIN}, where \`npm start\` serves it; --token or $CAUSEWAY_ADMIN_TOKEN when needed).
With a config it also sends one GET through the running gateway (listen address of the config) on a
route to that upstream, and says which side the problem is on: backend, network or gateway.
The probe uses the upstream's connect timeout and waits up to twice the route's read (at least
10 s) for the response, and says when the backend is slower than read; --timeout sets both.
Exit status: 0 no problem found, 1 a problem, 2 usage.`,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean' },
      timeout: { type: 'string' },
      'no-gateway': { type: 'boolean' },
      admin: { type: 'string' },
      token: { type: 'string' },
    });
    const target = positionals[0];
    if (!target) throw new UsageError('doctor needs a TARGET: an upstream name (with -c) or a URL');
    const timeout = values.timeout === undefined ? undefined : parseDuration(values.timeout as string);
    if (values.timeout !== undefined && timeout === undefined) throw new UsageError(`--timeout: expected a duration like 3s, got "${values.timeout}"`);
    let config: Config | undefined;
    const given = (values.config as string | undefined) ?? process.env['CAUSEWAY_CONFIG'];
    const isUrl = /^https?:\/\//i.test(target);
    if (values.admin !== undefined || (!isUrl && given === undefined && !existsSync(configPath(undefined)))) {
      const running = await fetchRunningConfig(((values.admin as string | undefined) ?? DEFAULT_ADMIN).replace(/\/+$/, ''), (values.token as string | undefined) ?? process.env['CAUSEWAY_ADMIN_TOKEN']);
      if (!running.ok) {
        console.error(`causeway: ${running.reason}`);
        return 1;
      }
      config = running.config;
    } else if (values.config !== undefined || !isUrl) {
      try {
        config = loadConfigFile(configPath(values.config as string | undefined));
      } catch (err) {
        if (err instanceof ConfigError) {
          console.error(err.message);
          return 1;
        }
        throw err;
      }
    }
    let report;
    try {
      report = await runDoctor({ target, config, connectTimeout: timeout, readTimeout: timeout, viaGateway: !values['no-gateway'] });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    console.log(values.json ? JSON.stringify(report, null, 2) : formatDoctor(report));
    return report.side === 'none' ? 0 : 1;
  },
};
