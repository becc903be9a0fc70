// Queues: the server-side paged, filtered, sorted list with an add form, and a queue's page
// (its chart, consumers, bindings, policy, and publish/get/purge/delete).
import { useState } from 'preact/hooks';
import { get, put, post, del, seg } from '../api.js';
import { Chart, useSamples } from '../chart.jsx';
import {
  usePoll, ErrorBox, Table, Pager, Field, Section, useNotice, parseArgs, confirmed, href,
  fmtNum, fmtRate, fmtBytes, rate, VhostOptions, Facts,
} from '../lib.jsx';
import { Publish, Bindings, AddBinding } from './shared.jsx';

const PAGE_SIZE = 50;

const COLUMNS = [
  { key: 'vhost', label: 'Vhost' },
  { key: 'name', label: 'Name', render: (q) => <a href={href('queues', q.vhost, q.name)}>{q.name || '(unnamed)'}</a> },
  { key: 'type', label: 'Type' },
  { key: 'features', label: 'Features', sort: false, render: features },
  { key: 'state', label: 'State' },
  { key: 'consumers', label: 'Consumers', num: true },
  { key: 'messages_ready', label: 'Ready', num: true, render: (q) => fmtNum(q.messages_ready) },
  { key: 'messages_unacknowledged', label: 'Unacked', num: true, render: (q) => fmtNum(q.messages_unacknowledged) },
  { key: 'messages', label: 'Total', num: true, render: (q) => fmtNum(q.messages) },
  { key: 'in', label: 'Incoming', num: true, sort: 'message_stats.publish_details.rate', render: (q) => fmtRate(rate(q, 'publish')) },
  { key: 'out', label: 'Deliver/get', num: true, sort: 'message_stats.deliver_get_details.rate', render: (q) => fmtRate(rate(q, 'deliver_get')) },
  { key: 'ack', label: 'Ack', num: true, sort: 'message_stats.ack_details.rate', render: (q) => fmtRate(rate(q, 'ack')) },
];

function features(q) {
  const f = [];
  if (q.durable) f.push(['D', 'durable']);
  if (q.auto_delete) f.push(['AD', 'auto-delete']);
  if (q.exclusive) f.push(['Excl', 'exclusive']);
  if (q.arguments && Object.keys(q.arguments).length) f.push(['Args', Object.keys(q.arguments).join(', ')]);
  if (q.policy) f.push([q.policy, 'policy']);
  return f.map(([t, title]) => (
    <abbr class="tag" title={title}>
      {t}
    </abbr>
  ));
}

/** The list's query: RabbitMQ's page/page_size/name/use_regex/sort/sort_reverse. */
function listPath(vhost, q) {
  const p = new URLSearchParams({
    page: String(q.page),
    page_size: String(PAGE_SIZE),
    name: q.filter,
    use_regex: String(q.regex),
    pagination: 'true',
  });
  if (q.sort) {
    p.set('sort', q.sort.key);
    p.set('sort_reverse', String(q.sort.reverse));
  }
  return `/queues${vhost ? `/${seg(vhost)}` : ''}?${p}`;
}

export function Queues() {
  const [vhost, setVhost] = useState('');
  const [q, setQ] = useState({ page: 1, filter: '', regex: false, sort: { key: 'name', reverse: false } });
  const vhosts = usePoll(() => get('/vhosts'), [], 0);
  const list = usePoll(() => get(listPath(vhost, q)), [vhost, q.page, q.filter, q.regex, q.sort && q.sort.key, q.sort && q.sort.reverse]);
  const page = list.data;
  return (
    <>
      <h1>Queues</h1>
      <div class="toolbar" role="search">
        <label class="field inline" for="queue-vhost">
          <span>Vhost</span>
          <select id="queue-vhost" value={vhost} onChange={(e) => { setVhost(e.currentTarget.value); setQ({ ...q, page: 1 }); }}>
            <option value="">All</option>
            <VhostOptions vhosts={vhosts.data} />
          </select>
        </label>
        <label class="field inline" for="queue-filter">
          <span>Filter</span>
          <input id="queue-filter" type="search" value={q.filter} placeholder="name contains…" onInput={(e) => setQ({ ...q, filter: e.currentTarget.value, page: 1 })} />
        </label>
        <label class="check" for="queue-regex">
          <input id="queue-regex" type="checkbox" checked={q.regex} onChange={(e) => setQ({ ...q, regex: e.currentTarget.checked, page: 1 })} />
          Regex
        </label>
      </div>
      <ErrorBox error={list.error} />
      <Table label="Queues" columns={COLUMNS} rows={page ? page.items : null} sort={q.sort} onSort={(sort) => setQ({ ...q, sort, page: 1 })} rowKey={(r) => `${r.vhost}/${r.name}`} empty="No queues match." />
      <Pager page={page} onPage={(n) => setQ({ ...q, page: n })} />
      <AddQueue vhosts={vhosts.data} onDone={list.reload} />
    </>
  );
}

