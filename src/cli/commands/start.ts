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
import { openFleet, type Fleet } from '../../fleet/index.js';
import { describeDbError } from '../../fleet/db.js';

export const start: Command = {
  name: 'start',
  summary: 'causeway start [-c FILE]           run the gateway',
  help: `causeway start [-c FILE]

Runs the gateway with the given config, and the admin API and dashboard on admin.host:admin.port
(127.0.0.1:9901 by default). SIGTERM or SIGINT stops it gracefully: no new connections,
in-flight requests finish (up to server.shutdownTimeout). SIGHUP (or POST /api/config/reload)
re-reads the config file: an invalid file is reported and the running config stays.

With workers: N (or auto) in the config, N processes serve the data plane and share breakers,
ejections, health, rate limits and the call log; worker 1 serves the admin API (docs/workers.md).

With storage.url (PostgreSQL), the gateway is a node of a fleet: consumers, the call log and the
config published with \`causeway config push\` are shared by every node (docs/fleet.md).`,
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
    let fleet: Fleet | null = null;
    if (config.storage.url) {
      if (workers > 1) {
        console.error(`causeway start: workers: ${workers} with storage.url is not supported; run one node per process (docs/fleet.md)`);
        return 1;
      }
      try {
        fleet = await openFleet(config, { file });
        config = await fleet.agent.initial(config);
      } catch (err) {
        await fleet?.close();
        console.error(`causeway start: cannot open the fleet database (storage.url): ${describeDbError(err)}`);
        return 1;
      }
    }
    if (workers > 1) return runPrimary({ file, config, workers });
    const startConfig = config;
    const gateway = buildForStart(() => new Gateway(startConfig, fleet ? { fleet } : {}), file, config);
    if (!gateway) {
      await fleet?.close();
      return 1;
    }
    const adminListen = config.admin ?? { host: '127.0.0.1', port: 9901 };
    const admin = new AdminServer({ gateway, configFile: file }, adminListen);
    // Before any port opens: a SIGTERM that arrives while the listeners start still stops gracefully.
    onStopSignals(async () => {
      await admin.close().catch(() => undefined);
      await gateway.stop();
      await fleet?.close();
    });
    try {
      await gateway.listen().catch((err: unknown) => {
        throw dataListenFailure(err, config);
      });
      const adminAddr = await admin.listen().catch((err: unknown) => {
        throw listenFailure(err, 'admin', adminListen.host, adminListen.port);
      });
      for (const line of startupLines(file, config, baseUrl(adminAddr))) gateway.logger.info({ kind: 'lifecycle', ...line.fields }, line.msg);
      if (fleet) {
        const agent = fleet.agent;
        agent.events = gateway.events;
        agent.apply = (c) => gateway.reload(c);
        const at = gateway.addresses.map((a) => `${a.address}:${a.port}`).join(', ') || null;
        agent.addresses = () => ({ admin: baseUrl(adminAddr), listen: at });
        await agent.start();
        gateway.logger.info({ kind: 'lifecycle', node: fleet.node, configVersion: agent.version }, `fleet node ${fleet.node}: config version ${agent.version ?? 'none published'} (${agent.state})`);
      }
    } catch (err) {
      await admin.close().catch(() => undefined);
      await gateway.stop(0);
      await fleet?.close();
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
    return -1;
  },
};

