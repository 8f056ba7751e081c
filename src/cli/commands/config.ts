/** `causeway config push|history|show|rollback|nodes`: the config of a fleet (storage.url; docs/fleet.md). */
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { ConfigError, loadConfigFile } from '../../config/load.js';
import { FleetConfigStore } from '../../fleet/config.js';
import { connect, describeDbError, migrate } from '../../fleet/db.js';
import { configPath, parse, UsageError, type Command } from '../args.js';

const HELP = `causeway config push -c FILE [--note TEXT]   publish the fleet-wide part of a validated config
causeway config history -c FILE [--json]       the published versions, newest first
causeway config show VERSION -c FILE           one published version's YAML
causeway config rollback VERSION -c FILE       publish VERSION again as the newest version
causeway config nodes -c FILE [--json]         every node: its config version, last report, state

FILE gives storage.url (the fleet's PostgreSQL database). push validates the whole file first, as
\`causeway check\` does: an invalid config is never published (exit 1). What is published is
everything but the per-node keys (node, listen, admin, storage, workers, log), with \${ENV}
references kept as written: each node resolves them from its own environment. Every node applies
a new version within about a second, by the rules of a reload; a version invalid on a node is
not applied there (its state says rejected, with the reason). See docs/fleet.md.`;

export const config: Command = {
  name: 'config',
  summary: 'causeway config push|history|show|rollback|nodes -c FILE   the config of a fleet',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parse(argv, { config: { type: 'string', short: 'c' }, note: { type: 'string' }, json: { type: 'boolean' } });
    const [action, arg] = positionals;
    if (!action || !['push', 'history', 'show', 'rollback', 'nodes'].includes(action)) throw new UsageError(`config: expected push, history, show, rollback or nodes\n${HELP}`);
    const file = configPath(values.config as string | undefined);
    let cfg;
    try {
      cfg = loadConfigFile(file);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      console.error(err.message);
      if (action === 'push') console.error(`causeway config push: ${file} is invalid; nothing was published`);
      return 1;
    }
    if (!cfg.storage.url) {
      console.error(`causeway config: ${file} has no storage.url: a fleet keeps its config in PostgreSQL (docs/fleet.md)`);
      return 1;
    }
    const sql = connect(cfg.storage.url, { max: 1 });
    const store = new FleetConfigStore(sql);
    const source = `causeway config on ${hostname()} by ${userInfo().username}`;
    try {
      await migrate(sql);
      if (action === 'push') {
        const v = await store.push(readFileSync(file, 'utf8'), source, (values.note as string | undefined) ?? null, file);
        console.log(values.json ? JSON.stringify({ version: v }) : `published ${file} as config version ${v}; every node applies it within a second (causeway config nodes -c ${file})`);
        return 0;
      }
      if (action === 'history') {
        const list = await store.history(100);
        if (values.json) console.log(JSON.stringify(list, null, 2));
        else if (!list.length) console.log('no config version published yet');
        else for (const v of list) console.log(`${String(v.version).padStart(5)}  ${new Date(v.created).toISOString()}  ${v.source}${v.note ? `  (${v.note})` : ''}`);
        return 0;
      }
      if (action === 'nodes') {
        const nodes = await store.nodes();
        if (values.json) console.log(JSON.stringify(nodes, null, 2));
        else if (!nodes.length) console.log('no node has reported yet');
        else
          for (const n of nodes)
            console.log(`${n.node.padEnd(24)} ${n.up ? 'up  ' : 'DOWN'}  version ${n.configVersion ?? '-'} ${n.state}  last report ${new Date(n.lastSeen).toISOString()}${n.error ? `\n    ${n.error.split('\n').join('\n    ')}` : ''}`);
        return 0;
      }
      const version = Number(arg);
      if (!Number.isInteger(version) || version < 1) throw new UsageError(`config ${action}: expected a version number (causeway config history -c ${file})`);
      const v = await store.get(version);
      if (!v) {
        console.error(`causeway config: no version ${version} in the fleet database (causeway config history -c ${file})`);
        return 1;
      }
      if (action === 'show') {
        process.stdout.write(v.yaml);
        return 0;
      }
      const next = await store.rollback(version, source);
      console.log(`published version ${version} again as config version ${next}; every node applies it within a second`);
      return 0;
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(err.message);
        console.error(`causeway config push: ${file} is invalid; nothing was published`);
        return 1;
      }
      if (err instanceof UsageError) throw err;
      console.error(`causeway config: ${describeDbError(err)}`);
      return 1;
    } finally {
      await sql.end({ timeout: 2 });
    }
  },
};
