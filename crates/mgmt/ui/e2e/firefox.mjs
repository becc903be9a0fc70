// A manual check in Firefox (scripts/ui-firefox; not in CI, which tests in Chromium): drives a
// stock Firefox ESR over WebDriver BiDi with puppeteer-core against a Warren of its own: a
// wrong password is refused, every page opens without script errors, and the queue life
// cycle works (create, publish, count and chart move, get, purge, delete).
import puppeteer from 'puppeteer-core';
import { startWarren } from './harness.mjs';

const FIREFOX = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr';
const warren = await startWarren();
const browser = await puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true });
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  const base = warren.base;
  const until = (fn, ...args) => page.waitForFunction(fn, { timeout: 15000 }, ...args);
  const press = (text) => page.$$eval('button', (bs, t) => bs.find((b) => b.textContent === t).click(), text);

  await page.goto(`${base}/`);
  await page.waitForSelector('#login-user');
  await page.type('#login-user', 'guest');
  await page.type('#login-password', 'wrong');
  await page.click('form button[type=submit]');
  await until(() => document.querySelector('.login [role=alert]')?.textContent.includes('Login refused'));
  await page.$eval('#login-password', (e) => { e.value = ''; });
  await page.type('#login-password', 'guest');
  await page.click('form button[type=submit]');
  await page.waitForSelector('nav#nav');

  for (const p of ['overview', 'connections', 'channels', 'exchanges', 'queues', 'users', 'vhosts', 'permissions', 'limits', 'definitions', 'exchanges/%2F/amq.direct']) {
    await page.goto(`${base}/#/${p}`);
    await page.waitForSelector('main h1');
  }

  await page.goto(`${base}/#/queues`);
  await page.waitForSelector('#f-name');
  await page.type('#f-name', 'ui-ff-q');
  await press('Add queue');
  await until(() => document.body.innerText.includes('Queue ui-ff-q declared.'));
  await page.goto(`${base}/#/queues/%2F/ui-ff-q`);
  await page.waitForSelector('#pub-payload');
  await page.type('#pub-payload', 'hello firefox');
  await press('Publish message');
  await until(() => document.querySelector('[data-fact=ready] dd')?.textContent === '1');
  await until(() => JSON.parse(document.querySelector('#chart-queue').dataset.last)[0] === 1);
  await press('Get messages');
  await until(() => document.querySelector('.payload')?.textContent === 'hello firefox');
  await press('Purge messages');
  await until(() => document.querySelector('[data-fact=total] dd')?.textContent === '0');
  await press('Delete queue');
  await until(() => document.body.innerText.includes('Queue ui-ff-q deleted.'));
  if ((await warren.api('GET', '/queues/%2F/ui-ff-q')).status !== 404) throw new Error('queue not deleted');
  if (errors.length) throw new Error(`script errors: ${errors.join('; ')}`);
  console.log(`firefox check passed (${await browser.version()})`);
} finally {
  await browser.close();
  await warren.stop();
}
