// End-to-end tests of the web UI in headless Chromium against a real Warren: log in, create a
// queue, publish from the UI, see the count and the chart move, get the message, purge,
// delete; a wrong password and a user without management tags are refused; every page
// renders without script errors and without requests to any other origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { startWarren, launchBrowser, withPage, logIn } from './harness.mjs';

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
  await withPage(browser, warren.base, async (page) => {
    await logIn(page, 'guest', 'not-the-password', true);
    const alert = page.locator('.login [role=alert]');
    await alert.waitFor();
    assert.match(await alert.textContent(), /Login refused/);
    assert.equal(await page.locator('nav#nav').count(), 0);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  });
});

test('a user without a management tag is refused', async () => {
  const r = await warren.api('PUT', '/users/ui-plain', { password: 'pw', tags: '' });
  assert.ok(r.status === 201 || r.status === 204, `PUT user: ${r.status}`);
  await withPage(browser, warren.base, async (page) => {
    await logIn(page, 'ui-plain', 'pw', true);
    const alert = page.locator('.login [role=alert]');
    await alert.waitFor();
    assert.match(await alert.textContent(), /Not management user/);
  });
});

test('a monitoring user is offered only the pages its tags allow', async () => {
  await warren.api('PUT', '/users/ui-monitor', { password: 'pw', tags: 'monitoring' });
  await withPage(browser, warren.base, async (page) => {
    await logIn(page, 'ui-monitor', 'pw');
    await page.locator('h1', { hasText: 'Overview' }).waitFor();
    const nav = await page.locator('nav#nav a').allTextContents();
    assert.ok(nav.includes('Queues') && nav.includes('Connections'), nav.join());
    assert.ok(!nav.includes('Users') && !nav.includes('Definitions'), nav.join());
    // Typing the address anyway shows the API's refusal, not a broken page.
    await page.goto(`${warren.base}/#/users`);
    await page.locator('main [role=alert]', { hasText: 'Not administrator user' }).waitFor();
    assert.deepEqual(page.errors, []);
  });
});

test('queue life cycle: create, publish, count and chart move, get, purge, delete', async () => {
  await withPage(browser, warren.base, async (page) => {
    await logIn(page);
    await page.locator('h1', { hasText: 'Overview' }).waitFor();

    await page.click('nav >> text=Queues');
    await page.fill('#f-name', 'ui-e2e-q');
    await page.getByRole('button', { name: 'Add queue', exact: true }).click();
    await page.locator('[role=status]', { hasText: 'Queue ui-e2e-q declared.' }).waitFor();
    assert.equal((await warren.api('GET', '/queues/%2F/ui-e2e-q')).status, 200);
    await page.click('table >> text=ui-e2e-q');
    await page.locator('h1', { hasText: 'ui-e2e-q' }).waitFor();
    const before = await chartReaches(page, 'chart-queue', [0, 0, 0]);

    await page.fill('#pub-payload', 'hello from the UI');
    await page.getByRole('button', { name: 'Publish message', exact: true }).click();
    await page.locator('[role=status]', { hasText: 'Message published and routed.' }).waitFor();
    await page.locator('[data-fact=ready] dd', { hasText: /^1$/ }).waitFor();
    const after = await chartReaches(page, 'chart-queue', [1, 0, 1]);
    assert.ok(after > before, `the chart took a new sample (${before} -> ${after})`);

    await page.getByRole('button', { name: 'Get messages', exact: true }).click();
    await page.locator('.payload', { hasText: 'hello from the UI' }).waitFor();
    // The default ack mode requeues, so the message is still there.
    await page.locator('[data-fact=ready] dd', { hasText: /^1$/ }).waitFor();

    await page.getByRole('button', { name: 'Purge messages', exact: true }).click();
    await page.locator('[role=status]', { hasText: 'Queue ui-e2e-q purged.' }).waitFor();
    await page.locator('[data-fact=total] dd', { hasText: /^0$/ }).waitFor();
    await chartReaches(page, 'chart-queue', [0, 0, 0]);
    assert.equal((await warren.api('GET', '/queues/%2F/ui-e2e-q')).body.messages, 0);

    await page.getByRole('button', { name: 'Delete queue', exact: true }).click();
    await page.locator('[role=status]', { hasText: 'Queue ui-e2e-q deleted.' }).waitFor();
    assert.equal((await warren.api('GET', '/queues/%2F/ui-e2e-q')).status, 404);
    assert.deepEqual(page.errors, []);
  });
});

