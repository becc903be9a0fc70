// End-to-end tests of the web UI in headless Chromium against a real Warren: log in, create a
// queue, publish from the UI, see the count and the chart move, get the message, purge,
// delete; a wrong password and a user without management tags are refused; every page
// renders without script errors and without requests to any other origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { startWarren, launchBrowser, newPage, logIn } from './harness.mjs';

let warren;
let browser;

before(async () => {
  warren = await startWarren();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await warren?.stop();
});

/** Waits until the chart's newest sample equals `want` (per series, null = any). */
async function chartReaches(page, id, want) {
  await page.waitForFunction(
    ([sel, w]) => {
      const el = document.querySelector(sel);
      if (!el) return false;
      const last = JSON.parse(el.dataset.last);
      return w.every((v, i) => v === null || last[i] === v);
    },
    [`#${id}`, want],
    { timeout: 15000 },
  );
  return page.$eval(`#${id}`, (el) => Number(el.dataset.samples));
}

test('a wrong password is refused and nothing is shown', async () => {
  const page = await newPage(browser, warren.base);
  await logIn(page, 'guest', 'not-the-password');
  const alert = page.locator('.login [role=alert]');
  await alert.waitFor();
  assert.match(await alert.textContent(), /Login refused/);
  assert.equal(await page.locator('nav#nav').count(), 0);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.close();
});

test('a user without a management tag is refused', async () => {
  const r = await warren.api('PUT', '/users/ui-plain', { password: 'pw', tags: '' });
  assert.ok(r.status === 201 || r.status === 204, `PUT user: ${r.status}`);
  const page = await newPage(browser, warren.base);
  await logIn(page, 'ui-plain', 'pw');
  const alert = page.locator('.login [role=alert]');
  await alert.waitFor();
  assert.match(await alert.textContent(), /Not management user/);
  await page.close();
});

