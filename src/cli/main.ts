#!/usr/bin/env node
/** The `causeway` command line. Each command lives in commands/<name>.ts and is listed here. */
import { readFileSync } from 'node:fs';
import { UsageError, type Command } from './args.js';
import { check } from './commands/check.js';
import { config } from './commands/config.js';
import { demo } from './commands/demo.js';
import { doctor } from './commands/doctor.js';
import { explain } from './commands/explain.js';
import { start } from './commands/start.js';

const COMMANDS: Command[] = [start, check, doctor, explain, demo, config];

const USAGE = `causeway — an API gateway that tells you exactly why your backend failed

Usage:
${COMMANDS.map((c) => `  ${c.summary}`).join('\n')}
  causeway <command> --help          help for one command

The config file defaults to ./causeway.yaml (or $CAUSEWAY_CONFIG).`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    console.log(version());
    return 0;
  }
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const cmd = COMMANDS.find((c) => c.name === rest[0]);
    console.log(cmd ? cmd.help : USAGE);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) throw new UsageError(`unknown command "${name}"`);
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(cmd.help);
    return 0;
  }
  return cmd.run(rest);
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
