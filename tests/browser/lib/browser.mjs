// Launches Debian's Chromium through playwright-core (which never downloads a browser), with a
// fresh profile directory, and records what the page does that a test must see: dialogs, console
// errors, uncaught exceptions, CSP violations.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './diamond.mjs';

export const CHROMIUM = process.env.DIAMOND_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(repoRoot, 'target/browser-artifacts');

/** null when Chromium can run here; otherwise why not (a failure under DIAMOND_REQUIRE_EXTERNAL=1). */
export function chromiumMissing() {
  if (existsSync(CHROMIUM)) return null;
  const why = `${CHROMIUM} not found (apt-get install chromium, or run scripts/setup-test-deps)`;
  if (process.env.DIAMOND_REQUIRE_EXTERNAL === '1') throw new Error(why);
  return why;
}

export async function launch({ width = 1280, height = 900 } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'diamond-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width, height },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const events = { dialogs: [], errors: [], pageErrors: [] };
  const watch = (page) => {
    page.on('dialog', (d) => { events.dialogs.push(`${d.type()}: ${d.message()}`); d.dismiss().catch(() => {}); });
    page.on('pageerror', (e) => events.pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const t = m.text();
      // A fetch that answers 404 is logged by Chromium; the UI handles those answers on purpose.
      if (/Failed to load resource: the server responded with a status of 404/.test(t)) return;
      events.errors.push(t);
    });
  };
  context.on('page', watch);
  const page = context.pages()[0] ?? await context.newPage();
  watch(page);
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    context,
    page,
    events,
    async screenshot(name, p = page) {
      await p.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
