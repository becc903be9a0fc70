// Shared pieces: formatting, polling, the sortable table, the pager, forms and notices.
import { useEffect, useRef, useState, useCallback } from 'preact/hooks';

export const POLL_MS = 5000;

export function fmtNum(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '–';
  return Number(n).toLocaleString('en-US');
}

export function fmtRate(r) {
  if (r === undefined || r === null) return '–';
  return `${Number(r).toFixed(r >= 100 ? 0 : 1)}/s`;
}

export function fmtBytes(b) {
  if (b === undefined || b === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(b);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** `message_stats.<key>_details.rate`, or undefined when the server does not report it. */
export function rate(obj, key) {
  const d = obj && obj.message_stats && obj.message_stats[`${key}_details`];
  return d ? d.rate : undefined;
}

/**
 * Runs `load` now and every `ms` while the page is visible; `reload` re-runs it at once.
 * `onData` sees every successful result (the charts append their samples there).
 */
export function usePoll(load, deps, ms = POLL_MS, onData) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const seq = useRef(0);
  const run = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const data = await load();
      if (mine !== seq.current) return;
      setState({ data, error: null, loading: false });
      if (onData) onData(data);
    } catch (error) {
      if (mine !== seq.current) return;
      setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, deps);
  useEffect(() => {
    run();
    if (!ms) return undefined;
    const t = setInterval(() => {
      if (!document.hidden) run();
    }, ms);
    return () => {
      seq.current += 1;
      clearInterval(t);
    };
  }, [run, ms]);
  return { ...state, reload: run };
}

export function ErrorBox({ error }) {
  if (!error) return null;
  const where = error.status ? ` (HTTP ${error.status})` : '';
  return (
    <p class="error" role="alert">
      {error.message}
      {where}
    </p>
  );
}

/** The outcome of the last action on a page: success or error, announced to screen readers. */
export function useNotice() {
  const [notice, setNotice] = useState(null);
  const show = (kind, text) => setNotice({ kind, text, at: Date.now() });
  const view = notice ? (
    <p class={`notice ${notice.kind}`} role={notice.kind === 'error' ? 'alert' : 'status'}>
      {notice.text}
    </p>
  ) : null;
  /** Runs an action, reporting `ok` or the API's reason; returns whether it worked. */
  const act = async (fn, ok) => {
    try {
      const r = await fn();
      show('ok', typeof ok === 'function' ? ok(r) : ok);
      return r ?? true;
    } catch (e) {
      show('error', e.message);
      return false;
    }
  };
  return { view, show, act };
}

/**
 * A table. `columns`: {key, label, render?, num?, sort? (the API's sort key, or false)}.
 * With `sort` and `onSort`, headers are buttons that ask for a new order.
 */
export function Table({ columns, rows, sort, onSort, empty = 'Nothing here.', rowKey, label }) {
  return (
    <div class="table-wrap">
      <table aria-label={label}>
        <thead>
          <tr>
            {columns.map((c) => {
              const key = c.sort === undefined ? c.key : c.sort;
              const active = sort && key && sort.key === key;
              const aria = active ? (sort.reverse ? 'descending' : 'ascending') : undefined;
              return (
                <th class={c.num ? 'num' : ''} aria-sort={aria} scope="col">
                  {onSort && key ? (
                    <button
                      type="button"
                      class="sort"
                      onClick={() => onSort({ key, reverse: active ? !sort.reverse : false })}
                    >
                      {c.label}
                      <span aria-hidden="true">{active ? (sort.reverse ? ' ▼' : ' ▲') : ''}</span>
                    </button>
                  ) : (
                    c.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows && rows.length ? (
            rows.map((r, i) => (
              <tr key={rowKey ? rowKey(r) : i}>
                {columns.map((c) => (
                  <td class={c.num ? 'num' : ''} data-label={c.label}>
                    {c.render ? c.render(r) : r[c.key] ?? ''}
                  </td>
                ))}
              </tr>
            ))
          ) : (
            <tr>
              <td colSpan={columns.length} class="empty">
                {rows ? empty : 'Loading…'}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

/** The API's paged envelope: page, page_count, filtered_count, total_count. */
export function Pager({ page, onPage }) {
  if (!page) return null;
  const { page: n, page_count: count, filtered_count: filtered, total_count: total } = page;
  return (
    <nav class="pager" aria-label="Pages">
      <span class="actions">
        <button type="button" disabled={n <= 1} onClick={() => onPage(1)}>
          « First
        </button>
        <button type="button" disabled={n <= 1} onClick={() => onPage(n - 1)}>
          ‹ Previous
        </button>
      </span>
      <span>
        Page {n} of {Math.max(count, 1)} · {fmtNum(filtered)} shown of {fmtNum(total)}
      </span>
      <span class="actions">
        <button type="button" disabled={n >= count} onClick={() => onPage(n + 1)}>
          Next ›
        </button>
        <button type="button" disabled={n >= count} onClick={() => onPage(count)}>
          Last »
        </button>
      </span>
    </nav>
  );
}

/**
 * A labelled input bound to `form[name]`; its id is `<prefix>-<name>`, so forms that share a
 * page pass distinct prefixes.
 */
export function Field({ label, name, form, setForm, type = 'text', prefix = 'f', children, ...rest }) {
  const id = `${prefix}-${name}`;
  const onInput = (e) => setForm({ ...form, [name]: e.currentTarget.value });
  return (
    <label class={type === 'textarea' ? 'field wide' : 'field'} for={id}>
      <span>{label}</span>
      {children ? (
        <select id={id} name={name} value={form[name]} onChange={onInput} {...rest}>
          {children}
        </select>
      ) : type === 'textarea' ? (
        <textarea id={id} name={name} value={form[name]} onInput={onInput} {...rest} />
      ) : (
        <input id={id} name={name} type={type} value={form[name]} onInput={onInput} {...rest} />
      )}
    </label>
  );
}

/** Parses a JSON object typed by the user ("" is {}), throwing a readable error. */
export function parseArgs(text, what = 'Arguments') {
  if (!text || !text.trim()) return {};
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`${what} must be a JSON object, e.g. {"x-max-length": 1000}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new Error(`${what} must be a JSON object`);
  }
  return v;
}

/** Asks before a destructive action. */
export function confirmed(text) {
  return window.confirm(text);
}

export const vhostPath = (v) => encodeURIComponent(v);

/** A link to a page of this app. */
export function href(...parts) {
  return `#/${parts.map((p) => encodeURIComponent(p)).join('/')}`;
}

export function Section({ title, children, id }) {
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

/** The vhosts the user may see, for select boxes. */
export function VhostOptions({ vhosts }) {
  return (vhosts || []).map((v) => <option value={v.name}>{v.name}</option>);
}

/**
 * A list of facts: [label, value, format?, id?]. Facts the server does not report (value
 * undefined or null) are left out rather than shown empty.
 */
export function Facts({ items }) {
  const shown = items.filter(([, v]) => v !== undefined && v !== null);
  return (
    <dl class="facts">
      {shown.map(([label, v, fmt, id]) => (
        <div data-fact={id}>
          <dt>{label}</dt>
          <dd>{fmt ? fmt(v) : typeof v === 'boolean' ? String(v) : v}</dd>
        </div>
      ))}
    </dl>
  );
}
