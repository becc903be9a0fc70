// Connections and channels: paged lists, details, and closing a connection with a reason
// (the API's X-Reason header, which the client sees in its connection.close).
import { useState } from 'preact/hooks';
import { get, del, seg } from '../api.js';
import { usePoll, ErrorBox, Table, Pager, Section, Facts, useNotice, confirmed, href, fmtNum, fmtBytes } from '../lib.jsx';

const PAGE_SIZE = 50;

function usePaged(base, sortKey) {
  const [q, setQ] = useState({ page: 1, filter: '', sort: { key: sortKey, reverse: false } });
  const p = new URLSearchParams({ page: String(q.page), page_size: String(PAGE_SIZE), name: q.filter, use_regex: 'false', sort: q.sort.key, sort_reverse: String(q.sort.reverse) });
  const list = usePoll(() => get(`${base}?${p}`), [base, p.toString()]);
  return { q, setQ, list };
}

function Filter({ id, q, setQ }) {
  return (
    <div class="toolbar" role="search">
      <label class="field inline" for={id}>
        <span>Filter</span>
        <input id={id} type="search" value={q.filter} onInput={(e) => setQ({ ...q, filter: e.currentTarget.value, page: 1 })} />
      </label>
    </div>
  );
}

const CONN_COLUMNS = [
  { key: 'name', label: 'Name', render: (c) => <a href={href('connections', c.name)}>{c.name}</a> },
  { key: 'vhost', label: 'Vhost' },
  { key: 'user', label: 'User' },
  { key: 'state', label: 'State' },
  { key: 'protocol', label: 'Protocol' },
  { key: 'ssl', label: 'TLS', render: (c) => (c.ssl ? 'yes' : 'no') },
  { key: 'channels', label: 'Channels', num: true },
  { key: 'client', label: 'Client', sort: false, render: (c) => clientName(c) },
  { key: 'recv_oct', label: 'Received', num: true, render: (c) => fmtBytes(c.recv_oct) },
  { key: 'send_oct', label: 'Sent', num: true, render: (c) => fmtBytes(c.send_oct) },
];

function clientName(c) {
  const p = c.client_properties || {};
  return [p.product, p.version].filter(Boolean).join(' ') || '–';
}

export function Connections() {
  const { q, setQ, list } = usePaged('/connections', 'name');
  return (
    <>
      <h1>Connections</h1>
      <Filter id="conn-filter" q={q} setQ={setQ} />
      <ErrorBox error={list.error} />
      <Table label="Connections" columns={CONN_COLUMNS} rows={list.data ? list.data.items : null} sort={q.sort} onSort={(sort) => setQ({ ...q, sort, page: 1 })} rowKey={(c) => c.name} empty="No connections." />
      <Pager page={list.data} onPage={(n) => setQ({ ...q, page: n })} />
    </>
  );
}

const CHANNEL_COLUMNS = [
  { key: 'name', label: 'Channel', render: (c) => <a href={href('channels', c.name)}>{c.name}</a> },
  { key: 'vhost', label: 'Vhost' },
  { key: 'user', label: 'User' },
  { key: 'state', label: 'State' },
  { key: 'confirm', label: 'Mode', render: (c) => [c.confirm ? 'confirm' : '', c.transactional ? 'tx' : ''].filter(Boolean).join(' ') || '–' },
  { key: 'prefetch_count', label: 'Prefetch', num: true },
  { key: 'messages_unacknowledged', label: 'Unacked', num: true, render: (c) => fmtNum(c.messages_unacknowledged) },
  { key: 'consumer_count', label: 'Consumers', num: true },
];

export function Channels() {
  const { q, setQ, list } = usePaged('/channels', 'name');
  return (
    <>
      <h1>Channels</h1>
      <Filter id="channel-filter" q={q} setQ={setQ} />
      <ErrorBox error={list.error} />
      <Table label="Channels" columns={CHANNEL_COLUMNS} rows={list.data ? list.data.items : null} sort={q.sort} onSort={(sort) => setQ({ ...q, sort, page: 1 })} rowKey={(c) => c.name} empty="No channels." />
      <Pager page={list.data} onPage={(n) => setQ({ ...q, page: n })} />
    </>
  );
}

