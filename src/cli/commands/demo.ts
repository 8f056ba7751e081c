/** `causeway demo`: misbehaving backends with a gateway in front (what `npm start` runs). */
import { demoBanner, startDemo } from '../../demo/demo.js';
import { onStopSignals, parse, UsageError, type Command } from '../args.js';

export const demo: Command = {
  name: 'demo',
  summary: 'causeway demo [--port N]           start demo backends and a gateway in front of them',
  help: `causeway demo [--port N] [--host H]

Starts backends that misbehave on purpose (healthy, slow, flaky, closing, down, resetting,
stalled, malformed) and a gateway in front of them on port 8080 (or --port), then prints a
curl command for each failure class.`,
  async run(argv) {
    const { values } = parse(argv, { port: { type: 'string', short: 'p' }, host: { type: 'string' } });
    const port = values.port !== undefined ? Number(values.port) : 8080;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number, got ${String(values.port)}`);
    let running;
    try {
      running = await startDemo({ port, host: (values.host as string | undefined) ?? '127.0.0.1' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        console.error(`causeway demo: port ${port} is in use. Stop what runs there, or pick another: npm start -- --port 8081`);
        return 1;
      }
      throw err;
    }
    process.stdout.write(demoBanner(running) + '\n');
    onStopSignals(() => running.stop());
    return -1;
  },
};
