/** The fleet (storage.url): every node with its config version, state and last report, and the published versions. */
import { api } from './api.js';
import { badge, clock, h, table } from './dom.js';
import type { Page } from './page.js';

interface FleetNode {
  node: string;
  configVersion: number | null;
  state: 'applied' | 'rejected' | 'local';
  error: string | null;
  lastSeen: number;
  up: boolean;
  admin: string | null;
  listen: string | null;
}
interface Fleet {
  fleet: boolean;
  node: string;
  nodes: FleetNode[];
  versions: Array<{ version: number; created: number; source: string; note: string | null }>;
}

export function fleet(): Page {
  let box: HTMLElement;
  return {
    title: 'Fleet',
    mount(el) {
      box = h('div', { id: 'fleet' });
      el.append(box);
    },
    async refresh() {
      const f = await api<Fleet>('/api/fleet');
      if (!f.fleet) {
        box.replaceChildren(h('p', { class: 'muted' }, `This gateway (${f.node}) is not part of a fleet: set storage.url to a PostgreSQL database to share consumers, the call log and the config between nodes (docs/fleet.md).`));
        return;
      }
      const latest = f.versions[0]?.version ?? null;
      box.replaceChildren(
        h('section', {}, h('h2', {}, `Nodes (this one: ${f.node})`),
          table(
            ['node', 'up', 'config', 'state', 'last report', 'listen', 'calls'],
            f.nodes.map((n) =>
              h('tr', { 'data-node': n.node, 'data-up': String(n.up) },
                h('td', {}, n.node),
                h('td', {}, badge(n.up ? 'up' : 'down', n.up ? 'good' : 'bad')),
                h('td', {}, n.configVersion === null ? 'own file' : `v${n.configVersion}${latest !== null && n.configVersion !== latest ? ` (newest v${latest})` : ''}`),
                h('td', { title: n.error ?? '' }, badge(n.state, n.state === 'rejected' ? 'bad' : n.state === 'applied' ? 'good' : 'warn'), n.error ? ` ${n.error.split('\n')[0]}` : ''),
                h('td', {}, clock(n.lastSeen)),
                h('td', {}, n.listen ?? ''),
                h('td', {}, h('a', { href: `#calls?node=${encodeURIComponent(n.node)}` }, 'its calls')),
              ),
            ),
          ),
        ),
        h('section', {}, h('h2', {}, 'Published config versions'),
          f.versions.length
            ? table(['version', 'published', 'by', 'note'], f.versions.map((v) => h('tr', {}, h('td', {}, `v${v.version}`), h('td', {}, clock(v.created)), h('td', {}, v.source), h('td', {}, v.note ?? ''))))
            : h('p', { class: 'muted' }, 'None yet: causeway config push -c FILE publishes one.'),
        ),
      );
    },
  };
}
