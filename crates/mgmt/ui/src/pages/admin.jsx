// Administration: users, virtual hosts, permissions, policies and limits — each a list with
// delete, and one form that creates or (prefilled by "Edit") replaces an entry.
import { useState } from 'preact/hooks';
import { get, put, del, seg } from '../api.js';
import { usePoll, ErrorBox, Table, Field, Section, useNotice, parseArgs, confirmed, VhostOptions, fmtNum } from '../lib.jsx';

const tagsText = (t) => (Array.isArray(t) ? t.join(', ') : t || '');

/** A list page: the rows, delete and edit buttons, and the form below. */
function useCrud(path) {
  const list = usePoll(() => get(path), [path]);
  const notice = useNotice();
  const remove = async (what, p) => {
    if (!confirmed(`Delete ${what}?`)) return;
    if (await notice.act(() => del(p), `${what} deleted.`)) list.reload();
  };
  return { list, notice, remove };
}

function RowActions({ onEdit, onDelete, what }) {
  return (
    <span class="row-actions">
      {onEdit ? <button type="button" onClick={onEdit} aria-label={`Edit ${what}`}>Edit</button> : null}
      <button type="button" class="danger" onClick={onDelete} aria-label={`Delete ${what}`}>Delete</button>
    </span>
  );
}

export function Users({ me }) {
  const { list, notice, remove } = useCrud('/users');
  const blank = { name: '', password: '', tags: '' };
  const [form, setForm] = useState(blank);
  const columns = [
    { key: 'name', label: 'Name' },
    { key: 'tags', label: 'Tags', render: (u) => tagsText(u.tags) },
    { key: 'pw', label: 'Password', sort: false, render: (u) => (u.password_hash ? 'set' : 'none') },
    {
      key: 'x',
      label: 'Actions',
      render: (u) => (
        <RowActions what={`user ${u.name}`} onEdit={() => setForm({ name: u.name, password: '', tags: tagsText(u.tags) })} onDelete={() => remove(`User ${u.name}`, `/users/${seg(u.name)}`)} />
      ),
    },
  ];
  const submit = async (e) => {
    e.preventDefault();
    const body = { tags: form.tags };
    // An empty password on edit keeps the current one (RabbitMQ's UI does the same by
    // sending the existing hash); on create it makes a user who cannot log in with one.
    const existing = (list.data || []).find((u) => u.name === form.name);
    if (form.password) body.password = form.password;
    else if (existing && existing.password_hash) {
      body.password_hash = existing.password_hash;
      if (existing.hashing_algorithm) body.hashing_algorithm = existing.hashing_algorithm;
    } else body.password_hash = '';
    if (await notice.act(() => put(`/users/${seg(form.name)}`, body), `User ${form.name} saved.`)) {
      setForm(blank);
      list.reload();
    }
  };
  return (
    <>
      <h1>Users</h1>
      <ErrorBox error={list.error} />
      <Table label="Users" columns={columns} rows={list.data} rowKey={(u) => u.name} />
      {notice.view}
      <Section title="Add or update a user" id="user-form-title">
        <form class="grid" onSubmit={submit}>
          <Field label="Username" name="name" form={form} setForm={setForm} required autocomplete="off" />
          <Field label="Password" name="password" form={form} setForm={setForm} type="password" autocomplete="new-password" placeholder="(unchanged when editing)" />
          <Field label="Tags (comma separated)" name="tags" form={form} setForm={setForm} placeholder="administrator, monitoring, management, policymaker" />
          <div class="actions">
            <button type="submit" class="primary">Save user</button>
          </div>
        </form>
        {me && me.name === form.name ? <p class="muted">You are editing your own user.</p> : null}
      </Section>
    </>
  );
}

export function Vhosts() {
  const { list, notice, remove } = useCrud('/vhosts');
  const blank = { name: '', description: '', tags: '' };
  const [form, setForm] = useState(blank);
  const columns = [
    { key: 'name', label: 'Name' },
    { key: 'description', label: 'Description' },
    { key: 'tags', label: 'Tags', render: (v) => tagsText(v.tags) },
    { key: 'messages', label: 'Messages', num: true, render: (v) => fmtNum(v.messages) },
    {
      key: 'x',
      label: 'Actions',
      render: (v) => (
        <RowActions what={`vhost ${v.name}`} onEdit={() => setForm({ name: v.name, description: v.description || '', tags: tagsText(v.tags) })} onDelete={() => remove(`Vhost ${v.name}`, `/vhosts/${seg(v.name)}`)} />
      ),
    },
  ];
  const submit = async (e) => {
    e.preventDefault();
    if (await notice.act(() => put(`/vhosts/${seg(form.name)}`, { description: form.description, tags: form.tags }), `Vhost ${form.name} saved.`)) {
      setForm(blank);
      list.reload();
    }
  };
  return (
    <>
      <h1>Virtual hosts</h1>
      <ErrorBox error={list.error} />
      <Table label="Virtual hosts" columns={columns} rows={list.data} rowKey={(v) => v.name} />
      {notice.view}
      <Section title="Add or update a virtual host" id="vhost-form-title">
        <form class="grid" onSubmit={submit}>
          <Field label="Name" name="name" form={form} setForm={setForm} required />
          <Field label="Description" name="description" form={form} setForm={setForm} />
          <Field label="Tags (comma separated)" name="tags" form={form} setForm={setForm} />
          <div class="actions">
            <button type="submit" class="primary">Save vhost</button>
          </div>
        </form>
      </Section>
    </>
  );
}

