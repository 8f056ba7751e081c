/** `causeway start`: run the gateway until SIGTERM/SIGINT. */
import { ConfigError, loadConfigFile } from '../../config/load.js';
import { Gateway } from '../../gateway.js';
import { configPath, onStopSignals, parse, type Command } from '../args.js';

export const start: Command = {
  name: 'start',
  summary: 'causeway start [-c FILE]           run the gateway',
  help: `causeway start [-c FILE]

Runs the gateway with the given config. SIGTERM or SIGINT stops it gracefully: no new
connections, in-flight requests finish (up to server.shutdownTimeout).`,
  async run(argv) {
    const { values } = parse(argv, { config: { type: 'string', short: 'c' } });
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
    onStopSignals(() => gateway.stop());
    return -1;
  },
};
