// The overview: totals, message and rate charts, alarms, node memory and disk against their
// limits, listeners. Counts are sampled client-side each poll; rates come from the API's
// `message_stats` when the server reports them.
import { get } from '../api.js';
import { Chart, useSamples } from '../chart.jsx';
import { usePoll, ErrorBox, Section, Table, fmtNum, fmtBytes, fmtRate, rate } from '../lib.jsx';

const COUNTS = ['Ready', 'Unacked', 'Total'];
const RATES = [
  ['publish', 'Publish'],
  ['deliver_get', 'Deliver/get'],
  ['ack', 'Ack'],
  ['redeliver', 'Redeliver'],
];

export function Overview() {
  const [counts, pushCounts] = useSamples(COUNTS);
  const [rates, pushRates] = useSamples(RATES.map((r) => r[1]));
  const ov = usePoll(() => get('/overview'), [], undefined, (o) => {
    const q = o.queue_totals || {};
    pushCounts({ Ready: q.messages_ready, Unacked: q.messages_unacknowledged, Total: q.messages });
    pushRates(Object.fromEntries(RATES.map(([k, label]) => [label, rate(o, k)])));
  });
  const nodes = usePoll(() => get('/nodes'), []);
  const o = ov.data;
  const hasRates = o && o.message_stats && RATES.some(([k]) => rate(o, k) !== undefined);
  return (
    <>
      <h1>Overview</h1>
      <ErrorBox error={ov.error} />
      {o ? (
        <p class="meta">
          {o.product_name || 'Warren'} {o.product_version || o.rabbitmq_version} on node <code>{o.node}</code>
          {o.cluster_name ? ` · cluster ${o.cluster_name}` : ''}
        </p>
      ) : null}
      <Alarms nodes={nodes.data} />
      <Totals o={o} />
      <div class="charts">
        <Chart id="chart-queued" title="Queued messages" series={COUNTS} data={counts} />
        {hasRates ? (
          <Chart id="chart-rates" title="Message rates" series={RATES.map((r) => r[1])} data={rates} unit="/s" />
        ) : (
          <figure class="chart">
            <figcaption>Message rates</figcaption>
            <p class="muted">This server does not report message rates (no <code>message_stats</code>) yet.</p>
          </figure>
        )}
      </div>
      <Nodes nodes={nodes.data} error={nodes.error} />
      <Listeners o={o} />
    </>
  );
}

function Totals({ o }) {
  if (!o) return null;
  const t = o.object_totals || {};
  const q = o.queue_totals || {};
  const items = [
    ['Connections', t.connections, '#/connections'],
    ['Channels', t.channels, '#/channels'],
    ['Exchanges', t.exchanges, '#/exchanges'],
    ['Queues', t.queues, '#/queues'],
    ['Consumers', t.consumers],
    ['Messages ready', q.messages_ready],
    ['Unacked', q.messages_unacknowledged],
    ['Messages total', q.messages],
    ['Publish rate', rate(o, 'publish'), null, fmtRate],
    ['Deliver rate', rate(o, 'deliver_get'), null, fmtRate],
  ];
  return (
    <dl class="totals" aria-label="Totals">
      {items.map(([label, v, link, fmt = fmtNum]) => (
        <div class="total" data-total={label}>
          <dt>{link ? <a href={link}>{label}</a> : label}</dt>
          <dd>{fmt(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

function Alarms({ nodes }) {
  if (!nodes) return null;
  const alarms = [];
  for (const n of nodes) {
    if (n.mem_alarm) alarms.push(`Memory alarm on ${n.name}: publishers are blocked.`);
    if (n.disk_free_alarm) alarms.push(`Disk alarm on ${n.name}: publishers are blocked.`);
  }
  if (!alarms.length) return <p class="ok-banner">No alarms.</p>;
  return (
    <div class="alarm" role="alert">
      {alarms.map((a) => (
        <p>{a}</p>
      ))}
    </div>
  );
}

/** A bar for "used against limit"; `inverse` when the limit is a floor (free disk). */
function Gauge({ label, value, limit, inverse }) {
  if (value === undefined || limit === undefined) return <span>–</span>;
  const pct = inverse ? Math.min(100, (limit / Math.max(value, 1)) * 100) : Math.min(100, (value / Math.max(limit, 1)) * 100);
  const bad = inverse ? value <= limit : value >= limit;
  return (
    <div class={bad ? 'gauge bad' : 'gauge'}>
      <meter min={0} max={100} value={pct} aria-label={label} />
      <span>
        {fmtBytes(value)} {inverse ? 'free, limit' : 'of'} {fmtBytes(limit)}
      </span>
    </div>
  );
}

function Nodes({ nodes, error }) {
  const columns = [
    { key: 'name', label: 'Node' },
    { key: 'mem', label: 'Memory', render: (n) => <Gauge label={`Memory on ${n.name}`} value={n.mem_used} limit={n.mem_limit} /> },
    { key: 'disk', label: 'Disk free', render: (n) => <Gauge label={`Free disk on ${n.name}`} value={n.disk_free} limit={n.disk_free_limit} inverse /> },
    { key: 'fd', label: 'File descriptors', render: (n) => `${fmtNum(n.fd_used)} / ${fmtNum(n.fd_total)}` },
    { key: 'sockets', label: 'Sockets', render: (n) => `${fmtNum(n.sockets_used)} / ${fmtNum(n.sockets_total)}` },
    { key: 'uptime', label: 'Uptime', render: (n) => (n.uptime === undefined ? '–' : `${Math.floor(n.uptime / 60000)} min`) },
  ];
  // Columns the server reports for no node are left out rather than shown empty.
  const reported = { fd: 'fd_total', sockets: 'sockets_total', uptime: 'uptime' };
  const shown = columns.filter((c) => !reported[c.key] || !nodes || nodes.some((n) => n[reported[c.key]] !== undefined));
  return (
    <Section title="Nodes" id="nodes-title">
      <ErrorBox error={error} />
      <Table label="Nodes" columns={shown} rows={nodes} rowKey={(n) => n.name} />
    </Section>
  );
}

function Listeners({ o }) {
  const columns = [
    { key: 'protocol', label: 'Protocol' },
    { key: 'ip_address', label: 'Bound to' },
    { key: 'port', label: 'Port', num: true },
    { key: 'node', label: 'Node' },
  ];
  return (
    <Section title="Listeners" id="listeners-title">
      <Table label="Listeners" columns={columns} rows={o ? o.listeners || [] : null} />
    </Section>
  );
}