test('the queues list is paged, filtered and sorted by the server', async () => {
  for (let i = 0; i < 60; i += 1) {
    await warren.api('PUT', `/queues/%2F/ui-page-${String(i).padStart(2, '0')}`, { durable: false });
  }
  await withPage(browser, warren.base, async (page) => {
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
  });
});

test('a connection is listed and closed with a reason the client sees', async () => {
  const conn = await amqp.connect(warren.amqp);
  const closed = new Promise((r) => conn.once('close', r));
  conn.on('error', () => {});
  await withPage(browser, warren.base, async (page) => {
    await logIn(page);
    await page.goto(`${warren.base}/#/connections`);
    const link = page.locator('tbody a').first();
    await link.waitFor();
    await link.click();
    await page.locator('h1', { hasText: 'Connection' }).waitFor();
    await page.fill('#close-reason', 'ui test says bye');
    await page.getByRole('button', { name: 'Force close', exact: true }).click();
    await page.locator('[role=status]', { hasText: 'Connection closed.' }).waitFor();
    const err = await closed;
    assert.match(String(err && err.message), /CONNECTION_FORCED - ui test says bye/);
  });
});

/** Waits for an API condition (the broker applies some changes a moment after answering). */
async function eventually(fn, what) {
  for (let i = 0; i < 50; i += 1) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('exchanges: add, bind a queue, publish through it, unbind, delete', async () => {
  await warren.api('PUT', '/queues/%2F/ui-xq', { durable: false });
  await withPage(browser, warren.base, async (page) => {
    await logIn(page);
    await page.goto(`${warren.base}/#/exchanges`);
    await page.fill('#f-name', 'ui-x');
    await page.selectOption('#f-type', 'topic');
    await page.getByRole('button', { name: 'Add exchange', exact: true }).click();
    await page.locator('[role=status]', { hasText: 'Exchange ui-x declared.' }).waitFor();
    assert.equal((await warren.api('GET', '/exchanges/%2F/ui-x')).body.type, 'topic');

    await page.goto(`${warren.base}/#/exchanges/%2F/ui-x`);
    const bind = page.locator('section', { hasText: 'Bindings from this exchange' });
    await bind.locator('#bind-out-other').fill('ui-xq');
    await bind.locator('#bind-out-routing_key').fill('a.#');
    await bind.getByRole('button', { name: 'Bind', exact: true }).click();
    await bind.locator('[role=status]', { hasText: 'Binding added.' }).waitFor();
    await bind.locator('td', { hasText: 'a.#' }).waitFor();

    const pub = page.locator('form[aria-label="Publish a message"]');
    await pub.locator('#pub-routing_key').fill('a.b');
    await pub.locator('#pub-payload').fill('through ui-x');
    await pub.getByRole('button', { name: 'Publish message' }).click();
    await page.locator('[role=status]', { hasText: 'Message published and routed.' }).waitFor();
    await eventually(async () => (await warren.api('GET', '/queues/%2F/ui-xq')).body.messages === 1, 'ui-xq to hold 1 message');

    await bind.getByRole('button', { name: 'Unbind' }).click();
    await bind.locator('[role=status]', { hasText: 'Binding removed.' }).waitFor();
    assert.deepEqual((await warren.api('GET', '/exchanges/%2F/ui-x/bindings/source')).body, []);
    await page.getByRole('button', { name: 'Delete exchange', exact: true }).click();
    await page.locator('[role=status]', { hasText: 'Exchange ui-x deleted.' }).waitFor();
    assert.equal((await warren.api('GET', '/exchanges/%2F/ui-x')).status, 404);
    assert.deepEqual(page.errors, []);
  });
});

test('users, vhosts, permissions and limits: create, edit, delete', async () => {
  await withPage(browser, warren.base, async (page) => {
    await logIn(page);
    const saved = (text) => page.locator('[role=status]', { hasText: text }).waitFor();

    await page.goto(`${warren.base}/#/vhosts`);
    await page.fill('#f-name', 'ui-vh');
    await page.fill('#f-description', 'made in the UI');
    await page.getByRole('button', { name: 'Save vhost', exact: true }).click();
    await saved('Vhost ui-vh saved.');
    assert.equal((await warren.api('GET', '/vhosts/ui-vh')).body.description, 'made in the UI');

    await page.goto(`${warren.base}/#/users`);
    await page.fill('#f-name', 'ui-user');
    await page.fill('#f-password', 'pw1');
    await page.fill('#f-tags', 'management');
    await page.getByRole('button', { name: 'Save user', exact: true }).click();
    await saved('User ui-user saved.');
    // Edit the tags, leaving the password empty: the password must keep working.
    await page.click('[aria-label="Edit user ui-user"]');
    assert.equal(await page.inputValue('#f-name'), 'ui-user');
    await page.fill('#f-tags', 'monitoring');
    await page.getByRole('button', { name: 'Save user', exact: true }).click();
    await saved('User ui-user saved.');
    assert.deepEqual((await warren.api('GET', '/users/ui-user')).body.tags, ['monitoring']);
    const who = await fetch(`${warren.base}/api/whoami`, { headers: { Authorization: `Basic ${Buffer.from('ui-user:pw1').toString('base64')}` } });
    assert.equal(who.status, 200, 'the password survived the edit');

    await page.goto(`${warren.base}/#/permissions`);
    // Preact sets an option's value as a property, so wait on the text, not [value=...].
    await page.locator('#f-user option', { hasText: 'ui-user' }).waitFor({ state: 'attached' });
    await page.locator('#f-vhost option', { hasText: 'ui-vh' }).waitFor({ state: 'attached' });
    await page.selectOption('#f-user', 'ui-user');
    await page.selectOption('#f-vhost', 'ui-vh');
    await page.fill('#f-write', '^ui-');
    await page.getByRole('button', { name: 'Set permissions', exact: true }).click();
    await saved('Permissions saved.');
    assert.equal((await warren.api('GET', '/permissions/ui-vh/ui-user')).body.write, '^ui-');
    await page.click('[aria-label="Delete permissions of ui-user in ui-vh"]');
    await saved('Permissions of ui-user in ui-vh deleted.');
    assert.equal((await warren.api('GET', '/permissions/ui-vh/ui-user')).status, 404);

    await page.goto(`${warren.base}/#/limits`);
    await page.locator('#vhost-limit-owner option', { hasText: 'ui-vh' }).waitFor({ state: 'attached' });
    await page.selectOption('#vhost-limit-owner', 'ui-vh');
    await page.selectOption('#vhost-limit-name', 'max-queues');
    await page.fill('#vhost-limit-value', '5');
    await page.locator('section', { hasText: 'Virtual host limits' }).getByRole('button', { name: 'Set limit' }).click();
    await saved('Limit saved.');
    assert.deepEqual((await warren.api('GET', '/vhost-limits/ui-vh')).body[0].value, { 'max-queues': 5 });
    await page.click('[aria-label="Delete max-queues of ui-vh"]');
    await saved('Limit max-queues of ui-vh deleted.');

    await page.goto(`${warren.base}/#/users`);
    await page.click('[aria-label="Delete user ui-user"]');
    await saved('User ui-user deleted.');
    assert.equal((await warren.api('GET', '/users/ui-user')).status, 404);
    await page.goto(`${warren.base}/#/vhosts`);
    await page.click('[aria-label="Delete vhost ui-vh"]');
    await saved('Vhost ui-vh deleted.');
    assert.equal((await warren.api('GET', '/vhosts/ui-vh')).status, 404);
    assert.deepEqual(page.errors, []);
  });
});

test('policies: create one that caps a queue, see it applied, delete it', async () => {
  await withPage(browser, warren.base, async (page) => {
    await logIn(page);
    const saved = (text) => page.locator('[role=status]', { hasText: text }).waitFor();
    assert.equal((await warren.api('PUT', '/queues/%2F/ui-pol-q', {})).status, 201);
    await page.goto(`${warren.base}/#/policies`);
    await page.fill('#f-name', 'ui-pol');
    await page.fill('#f-pattern', '^ui-pol-');
    await page.selectOption('#f-apply-to', 'queues');
    await page.fill('#f-definition', '{"max-length": 2}');
    await page.getByRole('button', { name: 'Save policy', exact: true }).click();
    await saved('Policy ui-pol saved.');
    const policy = (await warren.api('GET', '/policies/%2F/ui-pol')).body;
    assert.deepEqual([policy.pattern, policy['apply-to'], policy.definition], ['^ui-pol-', 'queues', { 'max-length': 2 }]);
    await page.locator('table[aria-label="Policies"] td', { hasText: 'ui-pol' }).first().waitFor();
    const q = (await warren.api('GET', '/queues/%2F/ui-pol-q')).body;
    assert.equal(q.policy, 'ui-pol');
    assert.deepEqual(q.effective_policy_definition, { 'max-length': 2 });
    await page.click('[aria-label="Delete policy ui-pol"]');
    await saved('Policy ui-pol deleted.');
    assert.equal((await warren.api('GET', '/policies/%2F/ui-pol')).status, 404);
    assert.equal((await warren.api('GET', '/queues/%2F/ui-pol-q')).body.policy, null);
    assert.equal((await warren.api('DELETE', '/queues/%2F/ui-pol-q')).status, 204);
    assert.deepEqual(page.errors, []);
  });
});

test('definitions: export downloads them, import applies a file', async () => {
  await withPage(browser, warren.base, async (page) => {
    await logIn(page);
    await page.goto(`${warren.base}/#/definitions`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download definitions', exact: true }).click()]);
    const chunks = [];
    for await (const c of await download.createReadStream()) chunks.push(c);
    const defs = JSON.parse(Buffer.concat(chunks).toString());
    assert.ok(Array.isArray(defs.queues) && defs.users.some((u) => u.name === 'guest'));

    const file = { queues: [{ name: 'ui-imported', vhost: '/', durable: true, auto_delete: false, arguments: {} }] };
    await page.setInputFiles('#import-file', { name: 'defs.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(file)) });
    await page.getByRole('button', { name: 'Upload definitions', exact: true }).click();
    await page.locator('[role=status]', { hasText: 'Imported defs.json.' }).waitFor();
    assert.equal((await warren.api('GET', '/queues/%2F/ui-imported')).status, 200);
    assert.deepEqual(page.errors, []);
  });
});

test('every page renders without errors or outside requests, wide and narrow', async () => {
  await warren.api('PUT', '/queues/%2F/ui-pages-q', { durable: false });
  const pages = ['overview', 'connections', 'channels', 'exchanges', 'queues', 'users', 'vhosts', 'permissions', 'policies', 'limits', 'definitions', 'exchanges/%2F/amq.direct', 'queues/%2F/ui-pages-q'];
  for (const viewport of [{ width: 1280, height: 900 }, { width: 390, height: 844 }]) {
    await withPage(browser, warren.base, async (page) => {
      await logIn(page);
      await page.locator('h1', { hasText: 'Overview' }).waitFor();
      for (const p of pages) {
        await page.goto(`${warren.base}/#/${p}`);
        await page.locator('main h1').waitFor();
        await page.waitForLoadState('networkidle');
        // Ids are unique and every form control has a label (screen readers, label clicks).
        const problems = await page.evaluate(() => {
          const ids = [...document.querySelectorAll('[id]')].map((e) => e.id);
          const dups = ids.filter((x, i) => ids.indexOf(x) !== i).map((x) => `duplicate id ${x}`);
          const unlabelled = [...document.querySelectorAll('input, select, textarea')]
            .filter((e) => !e.labels.length && !e.getAttribute('aria-label'))
            .map((e) => `unlabelled ${e.tagName} ${e.name || e.id}`);
          return [...dups, ...unlabelled];
        });
        assert.deepEqual(problems, [], `on #/${p}`);
      }
      const outside = page.requests.filter((u) => !u.startsWith(warren.base));
      assert.deepEqual(outside, [], 'requests to other origins');
      assert.deepEqual(page.errors, [], 'script errors');
    }, viewport);
  }
});

/** Presses Tab until the focused element's text is `text`; false if it never is. */
async function tabTo(page, text) {
  for (let i = 0; i < 40; i += 1) {
    await page.keyboard.press('Tab');
    if ((await page.evaluate(() => document.activeElement.textContent.trim())) === text) return true;
  }
  return false;
}

test('the navigation is reachable by keyboard, wide and through the narrow menu', async () => {
  await withPage(browser, warren.base, async (page) => {
    await logIn(page);
    await page.locator('h1', { hasText: 'Overview' }).waitFor();
    assert.ok(await tabTo(page, 'Queues'), 'Tab reaches the Queues link');
    await page.keyboard.press('Enter');
    await page.locator('main h1', { hasText: 'Queues' }).waitFor();
  });
  await withPage(browser, warren.base, async (page) => {
    await logIn(page);
    await page.locator('h1', { hasText: 'Overview' }).waitFor();
    assert.equal(await page.locator('nav#nav').isVisible(), false, 'the menu starts closed');
    assert.ok(await tabTo(page, 'Menu'), 'Tab reaches the Menu button');
    await page.keyboard.press('Enter');
    await page.locator('nav#nav').waitFor();
    assert.equal(await page.getAttribute('.menu-toggle', 'aria-expanded'), 'true');
    assert.ok(await tabTo(page, 'Exchanges'), 'Tab reaches the Exchanges link');
    await page.keyboard.press('Enter');
    await page.locator('main h1', { hasText: 'Exchanges' }).waitFor();
    // The menu closes on the next render after the choice: wait for it (bounded), then check.
    await page.locator('nav#nav').waitFor({ state: 'hidden', timeout: 5000 }).catch(() => {});
    assert.equal(await page.locator('nav#nav').isVisible(), false, 'the menu closes after a choice');
  }, { width: 390, height: 844 });
});
