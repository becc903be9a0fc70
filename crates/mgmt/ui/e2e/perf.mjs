// The 10,000-queue measurement (docs/ui.md): declares 10,000 queues over AMQP, then times, in
// headless Chromium, how long the queues page takes to show its first page, to sort, to
// filter and to jump to the last page, and how long the overview takes. Prints the figures.
import amqp from 'amqplib';
import { startWarren, launchBrowser, newPage, logIn } from './harness.mjs';

const QUEUES = Number(process.env.UI_PERF_QUEUES || 10000);

const warren = await startWarren();
try {
  const declared = await declare(warren, QUEUES);
  const browser = await launchBrowser();
  try {
    const page = await newPage(browser, warren.base);
    await logIn(page);
    await page.locator('main h1').waitFor();
    const total = QUEUES.toLocaleString('en-US');
    const figures = { queues: QUEUES, declare_ms: declared };
    figures.queues_first_page_ms = await timed(page, async () => {
      await page.goto(`${warren.base}/#/queues`);
      await page.locator('.pager', { hasText: `shown of ${total}` }).waitFor({ timeout: 60000 });
    });
    figures.sort_by_name_desc_ms = await timed(page, async () => {
      await page.click('th >> text=Name');
      await page.locator('tbody tr >> nth=0 >> text=perf-09999').waitFor({ timeout: 60000 });
    });
    figures.filter_ms = await timed(page, async () => {
      await page.fill('#queue-filter', 'perf-09999');
      await page.locator('.pager', { hasText: `1 shown of ${total}` }).waitFor({ timeout: 60000 });
    });
    await page.fill('#queue-filter', '');
    await page.locator('.pager', { hasText: `${total} shown` }).waitFor({ timeout: 60000 });
    const pages = Math.ceil(QUEUES / 50);
    figures.last_page_ms = await timed(page, async () => {
      await page.click('text=Last »');
      await page.locator('.pager', { hasText: `Page ${pages} of ${pages}` }).waitFor({ timeout: 60000 });
      await page.locator('tbody tr >> nth=0 >> text=perf-00049').waitFor({ timeout: 60000 });
    });
    figures.api_page_ms = await apiTime(warren, '/queues?page=1&page_size=50&sort=name');
    figures.api_unpaged_ms = await apiTime(warren, '/queues');
    figures.overview_ms = await timed(page, async () => {
      await page.goto(`${warren.base}/#/overview`);
      await page.locator('[data-total=Queues] dd', { hasText: total }).waitFor({ timeout: 60000 });
    });
    figures.dom_rows = await page.evaluate(() => document.querySelectorAll('tr').length);
    console.log(JSON.stringify(figures, null, 2));
  } finally {
    await browser.close();
  }
} finally {
  await warren.stop();
}

async function declare(w, n) {
  const start = Date.now();
  const conn = await amqp.connect(w.amqp);
  const ch = await conn.createChannel();
  for (let i = 0; i < n; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 500); j += 1) {
      batch.push(ch.assertQueue(`perf-${String(j).padStart(5, '0')}`, { durable: false }));
    }
    await Promise.all(batch);
  }
  await conn.close();
  return Date.now() - start;
}

async function timed(page, fn) {
  const start = Date.now();
  await fn();
  return Date.now() - start;
}

async function apiTime(w, path) {
  const start = Date.now();
  const r = await w.api('GET', path);
  if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
  return Date.now() - start;
}
