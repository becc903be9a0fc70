// Test harness: starts a Warren (the debug binary) on free loopback ports with a fresh data
// directory, launches Debian's Chromium through playwright-core (never a downloaded browser),
// and talks to the management API directly for setup and checks.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

// fileURLToPath rather than import.meta.dirname: Debian 12's Node 18 runs these tests.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const BINARY = process.env.WARREN_BIN || join(ROOT, 'target/debug/warren');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

async function waitFor(url, ms) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${url} did not answer within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A running Warren: `base` (http://127.0.0.1:port), `amqp` URL, `api()`, `stop()`. */
export async function startWarren() {
  const [amqpPort, httpPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'warren-ui-'));
  const args = [
    '--data-dir', dir,
    '--listen', `127.0.0.1:${amqpPort}`,
    '--set', `management.tcp.port=${httpPort}`,
    '--set', 'prometheus.tcp.port=0',
  ];
  const proc = spawn(BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log = (log + d).slice(-4000); });
  const exited = new Promise((r) => proc.once('exit', r));
  // If the test process dies without stop(), the broker must not outlive it.
  const orphanGuard = () => proc.kill('SIGKILL');
  process.once('exit', orphanGuard);
  const base = `http://127.0.0.1:${httpPort}`;
  try {
    await Promise.race([waitFor(`${base}/`, 30000), exited.then((c) => { throw new Error(`warren exited (${c}): ${log}`); })]);
  } catch (e) {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
  return {
    base,
    amqp: `amqp://guest:guest@127.0.0.1:${amqpPort}/%2F`,
    /** The management API as guest: returns {status, body}. */
    async api(method, path, body) {
      const r = await fetch(`${base}/api${path}`, {
        method,
        headers: { Authorization: auth, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : null };
    },
    async stop() {
      process.removeListener('exit', orphanGuard);
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
}

/**
 * A page that records every request it makes and every script error, so tests can assert the
 * UI only ever talks to Warren and never throws.
 */
export async function newPage(browser, base, viewport = { width: 1280, height: 900 }) {
  const page = await browser.newPage({ viewport });
  page.requests = [];
  page.errors = [];
  page.on('request', (r) => page.requests.push(r.url()));
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.on('dialog', (d) => d.accept());
  page.base = base;
  return page;
}

/** Logs in through the form; unless `refused`, waits until the app is shown. */
export async function logIn(page, user = 'guest', password = 'guest', refused = false) {
  await page.goto(`${page.base}/`);
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('form button[type=submit]');
  if (!refused) await page.locator('nav#nav').waitFor({ state: 'attached' });
}

/**
 * Runs `fn(page)` on a new page and closes it; on failure the error carries what the page
 * showed and which API calls it made, so a CI log explains itself.
 */
export async function withPage(browser, base, fn, viewport) {
  const page = await newPage(browser, base, viewport);
  try {
    await fn(page);
  } catch (e) {
    const text = await page.locator('body').innerText().catch(() => '(no page)');
    const calls = page.requests.filter((u) => u.includes('/api/')).slice(-10);
    e.message += `\n--- page at ${page.url()} ---\n${text.slice(0, 3000)}\n--- last API calls ---\n${calls.join('\n')}\n--- script errors ---\n${page.errors.join('\n')}`;
    throw e;
  } finally {
    await page.close();
  }
}
