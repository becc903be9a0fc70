// Takes a screenshot of every page of the UI into docs/ui/ (scripts/ui-screenshots), against a
// fresh Warren with a little traffic: a few queues with messages, a consumer, a publisher.
import { mkdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { startWarren, launchBrowser, newPage, logIn } from './harness.mjs';

const OUT = process.argv[2] || resolve(dirname(fileURLToPath(import.meta.url)), '../../../../docs/ui');
mkdirSync(OUT, { recursive: true });

const warren = await startWarren();
const conn = await amqp.connect(warren.amqp, { clientProperties: { connection_name: 'orders-service' } });
let stopTraffic = () => {};
try {
  stopTraffic = await seed(warren, conn);
  const browser = await launchBrowser();
  try {
    await shoot(browser, warren);
  } finally {
    await browser.close();
  }
} finally {
  stopTraffic();
  await conn.close().catch(() => {});
  await warren.stop();
}

async function seed(w, c) {
  await w.api('PUT', '/vhosts/staging', { description: 'Pre-production', tags: 'qa' });
  await w.api('PUT', '/users/ops', { password: 'ops', tags: 'monitoring' });
  await w.api('PUT', '/permissions/staging/ops', { configure: '', write: '', read: '.*' });
  await w.api('PUT', '/vhost-limits/staging/max-queues', { value: 500 });
  await w.api('PUT', '/policies/%2F/orders-ttl', { pattern: '^orders\\.', definition: { 'message-ttl': 60000 }, 'apply-to': 'queues' });
  const ch = await c.createChannel();
  await ch.assertExchange('orders', 'topic', { durable: true });
  for (const q of ['orders.created', 'orders.shipped', 'billing.invoices', 'audit.log']) {
    await ch.assertQueue(q, { durable: true });
    await ch.bindQueue(q, 'orders', `${q.split('.')[1] || '#'}.#`);
  }
  await ch.prefetch(10);
  let running = true;
  await ch.consume('orders.shipped', (m) => setTimeout(() => running && ch.ack(m), 50));
  // A steady trickle for the rate charts, and a backlog on two queues.
  for (let i = 0; i < 40; i += 1) ch.sendToQueue('orders.created', Buffer.from(`{"order": ${i}}`));
  for (let i = 0; i < 12; i += 1) ch.sendToQueue('billing.invoices', Buffer.from(`invoice ${i}`));
  const timer = setInterval(() => {
    for (let i = 0; i < 20; i += 1) ch.publish('orders', 'shipped.eu', Buffer.from('shipped'));
  }, 200);
  return () => {
    running = false;
    clearInterval(timer);
  };
}

async function shoot(browser, w) {
  const wide = { width: 1280, height: 860 };
  const narrow = { width: 390, height: 844 };
  let page = await newPage(browser, w.base, wide);
  await page.goto(`${w.base}/`);
  await page.locator('#login-user').waitFor();
  await page.screenshot({ path: join(OUT, 'login.png') });
  await logIn(page);
  await page.locator('main h1').waitFor();
  // Let the overview charts gather a few samples.
  await page.waitForTimeout(16000);
  await page.screenshot({ path: join(OUT, 'overview.png'), fullPage: true });
  const connName = (await w.api('GET', '/connections')).body[0].name;
  const chanName = (await w.api('GET', '/channels')).body[0].name;
  const pages = [
    ['queues', 'queues'],
    ['queue', 'queues/%2F/orders.created'],
    ['exchanges', 'exchanges'],
    ['exchange', 'exchanges/%2F/orders'],
    ['connections', 'connections'],
    ['connection', `connections/${encodeURIComponent(connName)}`],
    ['channels', 'channels'],
    ['channel', `channels/${encodeURIComponent(chanName)}`],
    ['users', 'users'],
    ['vhosts', 'vhosts'],
    ['permissions', 'permissions'],
    ['policies', 'policies'],
    ['limits', 'limits'],
    ['definitions', 'definitions'],
  ];
  for (const [file, route] of pages) {
    await page.goto(`${w.base}/#/${route}`);
    await page.locator('main h1').waitFor();
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(file === 'queue' ? 11000 : 600);
    await page.screenshot({ path: join(OUT, `${file}.png`), fullPage: true });
  }
  await page.close();
  page = await newPage(browser, w.base, narrow);
  await logIn(page);
  await page.locator('main h1').waitFor();
  await page.waitForTimeout(6000);
  await page.screenshot({ path: join(OUT, 'narrow-overview.png'), fullPage: true });
  await page.click('.menu-toggle');
  await page.screenshot({ path: join(OUT, 'narrow-menu.png') });
  await page.goto(`${w.base}/#/queues`);
  await page.locator('main h1').waitFor();
  await page.waitForLoadState('networkidle');
  await page.screenshot({ path: join(OUT, 'narrow-queues.png'), fullPage: true });
  await page.close();
  console.log(`screenshots written to ${OUT}`);
}