test('a monitoring user is offered only the pages its tags allow', async () => {
  await warren.api('PUT', '/users/ui-monitor', { password: 'pw', tags: 'monitoring' });
  const page = await newPage(browser, warren.base);
  await logIn(page, 'ui-monitor', 'pw');
  await page.locator('h1', { hasText: 'Overview' }).waitFor();
  const nav = await page.locator('nav#nav a').allTextContents();
  assert.ok(nav.includes('Queues') && nav.includes('Connections'), nav.join());
  assert.ok(!nav.includes('Users') && !nav.includes('Definitions'), nav.join());
  // Typing the address anyway shows the API's refusal, not a broken page.
  await page.goto(`${warren.base}/#/users`);
  await page.locator('main [role=alert]', { hasText: 'Not administrator user' }).waitFor();
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('queue life cycle: create, publish, count and chart move, get, purge, delete', async () => {
  const page = await newPage(browser, warren.base);
  await logIn(page);
  await page.locator('h1', { hasText: 'Overview' }).waitFor();

  await page.click('nav >> text=Queues');
  await page.fill('#f-name', 'ui-e2e-q');
  await page.click('text=Add queue');
  await page.locator('[role=status]', { hasText: 'Queue ui-e2e-q declared.' }).waitFor();
  assert.equal((await warren.api('GET', '/queues/%2F/ui-e2e-q')).status, 200);
  await page.click('table >> text=ui-e2e-q');
  await page.locator('h1', { hasText: 'ui-e2e-q' }).waitFor();
  const before = await chartReaches(page, 'chart-queue', [0, 0, 0]);

  await page.fill('form[aria-label="Publish a message"] #f-payload', 'hello from the UI');
  await page.click('text=Publish message');
  await page.locator('[role=status]', { hasText: 'Message published and routed.' }).waitFor();
  await page.locator('[data-fact=ready] dd', { hasText: /^1$/ }).waitFor();
  const after = await chartReaches(page, 'chart-queue', [1, 0, 1]);
  assert.ok(after > before, `the chart took a new sample (${before} -> ${after})`);

  await page.click('text=Get messages >> nth=-1');
  await page.locator('.payload', { hasText: 'hello from the UI' }).waitFor();
  // The default ack mode requeues, so the message is still there.
  await page.locator('[data-fact=ready] dd', { hasText: /^1$/ }).waitFor();

  await page.click('text=Purge messages');
  await page.locator('[role=status]', { hasText: 'Queue ui-e2e-q purged.' }).waitFor();
  await page.locator('[data-fact=total] dd', { hasText: /^0$/ }).waitFor();
  await chartReaches(page, 'chart-queue', [0, 0, 0]);
  assert.equal((await warren.api('GET', '/queues/%2F/ui-e2e-q')).body.messages, 0);

  await page.click('text=Delete queue');
  await page.locator('[role=status]', { hasText: 'Queue ui-e2e-q deleted.' }).waitFor();
  assert.equal((await warren.api('GET', '/queues/%2F/ui-e2e-q')).status, 404);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the queues list is paged, filtered and sorted by the server', async () => {
  for (let i = 0; i < 60; i += 1) {
    await warren.api('PUT', `/queues/%2F/ui-page-${String(i).padStart(2, '0')}`, { durable: false });
  }
  const page = await newPage(browser, warren.base);
  await logIn(page);
  await page.goto(`${warren.base}/#/queues`);
  await page.locator('.pager', { hasText: 'Page 1 of 2' }).waitFor();
  await page.fill('#queue-filter', 'ui-page-5');
  await page.locator('.pager', { hasText: '10 shown of 60' }).waitFor();
  await page.click('th >> text=Name');
  await page.locator('th[aria-sort=descending]').waitFor();
  // The header changes at once; the rows when the server's answer arrives.
  await page.locator('tbody tr >> nth=0 >> td >> nth=1', { hasText: /^ui-page-59$/ }).waitFor();
  assert.equal(await page.locator('tbody tr').count(), 10);
  const listCalls = page.requests.filter((u) => u.includes('/api/queues?'));
  assert.ok(listCalls.some((u) => u.includes('page_size=50') && u.includes('sort_reverse=true')));
  await page.close();
});

test('a connection is listed and closed with a reason the client sees', async () => {
  const conn = await amqp.connect(warren.amqp);
  const closed = new Promise((r) => conn.once('close', r));
  conn.on('error', () => {});
  const page = await newPage(browser, warren.base);
  await logIn(page);
  await page.goto(`${warren.base}/#/connections`);
  const link = page.locator('tbody a').first();
  await link.waitFor();
  await link.click();
  await page.locator('h1', { hasText: 'Connection' }).waitFor();
  await page.fill('#close-reason', 'ui test says bye');
  await page.click('text=Force close');
  await page.locator('[role=status]', { hasText: 'Connection closed.' }).waitFor();
  const err = await closed;
  assert.match(String(err && err.message), /CONNECTION_FORCED - ui test says bye/);
  await page.close();
});

test('every page renders without errors or outside requests, wide and narrow', async () => {
  const pages = ['overview', 'connections', 'channels', 'exchanges', 'queues', 'users', 'vhosts', 'permissions', 'policies', 'limits', 'definitions', 'exchanges/%2F/amq.direct'];
  for (const viewport of [{ width: 1280, height: 900 }, { width: 390, height: 844 }]) {
    const page = await newPage(browser, warren.base, viewport);
    await logIn(page);
    await page.locator('h1', { hasText: 'Overview' }).waitFor();
    for (const p of pages) {
      await page.goto(`${warren.base}/#/${p}`);
      await page.locator('main h1').waitFor();
      await page.waitForLoadState('networkidle');
    }
    const outside = page.requests.filter((u) => !u.startsWith(warren.base));
    assert.deepEqual(outside, [], 'requests to other origins');
    assert.deepEqual(page.errors, [], 'script errors');
    await page.close();
  }
});

test('the navigation is reachable by keyboard', async () => {
  const page = await newPage(browser, warren.base);
  await logIn(page);
  await page.locator('h1', { hasText: 'Overview' }).waitFor();
  // Tab until the Queues link has focus, then follow it with Enter.
  for (let i = 0; i < 30; i += 1) {
    await page.keyboard.press('Tab');
    if ((await page.evaluate(() => document.activeElement.textContent)) === 'Queues') break;
  }
  await page.keyboard.press('Enter');
  await page.locator('main h1', { hasText: 'Queues' }).waitFor();
  await page.close();
});
