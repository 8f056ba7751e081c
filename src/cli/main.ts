#!/usr/bin/env node
/** The `causeway` command line: start, check, demo. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, loadConfigFile } from '../config/load.js';
import { lintConfig, type Finding } from '../config/lint.js';
import { Gateway } from '../gateway.js';
import { demoBanner, startDemo } from '../demo/demo.js';
import { parse, UsageError } from './args.js';

const USAGE = `causeway — an API gateway that tells you exactly why your backend failed

Usage:
  causeway start [-c FILE]           run the gateway
  causeway check [-c FILE] [--json]  validate and lint a config (exit 1 on errors)
  causeway demo [--port N]           start demo backends and a gateway in front of them
  causeway <command> --help          help for one command

The config file defaults to ./causeway.yaml (or $CAUSEWAY_CONFIG).`;

const HELP: Record<string, string> = {
  start: `causeway start [-c FILE]

Runs the gateway with the given config. SIGTERM or SIGINT stops it gracefully: no new
connections, in-flight requests finish (up to server.shutdownTimeout).`,
  check: `causeway check [-c FILE] [--json]

Validates a config: YAML syntax, unknown keys (with "did you mean"), types and units, and
references between sections, each reported as file:line:column path: message. Then lints
settings that validate but hurt in production (timeouts that don't cascade, https on port 80...).
Exit status: 0 valid (warnings may be printed), 1 errors.`,
  demo: `causeway demo [--port N] [--host H]

Starts backends that misbehave on purpose (healthy, slow, flaky, closing, down, resetting,
stalled, malformed) and a gateway in front of them on port 8080 (or --port), then prints a
curl command for each failure class.`,
};

function configPath(value: string | undefined): string {
  return resolve(value ?? process.env['CAUSEWAY_CONFIG'] ?? 'causeway.yaml');
}

function printFindings(findings: Finding[]): void {
  for (const f of findings) console.log(`${f.severity}: ${f.path}: ${f.message}\n  fix: ${f.fix}`);
}

async function cmdCheck(argv: string[]): Promise<number> {
  const { values } = parse(argv, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } });
  if (values.help) return help('check');
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
}

function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (sig: string) => {
    if (stopping) {
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`\n${sig}: stopping gracefully (in-flight requests finish; ${sig} again forces)\n`);
    stop().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}

async function cmdStart(argv: string[]): Promise<number> {
  const { values } = parse(argv, { config: { type: 'string', short: 'c' } });
  if (values.help) return help('start');
  let config;
  try {
    config = loadConfigFile(configPath(values.config as string | undefined));
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
  const gateway = new Gateway(config);
  await gateway.listen();
  onSignals(() => gateway.stop());
  return -1;
}

async function cmdDemo(argv: string[]): Promise<number> {
  const { values } = parse(argv, { port: { type: 'string', short: 'p' }, host: { type: 'string' } });
  if (values.help) return help('demo');
  const port = values.port !== undefined ? Number(values.port) : 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number, got ${String(values.port)}`);
  let demo;
  try {
    demo = await startDemo({ port, host: (values.host as string | undefined) ?? '127.0.0.1' });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') {
      console.error(`causeway demo: port ${port} is in use. Stop what runs there, or pick another: npm start -- --port 8081`);
      return 1;
    }
    throw err;
  }
  process.stdout.write(demoBanner(demo) + '\n');
  onSignals(() => demo.stop());
  return -1;
}

function help(cmd?: string): number {
  console.log(cmd ? HELP[cmd] : USAGE);
  return 0;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'start':
      return cmdStart(rest);
    case 'check':
      return cmdCheck(rest);
    case 'demo':
      return cmdDemo(rest);
    case '--version':
    case '-v':
      console.log(version());
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return help(rest[0]);
    default:
      throw new UsageError(`unknown command "${cmd}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err) => {
    if (err instanceof UsageError) {
      console.error(`causeway: ${err.message}\n\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    console.error(err);
    process.exitCode = 1;
  },
);
