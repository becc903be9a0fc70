// Exchanges: the list (paged server-side like queues) with an add form, and an exchange's
// page with its bindings both ways, publish, and delete.
import { useState } from 'preact/hooks';
import { get, put, del, seg } from '../api.js';
import { usePoll, ErrorBox, Table, Pager, Field, Section, useNotice, parseArgs, confirmed, href, VhostOptions } from '../lib.jsx';
import { Publish, Bindings, AddBinding } from './shared.jsx';

const PAGE_SIZE = 50;
const display = (n) => n || '(AMQP default)';

const COLUMNS = [
  { key: 'vhost', label: 'Vhost' },
  { key: 'name', label: 'Name', render: (x) => <a href={href('exchanges', x.vhost, x.name || 'amq.default')}>{display(x.name)}</a> },
  { key: 'type', label: 'Type' },
  { key: 'features', label: 'Features', sort: false, render: (x) => [x.durable ? 'D' : '', x.auto_delete ? 'AD' : '', x.internal ? 'I' : ''].filter(Boolean).join(' ') },
  { key: 'policy', label: 'Policy' },
];

export function Exchanges() {
  const [vhost, setVhost] = useState('');
  const [q, setQ] = useState({ page: 1, filter: '', sort: { key: 'name', reverse: false } });
  const vhosts = usePoll(() => get('/vhosts'), [], 0);
  const path = () => {
    const p = new URLSearchParams({ page: String(q.page), page_size: String(PAGE_SIZE), name: q.filter, use_regex: 'false', sort: q.sort.key, sort_reverse: String(q.sort.reverse) });
    return `/exchanges${vhost ? `/${seg(vhost)}` : ''}?${p}`;
  };
  const list = usePoll(() => get(path()), [vhost, q.page, q.filter, q.sort.key, q.sort.reverse]);
  return (
    <>
      <h1>Exchanges</h1>
      <div class="toolbar" role="search">
        <label class="field inline" for="exchange-vhost">
          <span>Vhost</span>
          <select id="exchange-vhost" value={vhost} onChange={(e) => { setVhost(e.currentTarget.value); setQ({ ...q, page: 1 }); }}>
            <option value="">All</option>
            <VhostOptions vhosts={vhosts.data} />
          </select>
        </label>
        <label class="field inline" for="exchange-filter">
          <span>Filter</span>
          <input id="exchange-filter" type="search" value={q.filter} onInput={(e) => setQ({ ...q, filter: e.currentTarget.value, page: 1 })} />
        </label>
      </div>
      <ErrorBox error={list.error} />
      <Table label="Exchanges" columns={COLUMNS} rows={list.data ? list.data.items : null} sort={q.sort} onSort={(sort) => setQ({ ...q, sort, page: 1 })} rowKey={(x) => `${x.vhost}/${x.name}`} />
      <Pager page={list.data} onPage={(n) => setQ({ ...q, page: n })} />
      <AddExchange vhosts={vhosts.data} onDone={list.reload} />
    </>
  );
}