export function Permissions() {
  const { list, notice, remove } = useCrud('/permissions');
  const users = usePoll(() => get('/users'), [], 0);
  const vhosts = usePoll(() => get('/vhosts'), [], 0);
  const blank = { user: '', vhost: '/', configure: '.*', write: '.*', read: '.*' };
  const [form, setForm] = useState(blank);
  const columns = [
    { key: 'user', label: 'User' },
    { key: 'vhost', label: 'Vhost' },
    { key: 'configure', label: 'Configure' },
    { key: 'write', label: 'Write' },
    { key: 'read', label: 'Read' },
    {
      key: 'x',
      label: 'Actions',
      render: (p) => (
        <RowActions what={`permissions of ${p.user} in ${p.vhost}`} onEdit={() => setForm({ ...p })} onDelete={() => remove(`Permissions of ${p.user} in ${p.vhost}`, `/permissions/${seg(p.vhost)}/${seg(p.user)}`)} />
      ),
    },
  ];
  const submit = async (e) => {
    e.preventDefault();
    const body = { configure: form.configure, write: form.write, read: form.read };
    if (await notice.act(() => put(`/permissions/${seg(form.vhost)}/${seg(form.user)}`, body), 'Permissions saved.')) list.reload();
  };
  return (
    <>
      <h1>Permissions</h1>
      <ErrorBox error={list.error} />
      <Table label="Permissions" columns={columns} rows={list.data} rowKey={(p) => `${p.vhost}/${p.user}`} />
      {notice.view}
      <Section title="Set permissions" id="perm-form-title">
        <form class="grid" onSubmit={submit}>
          <Field label="User" name="user" form={form} setForm={setForm} required>
            <option value="">Choose…</option>
            {(users.data || []).map((u) => <option value={u.name}>{u.name}</option>)}
          </Field>
          <Field label="Vhost" name="vhost" form={form} setForm={setForm}>
            <VhostOptions vhosts={vhosts.data || [{ name: '/' }]} />
          </Field>
          <Field label="Configure regexp" name="configure" form={form} setForm={setForm} />
          <Field label="Write regexp" name="write" form={form} setForm={setForm} />
          <Field label="Read regexp" name="read" form={form} setForm={setForm} />
          <div class="actions">
            <button type="submit" class="primary">Set permissions</button>
          </div>
        </form>
      </Section>
    </>
  );
}

export function Policies() {
  const { list, notice, remove } = useCrud('/policies');
  const vhosts = usePoll(() => get('/vhosts'), [], 0);
  const blank = { vhost: '/', name: '', pattern: '', 'apply-to': 'all', priority: '0', definition: '' };
  const [form, setForm] = useState(blank);
  const columns = [
    { key: 'vhost', label: 'Vhost' },
    { key: 'name', label: 'Name' },
    { key: 'pattern', label: 'Pattern' },
    { key: 'apply-to', label: 'Apply to' },
    { key: 'definition', label: 'Definition', render: (p) => <code>{JSON.stringify(p.definition)}</code> },
    { key: 'priority', label: 'Priority', num: true },
    {
      key: 'x',
      label: 'Actions',
      render: (p) => (
        <RowActions
          what={`policy ${p.name}`}
          onEdit={() => setForm({ vhost: p.vhost, name: p.name, pattern: p.pattern, 'apply-to': p['apply-to'], priority: String(p.priority), definition: JSON.stringify(p.definition) })}
          onDelete={() => remove(`Policy ${p.name}`, `/policies/${seg(p.vhost)}/${seg(p.name)}`)}
        />
      ),
    },
  ];
  const submit = async (e) => {
    e.preventDefault();
    const ok = await notice.act(() => {
      const body = { pattern: form.pattern, 'apply-to': form['apply-to'], priority: Number(form.priority), definition: parseArgs(form.definition, 'Definition') };
      return put(`/policies/${seg(form.vhost)}/${seg(form.name)}`, body);
    }, `Policy ${form.name} saved.`);
    if (ok) list.reload();
  };
  return (
    <>
      <h1>Policies</h1>
      <ErrorBox error={list.error} />
      <Table label="Policies" columns={columns} rows={list.data} rowKey={(p) => `${p.vhost}/${p.name}`} empty="No policies." />
      {notice.view}
      <Section title="Add or update a policy" id="policy-form-title">
        <form class="grid" onSubmit={submit}>
          <Field label="Vhost" name="vhost" form={form} setForm={setForm}>
            <VhostOptions vhosts={vhosts.data || [{ name: '/' }]} />
          </Field>
          <Field label="Name" name="name" form={form} setForm={setForm} required />
          <Field label="Pattern (regexp)" name="pattern" form={form} setForm={setForm} required />
          <Field label="Apply to" name="apply-to" form={form} setForm={setForm}>
            <option value="all">Exchanges and queues</option>
            <option value="queues">Queues</option>
            <option value="exchanges">Exchanges</option>
          </Field>
          <Field label="Priority" name="priority" form={form} setForm={setForm} type="number" />
          <Field label="Definition (JSON)" name="definition" form={form} setForm={setForm} type="textarea" placeholder='{"max-length": 1000}' required />
          <div class="actions">
            <button type="submit" class="primary">Save policy</button>
          </div>
        </form>
      </Section>
    </>
  );
}

