/** `causeway start`: run the gateway and its admin listener until SIGTERM/SIGINT; SIGHUP reloads the config. */
import cluster from 'node:cluster';
import { AdminServer, baseUrl } from '../../admin/server.js';
import { reloadFromFile } from '../../admin/reload.js';
import { ConfigError, loadConfigFile } from '../../config/load.js';
import { Gateway } from '../../gateway.js';
import { buildForStart, dataListenFailure, listenFailure, startupFailure, startupLines } from '../../startup.js';
import { runPrimary } from '../../cluster/primary.js';
import { WORKER_ENV, runWorker } from '../../cluster/worker.js';
import { resolveWorkers } from '../../cluster/workers.js';
import { configPath, onStopSignals, parse, type Command } from '../args.js';

export const start: Command = {
  name: 'start',
  summary: 'causeway start [-c FILE]           run the gateway',
  help: `causeway start [-c FILE]

Runs the gateway with the given config, and the admin API and dashboard on admin.host:admin.port
(127.0.0.1:9901 by default). SIGTERM or SIGINT stops it gracefully: no new connections,
in-flight requests finish (up to server.shutdownTimeout). SIGHUP (or POST /api/config/reload)
re-reads the config file: an invalid file is reported and the running config stays.

With workers: N (or auto) in the config, N processes serve the data plane and share breakers,
ejections, health, rate limits and the call log; worker 1 serves the admin API (docs/workers.md).`,
  async run(argv) {
    const { values } = parse(argv, { config: { type: 'string', short: 'c' } });
    // A process forked by the primary below: it takes its config from the primary.
    if (cluster.isWorker && process.env[WORKER_ENV]) return runWorker();
    const file = configPath(values.config as string | undefined);
    let config;
    try {
      config = loadConfigFile(file);
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(err.message);
        return 1;
      }
      throw err;
    }
    const workers = resolveWorkers(config.workers);
    if (workers > 1) return runPrimary({ file, config, workers });
    const gateway = buildForStart(() => new Gateway(config), file, config);
    if (!gateway) return 1;
    const adminListen = config.admin ?? { host: '127.0.0.1', port: 9901 };
    const admin = new AdminServer({ gateway, configFile: file }, adminListen);
    try {
      await gateway.listen().catch((err: unknown) => {
        throw dataListenFailure(err, config);
      });
      const adminAddr = await admin.listen().catch((err: unknown) => {
        throw listenFailure(err, 'admin', adminListen.host, adminListen.port);
      });
      for (const line of startupLines(file, config, baseUrl(adminAddr))) gateway.logger.info({ kind: 'lifecycle', ...line.fields }, line.msg);
    } catch (err) {
      await admin.close().catch(() => undefined);
      await gateway.stop(0);
      console.error(`causeway start: ${startupFailure(err, file, config)}`);
      return 1;
    }
    process.on('SIGHUP', () => {
      const out = reloadFromFile(gateway, file);
      if (out.ok) {
        const s = out.summary;
        process.stderr.write(`SIGHUP: reloaded ${file}: ${s.routes} routes; upstreams changed [${s.changed.join(', ')}], added [${s.added.join(', ')}], removed [${s.removed.join(', ')}]${s.restartRequired.length ? `; a restart is needed to apply ${s.restartRequired.join(', ')}` : ''}\n`);
      }
      else process.stderr.write(`SIGHUP: ${file} is invalid; the running config stays:\n${out.lines.join('\n')}\n`);
    });
    onStopSignals(async () => {
      await admin.close();
      await gateway.stop();
    });
    return -1;
  },
};

