/** What the commands share: argument parsing, the config path, stop signals. */
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

/** A subcommand: `run` returns the exit status, or -1 to keep running (a server). */
export interface Command {
  name: string;
  /** One line for the overview: "causeway name ARGS   what it does". */
  summary: string;
  help: string;
  run(argv: string[]): Promise<number>;
}

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The config file: -c, else $CAUSEWAY_CONFIG, else ./causeway.yaml. */
export function configPath(value: string | undefined): string {
  return resolve(value ?? process.env['CAUSEWAY_CONFIG'] ?? 'causeway.yaml');
}

/** SIGTERM/SIGINT stop gracefully; a second signal forces. */
export function onStopSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (sig: string) => {
    if (stopping) process.exit(1);
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
