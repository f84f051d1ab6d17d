// Shared pieces of the browser tests: Debian's Chromium through
// playwright-core (never a downloaded browser), a real `his serve` per test
// file, log-in through the UI, screenshots into tests/e2e/artifacts/.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, DEMO_PASSWORD } from '../lib/server.mjs';

export { DEMO_PASSWORD };
const here = dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = join(here, 'artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--no-first-run', '--disable-gpu', '--disable-quic', '--disable-sync'];

export async function launch() {
  return chromium.launch({ executablePath: process.env.HIS_CHROMIUM || '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

// Starts a server and a browser; returns {server, browser, newPage, close}.
export async function setup() {
  const server = await startServer();
  let browser;
  try {
    browser = await launch();
  } catch (e) {
    await server.stop();
    throw e;
  }
  const contexts = [];
  return {
    server,
    browser,
    // A fresh browser context (own cookies) with a 1366x768 window by default.
    async newPage({ viewport = { width: 1366, height: 768 }, lang } = {}) {
      const context = await browser.newContext({ viewport, baseURL: server.url, locale: 'vi-VN' });
      if (lang) await context.addCookies([{ name: 'his_lang', value: lang, url: server.url }]);
      contexts.push(context);
      const page = await context.newPage();
      page.setDefaultTimeout(15000);
      const problems = [];
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
        if (/Content Security Policy/i.test(m.text())) problems.push(`csp: ${m.text()}`);
      });
      page.problems = problems;
      return page;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close().catch(() => {});
      await server.stop();
    },
  };
}

export async function login(page, username, password = DEMO_PASSWORD) {
  await page.goto('/');
  await page.getByLabel(/Tên đăng nhập|Username/).fill(username);
  await page.getByLabel(/Mật khẩu|Password/).fill(password);
  await page.getByRole('button', { name: /^(Đăng nhập|Sign in)$/ }).click();
  await page.getByTestId('workspace-title').waitFor();
}

export async function shot(page, name) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

// SQL literal for tests (values come from the tests themselves).
export function lit(s) {
  return `'${String(s).replace(/'/g, "''")}'`;
}
