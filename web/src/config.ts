/** Config: the running config (secrets masked) with its lint findings, and a reload button. */
import { stringify } from 'yaml';
import { api, ApiError } from './api.js';
import { badge, h } from './dom.js';
import type { Page } from './page.js';
import type { Finding } from './types.js';

export function config(): Page {
  let findings: HTMLElement, text: HTMLElement, result: HTMLElement, title: HTMLElement, reload: HTMLButtonElement;
  return {
    title: 'Config',
    mount(el) {
      findings = h('div', { id: 'findings' });
      text = h('pre', { class: 'config' });
      result = h('div', { id: 'reload-result' });
      title = h('h2', {}, 'Running config');
      reload = h('button', { type: 'button', id: 'reload' }, 'Reload from file');
      reload.addEventListener('click', async () => {
        result.replaceChildren(h('p', { class: 'muted' }, 'Reloading…'));
        try {
          const r = await api<{ summary: { kept: string[]; changed: string[]; added: string[]; removed: string[]; restartRequired: string[] } }>('/api/config/reload', { method: 'POST' });
          const s = r.summary;
          result.replaceChildren(h('p', { class: 'ok' }, `Reloaded: upstreams changed [${s.changed.join(', ')}], added [${s.added.join(', ')}], removed [${s.removed.join(', ')}], ${s.kept.length} kept with their pools.${s.restartRequired.length ? ` Needs a restart: ${s.restartRequired.join(', ')}.` : ''}`));
        } catch (err) {
          result.replaceChildren(h('pre', { class: 'error' }, err instanceof ApiError ? err.message : String(err)));
        }
      });
      el.append(h('section', {}, h('h2', {}, 'Lint findings'), findings), h('section', {}, title, h('p', {}, reload), result, text));
    },
    async refresh() {
      const c = await api<{ file: string | null; config: unknown; findings: Finding[] }>('/api/config');
      title.textContent = `Running config${c.file ? ` — ${c.file}` : ' (built in: no file to reload)'}`;
      reload.disabled = !c.file;
      findings.replaceChildren(
        c.findings.length
          ? h('ul', { class: 'findings' }, ...c.findings.map((f) => h('li', {}, badge(f.severity, f.severity === 'error' ? 'bad' : f.severity === 'warning' ? 'warn' : 'muted'), ' ', h('code', {}, f.path), ` ${f.message}`, h('div', { class: 'fix' }, `fix: ${f.fix}`))))
          : h('p', { class: 'muted' }, 'No findings: nothing in this config is known to hurt in production.'),
      );
      text.textContent = stringify(c.config, { lineWidth: 0 });
    },
  };
}