function AddExchange({ vhosts, onDone }) {
  const [form, setForm] = useState({ vhost: '/', name: '', type: 'direct', durable: 'true', auto_delete: 'false', internal: 'false', arguments: '' });
  const { view, act } = useNotice();
  const submit = async (e) => {
    e.preventDefault();
    const ok = await act(() => {
      const body = { type: form.type, durable: form.durable === 'true', auto_delete: form.auto_delete === 'true', internal: form.internal === 'true', arguments: parseArgs(form.arguments) };
      return put(`/exchanges/${seg(form.vhost)}/${seg(form.name)}`, body);
    }, `Exchange ${form.name} declared.`);
    if (ok) onDone();
  };
  return (
    <Section title="Add an exchange" id="add-exchange-title">
      <form class="grid" onSubmit={submit}>
        <Field label="Vhost" name="vhost" form={form} setForm={setForm}>
          <VhostOptions vhosts={vhosts || [{ name: '/' }]} />
        </Field>
        <Field label="Name" name="name" form={form} setForm={setForm} required />
        <Field label="Type" name="type" form={form} setForm={setForm}>
          {['direct', 'fanout', 'topic', 'headers'].map((t) => <option value={t}>{t}</option>)}
        </Field>
        <Field label="Durable" name="durable" form={form} setForm={setForm}>
          <option value="true">Durable</option>
          <option value="false">Transient</option>
        </Field>
        <Field label="Auto delete" name="auto_delete" form={form} setForm={setForm}>
          <option value="false">No</option>
          <option value="true">Yes</option>
        </Field>
        <Field label="Internal" name="internal" form={form} setForm={setForm}>
          <option value="false">No</option>
          <option value="true">Yes</option>
        </Field>
        <Field label="Arguments (JSON)" name="arguments" form={form} setForm={setForm} type="textarea" />
        <div class="actions">
          <button type="submit" class="primary">Add exchange</button>
        </div>
      </form>
      {view}
    </Section>
  );
}

export function Exchange({ vhost, name }) {
  // The default exchange has no name in the API; its page is reached as "amq.default".
  const apiName = name === 'amq.default' ? 'amq.default' : name;
  const path = `/exchanges/${seg(vhost)}/${seg(apiName)}`;
  const x = usePoll(() => get(path), [path]);
  const src = usePoll(() => get(`${path}/bindings/source`), [path]);
  const dst = usePoll(() => get(`${path}/bindings/destination`), [path]);
  const { view, act } = useNotice();
  const [gone, setGone] = useState(false);
  if (gone) return <p role="status">Exchange {name} deleted. <a href="#/exchanges">Back to exchanges</a></p>;
  const refresh = () => { src.reload(); dst.reload(); };
  const remove = async () => {
    if (!confirmed(`Delete exchange ${name}?`)) return;
    if (await act(() => del(path), 'Exchange deleted.')) setGone(true);
  };
  const d = x.data;
  return (
    <>
      <p class="crumbs"><a href="#/exchanges">Exchanges</a> · vhost <code>{vhost}</code></p>
      <h1>Exchange <span class="name">{display(d ? d.name : name)}</span></h1>
      <ErrorBox error={x.error} />
      {d ? (
        <dl class="facts">
          <div><dt>Type</dt><dd>{d.type}</dd></div>
          <div><dt>Durable</dt><dd>{String(!!d.durable)}</dd></div>
          <div><dt>Auto delete</dt><dd>{String(!!d.auto_delete)}</dd></div>
          <div><dt>Internal</dt><dd>{String(!!d.internal)}</dd></div>
          <div><dt>Policy</dt><dd>{d.policy || 'none'}</dd></div>
          <div><dt>Arguments</dt><dd>{JSON.stringify(d.arguments || {})}</dd></div>
        </dl>
      ) : null}
      <Section title="Bindings from this exchange" id="x-src-title">
        <Bindings rows={src.data} vhost={vhost} onDone={refresh} />
        {name !== 'amq.default' ? <AddBinding vhost={vhost} destination={name} fromSource onDone={refresh} /> : null}
      </Section>
      <Section title="Bindings to this exchange" id="x-dst-title">
        <Bindings rows={dst.data} vhost={vhost} onDone={refresh} />
        {name !== 'amq.default' ? <AddBinding vhost={vhost} destination={name} kind="e" onDone={refresh} /> : null}
      </Section>
      <Section title="Publish a message" id="x-publish-title">
        <Publish vhost={vhost} exchange={apiName} />
      </Section>
      {name !== 'amq.default' && !name.startsWith('amq.') ? (
        <Section title="Delete" id="x-delete-title">
          <button type="button" class="danger" onClick={remove}>Delete exchange</button>
          {view}
        </Section>
      ) : null}
    </>
  );
}