export function Connection({ name }) {
  const path = `/connections/${seg(name)}`;
  const c = usePoll(() => get(path), [path]);
  const channels = usePoll(() => get(`${path}/channels`), [path]);
  const [reason, setReason] = useState('Closed via the management UI');
  const [closed, setClosed] = useState(false);
  const { view, act } = useNotice();
  const close = async (e) => {
    e.preventDefault();
    if (!confirmed(`Close connection ${name}?`)) return;
    if (await act(() => del(path, { 'X-Reason': reason }), 'Connection closed.')) setClosed(true);
  };
  const d = c.data;
  return (
    <>
      <p class="crumbs"><a href="#/connections">Connections</a></p>
      <h1>Connection <span class="name">{name}</span></h1>
      {closed ? null : <ErrorBox error={c.error} />}
      {d ? (
        <Facts
          items={[
            ['User', d.user],
            ['Vhost', d.vhost],
            ['State', d.state],
            ['Protocol', d.protocol],
            ['Peer', d.peer_host && `${d.peer_host}:${d.peer_port}`],
            ['TLS', d.ssl, (v) => (v ? `${d.ssl_protocol || 'yes'} ${d.ssl_cipher || ''}` : 'no')],
            ['Channel max', d.channel_max, fmtNum],
            ['Frame max', d.frame_max, fmtNum],
            ['Heartbeat', d.timeout, (v) => `${v} s`],
            ['Client', d.client_properties && clientName(d)],
            ['Connected at', d.connected_at, (v) => new Date(v).toLocaleString()],
          ]}
        />
      ) : null}
      <Section title="Channels" id="c-channels-title">
        <Table label="Channels of this connection" columns={CHANNEL_COLUMNS} rows={channels.data} empty="No channels." />
      </Section>
      <Section title="Close this connection" id="c-close-title">
        <form class="grid" onSubmit={close}>
          <label class="field" for="close-reason">
            <span>Reason (sent to the client)</span>
            <input id="close-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
          </label>
          <div class="actions">
            <button type="submit" class="danger">Force close</button>
          </div>
        </form>
        {view}
      </Section>
    </>
  );
}

export function Channel({ name }) {
  const path = `/channels/${seg(name)}`;
  const ch = usePoll(() => get(path), [path]);
  const d = ch.data;
  const consumers = [
    { key: 'queue', label: 'Queue', render: (c) => (c.queue ? <a href={href('queues', c.queue.vhost, c.queue.name)}>{c.queue.name}</a> : '–') },
    { key: 'consumer_tag', label: 'Consumer tag' },
    { key: 'ack_required', label: 'Ack required', render: (c) => String(c.ack_required) },
    { key: 'prefetch_count', label: 'Prefetch', num: true },
  ];
  return (
    <>
      <p class="crumbs"><a href="#/channels">Channels</a></p>
      <h1>Channel <span class="name">{name}</span></h1>
      <ErrorBox error={ch.error} />
      {d ? (
        <Facts
          items={[
            ['Connection', d.connection_details, (c) => <a href={href('connections', c.name)}>{c.name}</a>],
            ['User', d.user],
            ['Vhost', d.vhost],
            ['State', d.state],
            ['Prefetch', d.prefetch_count, fmtNum],
            ['Global prefetch', d.global_prefetch_count, fmtNum],
            ['Unacked', d.messages_unacknowledged, fmtNum],
            ['Unconfirmed', d.messages_unconfirmed, fmtNum],
            ['Confirm mode', d.confirm],
            ['Transactional', d.transactional],
          ]}
        />
      ) : null}
      <Section title="Consumers" id="ch-consumers-title">
        <Table label="Consumers" columns={consumers} rows={d ? d.consumer_details || [] : null} empty="No consumers." />
      </Section>
    </>
  );
}