/** The API lists limits as {vhost|user, value: {name: n}}; one row per limit here. */
function flatten(rows, owner) {
  return (rows || []).flatMap((r) => Object.entries(r.value || {}).map(([name, value]) => ({ owner: r[owner], name, value })));
}

function LimitSection({ kind, owner, names, choices }) {
  const base = kind === 'vhost' ? '/vhost-limits' : '/user-limits';
  const { list, notice, remove } = useCrud(base);
  const blank = { owner: kind === 'vhost' ? '/' : '', name: names[0], value: '' };
  const [form, setForm] = useState(blank);
  const rows = list.data ? flatten(list.data, owner) : null;
  const columns = [
    { key: 'owner', label: kind === 'vhost' ? 'Vhost' : 'User' },
    { key: 'name', label: 'Limit' },
    { key: 'value', label: 'Value', num: true },
    {
      key: 'x',
      label: 'Actions',
      render: (l) => <RowActions what={`${l.name} of ${l.owner}`} onEdit={() => setForm({ owner: l.owner, name: l.name, value: String(l.value) })} onDelete={() => remove(`Limit ${l.name} of ${l.owner}`, `${base}/${seg(l.owner)}/${l.name}`)} />,
    },
  ];
  const submit = async (e) => {
    e.preventDefault();
    if (await notice.act(() => put(`${base}/${seg(form.owner)}/${form.name}`, { value: Number(form.value) }), 'Limit saved.')) list.reload();
  };
  return (
    <Section title={kind === 'vhost' ? 'Virtual host limits' : 'User limits'} id={`${kind}-limits-title`}>
      <ErrorBox error={list.error} />
      <Table label={`${kind} limits`} columns={columns} rows={rows} empty="No limits." />
      {notice.view}
      <form class="grid" onSubmit={submit}>
        <label class="field" for={`${kind}-limit-owner`}>
          <span>{kind === 'vhost' ? 'Vhost' : 'User'}</span>
          <select id={`${kind}-limit-owner`} value={form.owner} onChange={(e) => setForm({ ...form, owner: e.currentTarget.value })}>
            <option value="">Choose…</option>
            {(choices || []).map((c) => <option value={c.name}>{c.name}</option>)}
          </select>
        </label>
        <label class="field" for={`${kind}-limit-name`}>
          <span>Limit</span>
          <select id={`${kind}-limit-name`} value={form.name} onChange={(e) => setForm({ ...form, name: e.currentTarget.value })}>
            {names.map((n) => <option value={n}>{n}</option>)}
          </select>
        </label>
        <label class="field" for={`${kind}-limit-value`}>
          <span>Value (-1 for no limit)</span>
          <input id={`${kind}-limit-value`} type="number" required value={form.value} onInput={(e) => setForm({ ...form, value: e.currentTarget.value })} />
        </label>
        <div class="actions">
          <button type="submit" class="primary">Set limit</button>
        </div>
      </form>
    </Section>
  );
}

export function Limits() {
  const vhosts = usePoll(() => get('/vhosts'), [], 0);
  const users = usePoll(() => get('/users'), [], 0);
  return (
    <>
      <h1>Limits</h1>
      <LimitSection kind="vhost" owner="vhost" names={['max-connections', 'max-queues']} choices={vhosts.data} />
      <LimitSection kind="user" owner="user" names={['max-connections', 'max-channels']} choices={users.data} />
    </>
  );
}