function AddQueue({ vhosts, onDone }) {
  const [form, setForm] = useState({ vhost: '/', name: '', durable: 'true', auto_delete: 'false', arguments: '' });
  const { view, act } = useNotice();
  const submit = async (e) => {
    e.preventDefault();
    const ok = await act(async () => {
      const body = { durable: form.durable === 'true', auto_delete: form.auto_delete === 'true', arguments: parseArgs(form.arguments) };
      await put(`/queues/${seg(form.vhost)}/${seg(form.name)}`, body);
    }, `Queue ${form.name} declared.`);
    if (ok) onDone();
  };
  return (
    <Section title="Add a queue" id="add-queue-title">
      <form class="grid" onSubmit={submit}>
        <Field label="Vhost" name="vhost" form={form} setForm={setForm}>
          <VhostOptions vhosts={vhosts || [{ name: '/' }]} />
        </Field>
        <Field label="Name" name="name" form={form} setForm={setForm} required />
        <Field label="Durable" name="durable" form={form} setForm={setForm}>
          <option value="true">Durable</option>
          <option value="false">Transient</option>
        </Field>
        <Field label="Auto delete" name="auto_delete" form={form} setForm={setForm}>
          <option value="false">No</option>
          <option value="true">Yes</option>
        </Field>
        <Field label="Arguments (JSON)" name="arguments" form={form} setForm={setForm} type="textarea" placeholder='{"x-max-length": 1000}' />
        <div class="actions">
          <button type="submit" class="primary">Add queue</button>
        </div>
      </form>
      {view}
    </Section>
  );
}

const COUNTS = ['Ready', 'Unacked', 'Total'];
const RATES = [['publish', 'Publish'], ['deliver_get', 'Deliver/get'], ['ack', 'Ack']];

export function Queue({ vhost, name }) {
  const path = `/queues/${seg(vhost)}/${seg(name)}`;
  const [counts, pushCounts] = useSamples(COUNTS);
  const [rates, pushRates] = useSamples(RATES.map((r) => r[1]));
  const q = usePoll(() => get(path), [path], undefined, (d) => {
    pushCounts({ Ready: d.messages_ready, Unacked: d.messages_unacknowledged, Total: d.messages });
    pushRates(Object.fromEntries(RATES.map(([k, l]) => [l, rate(d, k)])));
  });
  const bindings = usePoll(() => get(`${path}/bindings`), [path]);
  const [gone, setGone] = useState(false);
  if (gone) return <p role="status">Queue {name} deleted. <a href="#/queues">Back to queues</a></p>;
  const d = q.data;
  const hasRates = d && d.message_stats && RATES.some(([k]) => rate(d, k) !== undefined);
  const refresh = () => { q.reload(); bindings.reload(); };
  return (
    <>
      <p class="crumbs"><a href="#/queues">Queues</a> · vhost <code>{vhost}</code></p>
      <h1>Queue <span class="name">{name}</span></h1>
      <ErrorBox error={q.error} />
      {d ? <QueueFacts q={d} /> : null}
      <div class="charts">
        <Chart id="chart-queue" title="Messages" series={COUNTS} data={counts} />
        {hasRates ? (
          <Chart id="chart-queue-rates" title="Message rates" series={RATES.map((r) => r[1])} data={rates} unit="/s" />
        ) : (
          <figure class="chart">
            <figcaption>Message rates</figcaption>
            <p class="muted">The server reports no <code>message_stats</code> for this queue yet.</p>
          </figure>
        )}
      </div>
      <Consumers q={d} />
      <Section title="Bindings" id="q-bindings-title">
        <Bindings rows={bindings.data} vhost={vhost} onDone={refresh} />
        <AddBinding vhost={vhost} destination={name} kind="q" onDone={refresh} />
      </Section>
      <Section title="Publish a message" id="q-publish-title">
        <p class="muted">Published to the default exchange with this queue's name as the routing key.</p>
        <Publish vhost={vhost} exchange="amq.default" routingKey={name} onDone={refresh} />
      </Section>
      <GetMessages path={path} onDone={refresh} />
      <Danger path={path} name={name} onPurged={refresh} onDeleted={() => setGone(true)} />
    </>
  );
}

function QueueFacts({ q }) {
  const policy = q.effective_policy_definition;
  return (
    <Facts
      items={[
        ['Messages ready', q.messages_ready, fmtNum, 'ready'],
        ['Unacked', q.messages_unacknowledged, fmtNum, 'unacked'],
        ['Total', q.messages, fmtNum, 'total'],
        ['Consumers', q.consumers, fmtNum],
        ['Type', q.type],
        ['State', q.state],
        ['Durable', !!q.durable],
        ['Auto delete', !!q.auto_delete],
        ['Exclusive', !!q.exclusive],
        ['Policy', q.policy || 'none'],
        ['Effective policy', policy && Object.keys(policy).length ? policy : null, JSON.stringify],
        ['Arguments', q.arguments || {}, JSON.stringify],
        ['Memory', q.memory, fmtBytes],
      ]}
    />
  );
}

