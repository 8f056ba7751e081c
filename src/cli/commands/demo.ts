/** `causeway demo`: misbehaving backends with a gateway in front (what `npm start` runs). */
import { demoBanner, startDemo } from '../../demo/demo.js';
import { onStopSignals, parse, UsageError, type Command } from '../args.js';

export const demo: Command = {
  name: 'demo',
  summary: 'causeway demo [--port N]           start demo backends and a gateway in front of them',
  help: `causeway demo [--port N] [--admin-port N] [--host H]

Starts backends that misbehave on purpose (healthy, slow, flaky, closing, down, resetting,
stalled, malformed) and a gateway in front of them on port 8080 (or --port), with the admin API
and dashboard on port 9901 (or --admin-port), then prints a curl command for each failure class.`,
  async run(argv) {
    const { values } = parse(argv, { port: { type: 'string', short: 'p' }, 'admin-port': { type: 'string' }, host: { type: 'string' } });
    const port = portOption('--port', values.port as string | undefined, 8080);
    const adminPort = portOption('--admin-port', values['admin-port'] as string | undefined, 9901);
    let running;
    try {
      running = await startDemo({ port, adminPort, host: (values.host as string | undefined) ?? '127.0.0.1' });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { port?: number };
      if (e.code === 'EADDRINUSE') {
        const admin = e.port === adminPort;
        console.error(`causeway demo: port ${admin ? adminPort : port} is in use. Stop what runs there, or pick another: npm start -- ${admin ? '--admin-port 9902' : '--port 8081'}`);
        return 1;
      }
      throw err;
    }
    process.stdout.write(demoBanner(running) + '\n');
    onStopSignals(() => running.stop());
    return -1;
  },
};

function portOption(name: string, value: string | undefined, fallback: number): number {
  const port = value !== undefined ? Number(value) : fallback;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`${name} must be a port number, got ${String(value)}`);
  return port;
}
