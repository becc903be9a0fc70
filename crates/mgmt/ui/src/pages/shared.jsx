// Pieces the queue and exchange pages share: publishing a message, a bindings table with
// unbind, and the add-binding form.
import { useState } from 'preact/hooks';
import { post, del, seg } from '../api.js';
import { Table, Field, useNotice, parseArgs, href, confirmed } from '../lib.jsx';

export function Publish({ vhost, exchange, routingKey = '', onDone }) {
  const [form, setForm] = useState({ routing_key: routingKey, payload: '', delivery_mode: '1', headers: '', content_type: '' });
  const { view, act } = useNotice();
  const submit = async (e) => {
    e.preventDefault();
    const ok = await act(async () => {
      const properties = { delivery_mode: Number(form.delivery_mode) };
      const headers = parseArgs(form.headers, 'Headers');
      if (Object.keys(headers).length) properties.headers = headers;
      if (form.content_type) properties.content_type = form.content_type;
      const body = { properties, routing_key: form.routing_key, payload: form.payload, payload_encoding: 'string' };
      return post(`/exchanges/${seg(vhost)}/${seg(exchange)}/publish`, body);
    }, (r) => (r.routed ? 'Message published and routed.' : 'Message published, but not routed to any queue.'));
    if (ok) onDone && onDone();
  };
  return (
    <>
      <form class="grid" onSubmit={submit} aria-label="Publish a message">
        <Field label="Routing key" name="routing_key" prefix="pub" form={form} setForm={setForm} />
        <Field label="Delivery mode" name="delivery_mode" prefix="pub" form={form} setForm={setForm}>
          <option value="1">1 – non-persistent</option>
          <option value="2">2 – persistent</option>
        </Field>
        <Field label="Content type" name="content_type" prefix="pub" form={form} setForm={setForm} />
        <Field label="Headers (JSON)" name="headers" prefix="pub" form={form} setForm={setForm} type="textarea" placeholder='{"x-source": "ui"}' />
        <Field label="Payload" name="payload" prefix="pub" form={form} setForm={setForm} type="textarea" />
        <div class="actions">
          <button type="submit" class="primary">Publish message</button>
        </div>
      </form>
      {view}
    </>
  );
}

const kindOf = (b) => (b.destination_type === 'exchange' ? 'e' : 'q');

export function Bindings({ rows, vhost, onDone }) {
  const { view, act } = useNotice();
  const unbind = async (b) => {
    if (!confirmed(`Remove the binding from ${b.source || '(default)'} to ${b.destination}?`)) return;
    const path = `/bindings/${seg(vhost)}/e/${seg(b.source)}/${kindOf(b)}/${seg(b.destination)}/${seg(b.properties_key)}`;
    if (await act(() => del(path), 'Binding removed.')) onDone();
  };
  const columns = [
    { key: 'source', label: 'From', render: (b) => (b.source ? <a href={href('exchanges', vhost, b.source)}>{b.source}</a> : '(default exchange)') },
    {
      key: 'destination',
      label: 'To',
      render: (b) => <a href={href(b.destination_type === 'exchange' ? 'exchanges' : 'queues', vhost, b.destination)}>{b.destination}</a>,
    },
    { key: 'routing_key', label: 'Routing key' },
    { key: 'arguments', label: 'Arguments', render: (b) => JSON.stringify(b.arguments || {}) },
    {
      key: 'x',
      label: 'Action',
      render: (b) => (b.source ? <button type="button" onClick={() => unbind(b)}>Unbind</button> : null),
    },
  ];
  return (
    <>
      <Table label="Bindings" columns={columns} rows={rows} empty="No bindings." />
      {view}
    </>
  );
}

/** Binds `destination` (a queue, kind "q", or an exchange, "e") to a source exchange. */
export function AddBinding({ vhost, destination, kind, onDone, fromSource }) {
  const [form, setForm] = useState({ other: '', dest_kind: 'q', routing_key: '', arguments: '' });
  const { view, act } = useNotice();
  const prefix = `bind-${fromSource ? 'out' : kind}`;
  const submit = async (e) => {
    e.preventDefault();
    const ok = await act(() => {
      const source = fromSource ? destination : form.other;
      const dest = fromSource ? form.other : destination;
      const k = fromSource ? form.dest_kind : kind;
      const body = { routing_key: form.routing_key, arguments: parseArgs(form.arguments) };
      return post(`/bindings/${seg(vhost)}/e/${seg(source)}/${k}/${seg(dest)}`, body);
    }, 'Binding added.');
    if (ok) onDone();
  };
  return (
    <form class="grid" onSubmit={submit} aria-label="Add a binding">
      {fromSource ? (
        <Field label="To" name="dest_kind" prefix={prefix} form={form} setForm={setForm}>
          <option value="q">Queue</option>
          <option value="e">Exchange</option>
        </Field>
      ) : null}
      <Field label={fromSource ? 'Destination name' : 'From exchange'} name="other" prefix={prefix} form={form} setForm={setForm} required />
      <Field label="Routing key" name="routing_key" prefix={prefix} form={form} setForm={setForm} />
      <Field label="Arguments (JSON)" name="arguments" prefix={prefix} form={form} setForm={setForm} type="textarea" />
      <div class="actions">
        <button type="submit">Bind</button>
      </div>
      {view}
    </form>
  );
}
