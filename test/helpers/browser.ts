/**
 * A real Chromium for the dashboard's tests, driven by playwright-core (no browser
 * download: Debian's `chromium`, installed by .ci/setup-system). Closed in a `finally`.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

export const CHROMIUM_BIN = process.env['PANDAKV_CHROMIUM_BIN'] ?? '/usr/bin/chromium';

/**
 * Screenshots go here when PANDAKV_SCREENSHOT_DIR is set (docs/dashboard.md's come from
 * `PANDAKV_SCREENSHOT_DIR=docs/dashboard node dist/test/run.js dashboard-browser`).
 */
const SHOT_DIR = process.env['PANDAKV_SCREENSHOT_DIR'] ?? null;

export async function withBrowser<T>(body: (browser: Browser) => Promise<T>): Promise<T> {
  if (!existsSync(CHROMIUM_BIN)) throw new Error(`no Chromium at ${CHROMIUM_BIN} (run .ci/setup-system, or set PANDAKV_CHROMIUM_BIN)`);
  // Root has no user namespace sandbox here; the page is our own, on loopback.
  const browser = await chromium.launch({
    executablePath: CHROMIUM_BIN, headless: true, timeout: 60_000,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--disable-extensions'],
  });
  try {
    return await body(browser);
  } finally {
    await browser.close();
  }
}

/** A page whose console errors and uncaught exceptions are collected for the test to check. */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  page.setDefaultTimeout(30_000);
  await page.goto(url);
  return { page, errors };
}

/** Screenshot of one element when screenshots are on. */
export async function shoot(target: Locator | Page, name: string): Promise<void> {
  if (SHOT_DIR === null) return;
  mkdirSync(SHOT_DIR, { recursive: true });
  // Canvases are drawn in effects after the DOM commit: let two frames pass first.
  const page = 'page' in target ? target.page() : target;
  await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
  await target.screenshot({ path: join(SHOT_DIR, `${name}.png`) });
}

