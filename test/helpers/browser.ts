/** Debian's chromium driven by playwright-core, headless, offline, in a fresh profile (never a downloaded browser). */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** Where browser tests leave their screenshots (gitignored; kept as test artifacts). */
export const OUT = join(process.cwd(), 'test-output');

/** Why the browser tests are skipped, or false; under CI=true a missing chromium is a failure. */
export function browserMissing(): string | false {
  if (existsSync(CHROMIUM)) return false;
  if (process.env['CI'] === 'true') throw new Error(`${CHROMIUM} is missing: CI must install chromium (.ci/run) for the dashboard tests`);
  console.log(`# skipping the dashboard browser tests: ${CHROMIUM} is not installed (apt-get install chromium)`);
  return `${CHROMIUM} is not installed`;
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function launchBrowser(opts: { width: number; height: number; locale?: string }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'causeway-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: opts.width, height: opts.height },
    ...(opts.locale ? { locale: opts.locale } : {}),
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