function Consumers({ q }) {
  const rows = q ? q.consumer_details || [] : null;
  const columns = [
    { key: 'channel', label: 'Channel', render: (c) => (c.channel_details ? <a href={href('channels', c.channel_details.name)}>{c.channel_details.name}</a> : '–') },
    { key: 'consumer_tag', label: 'Consumer tag' },
    { key: 'ack_required', label: 'Ack required', render: (c) => String(c.ack_required) },
    { key: 'exclusive', label: 'Exclusive', render: (c) => String(c.exclusive) },
    { key: 'prefetch_count', label: 'Prefetch', num: true },
  ];
  return (
    <Section title="Consumers" id="q-consumers-title">
      <Table label="Consumers" columns={columns} rows={rows} empty="No consumers." />
    </Section>
  );
}

function GetMessages({ path, onDone }) {
  const [form, setForm] = useState({ count: '1', ackmode: 'ack_requeue_true', encoding: 'auto', truncate: '50000' });
  const [messages, setMessages] = useState(null);
  const { view, act } = useNotice();
  const submit = async (e) => {
    e.preventDefault();
    const got = await act(
      () => post(`${path}/get`, { count: Number(form.count), ackmode: form.ackmode, encoding: form.encoding, truncate: Number(form.truncate) }),
      (r) => `${r.length} message(s) fetched.`,
    );
    if (got) {
      setMessages(got);
      onDone();
    }
  };
  return (
    <Section title="Get messages" id="q-get-title">
      <form class="grid" onSubmit={submit}>
        <Field label="Ack mode" name="ackmode" form={form} setForm={setForm}>
          <option value="ack_requeue_true">Nack, requeue</option>
          <option value="ack_requeue_false">Ack (remove)</option>
          <option value="reject_requeue_true">Reject, requeue</option>
          <option value="reject_requeue_false">Reject, no requeue</option>
        </Field>
        <Field label="Encoding" name="encoding" form={form} setForm={setForm}>
          <option value="auto">Auto (string or base64)</option>
          <option value="base64">Base64</option>
        </Field>
        <Field label="Messages" name="count" form={form} setForm={setForm} type="number" min="1" />
        <div class="actions">
          <button type="submit">Get messages</button>
        </div>
      </form>
      {view}
      {messages ? (
        <ol class="messages" aria-label="Fetched messages">
          {messages.map((m) => (
            <li>
              <dl class="facts">
                <div><dt>Exchange</dt><dd>{m.exchange || '(default)'}</dd></div>
                <div><dt>Routing key</dt><dd>{m.routing_key}</dd></div>
                <div><dt>Redelivered</dt><dd>{String(m.redelivered)}</dd></div>
                <div><dt>Remaining</dt><dd>{fmtNum(m.message_count)}</dd></div>
                <div><dt>Properties</dt><dd><code>{JSON.stringify(m.properties)}</code></dd></div>
              </dl>
              <pre class="payload">{m.payload}</pre>
              <small>{m.payload_bytes} bytes, {m.payload_encoding}</small>
            </li>
          ))}
        </ol>
      ) : null}
    </Section>
  );
}

function Danger({ path, name, onPurged, onDeleted }) {
  const { view, act } = useNotice();
  const [ifEmpty, setIfEmpty] = useState(false);
  const [ifUnused, setIfUnused] = useState(false);
  const purge = async () => {
    if (!confirmed(`Purge every ready message from ${name}?`)) return;
    if (await act(() => del(`${path}/contents`), `Queue ${name} purged.`)) onPurged();
  };
  const remove = async () => {
    if (!confirmed(`Delete queue ${name}?`)) return;
    const p = new URLSearchParams();
    if (ifEmpty) p.set('if-empty', 'true');
    if (ifUnused) p.set('if-unused', 'true');
    const qs = p.toString() ? `?${p}` : '';
    if (await act(() => del(`${path}${qs}`), `Queue ${name} deleted.`)) onDeleted();
  };
  return (
    <Section title="Purge or delete" id="q-danger-title">
      <div class="actions">
        <button type="button" onClick={purge}>Purge messages</button>
      </div>
      <div class="actions">
        <label class="check"><input type="checkbox" checked={ifEmpty} onChange={(e) => setIfEmpty(e.currentTarget.checked)} /> only if empty</label>
        <label class="check"><input type="checkbox" checked={ifUnused} onChange={(e) => setIfUnused(e.currentTarget.checked)} /> only if unused</label>
        <button type="button" class="danger" onClick={remove}>Delete queue</button>
      </div>
      {view}
    </Section>
  );
}
