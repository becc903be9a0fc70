// Definitions: export (all, or one vhost) as a JSON download, and import from a file.
import { useState } from 'preact/hooks';
import { get, post, seg } from '../api.js';
import { usePoll, Section, useNotice, VhostOptions } from '../lib.jsx';

export function Definitions() {
  const vhosts = usePoll(() => get('/vhosts'), [], 0);
  const [vhost, setVhost] = useState('');
  const [into, setInto] = useState('');
  const exp = useNotice();
  const imp = useNotice();
  const path = (v) => (v ? `/definitions/${seg(v)}` : '/definitions');

  const download = async () => {
    const defs = await exp.act(() => get(path(vhost)), 'Definitions exported.');
    if (!defs) return;
    const blob = new Blob([JSON.stringify(defs, null, 2)], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `warren-definitions${vhost ? `-${vhost.replace(/[^\w.-]/g, '_')}` : ''}.json`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    URL.revokeObjectURL(a.href);
  };

  const upload = async (e) => {
    e.preventDefault();
    const file = e.currentTarget.elements.file.files[0];
    if (!file) {
      imp.show('error', 'Choose a definitions file first.');
      return;
    }
    await imp.act(async () => {
      let defs;
      try {
        defs = JSON.parse(await file.text());
      } catch {
        throw new Error(`${file.name} is not JSON.`);
      }
      return post(path(into), defs);
    }, `Imported ${file.name}.`);
  };

  return (
    <>
      <h1>Definitions</h1>
      <p class="muted">Users, vhosts, permissions, policies, parameters, queues, exchanges and bindings, as RabbitMQ's definitions JSON.</p>
      <Section title="Export" id="export-title">
        <div class="grid">
          <label class="field" for="export-vhost">
            <span>Virtual host</span>
            <select id="export-vhost" value={vhost} onChange={(e) => setVhost(e.currentTarget.value)}>
              <option value="">All (the whole broker)</option>
              <VhostOptions vhosts={vhosts.data} />
            </select>
          </label>
          <div class="actions">
            <button type="button" class="primary" onClick={download}>Download definitions</button>
          </div>
        </div>
        {exp.view}
      </Section>
      <Section title="Import" id="import-title">
        <form class="grid" onSubmit={upload}>
          <label class="field" for="import-file">
            <span>Definitions file (JSON)</span>
            <input id="import-file" name="file" type="file" accept="application/json,.json" />
          </label>
          <label class="field" for="import-vhost">
            <span>Into</span>
            <select id="import-vhost" value={into} onChange={(e) => setInto(e.currentTarget.value)}>
              <option value="">The whole broker</option>
              <VhostOptions vhosts={vhosts.data} />
            </select>
          </label>
          <div class="actions">
            <button type="submit" class="primary">Upload definitions</button>
          </div>
        </form>
        {imp.view}
      </Section>
    </>
  );
}
