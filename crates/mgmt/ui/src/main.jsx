// The app shell: the login form, the navigation, and a hash router over the pages.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { login, forget, credentials, get, setUnauthorisedHandler } from './api.js';
import { Overview } from './pages/overview.jsx';
import { Queues, Queue } from './pages/queues.jsx';
import { Exchanges, Exchange } from './pages/exchanges.jsx';
import { Connections, Connection, Channels, Channel } from './pages/connections.jsx';
import { Users, Vhosts, Permissions, Policies, Limits } from './pages/admin.jsx';
import { Definitions } from './pages/definitions.jsx';
import './style.css';

// Pages and who may use them: the API refuses the rest anyway (RabbitMQ's tag rules); the
// navigation just does not offer them.
const admin = (tags) => tags.includes('administrator');
const policymaker = (tags) => admin(tags) || tags.includes('policymaker');
const NAV = [
  ['overview', 'Overview'],
  ['connections', 'Connections'],
  ['channels', 'Channels'],
  ['exchanges', 'Exchanges'],
  ['queues', 'Queues'],
  ['users', 'Users', admin],
  ['vhosts', 'Virtual hosts', admin],
  ['permissions', 'Permissions', admin],
  ['policies', 'Policies', policymaker],
  ['limits', 'Limits', admin],
  ['definitions', 'Definitions', admin],
];

function parseHash() {
  const h = window.location.hash.replace(/^#\/?/, '');
  return h ? h.split('/').map(decodeURIComponent) : ['overview'];
}

function useRoute() {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const on = () => setRoute(parseHash());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

function page(route, me) {
  const [name, a, b] = route;
  switch (name) {
    case 'overview':
      return <Overview />;
    case 'queues':
      return a !== undefined ? <Queue vhost={a} name={b ?? ''} /> : <Queues />;
    case 'exchanges':
      return a !== undefined ? <Exchange vhost={a} name={b ?? ''} /> : <Exchanges />;
    case 'connections':
      return a !== undefined ? <Connection name={a} /> : <Connections />;
    case 'channels':
      return a !== undefined ? <Channel name={a} /> : <Channels />;
    case 'users':
      return <Users me={me} />;
    case 'vhosts':
      return <Vhosts />;
    case 'permissions':
      return <Permissions />;
    case 'policies':
      return <Policies />;
    case 'limits':
      return <Limits />;
    case 'definitions':
      return <Definitions />;
    default:
      return <p>No such page. <a href="#/overview">Go to the overview.</a></p>;
  }
}

function Login({ onLogin, reason }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(reason);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      onLogin(await login(user, password));
    } catch (err) {
      setError(err.status === 401 ? `Login refused: ${err.message}` : err.message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Warren</h1>
        <label class="field" for="login-user">
          <span>Username</span>
          <input id="login-user" name="username" autocomplete="username" required value={user} onInput={(e) => setUser(e.currentTarget.value)} autofocus />
        </label>
        <label class="field" for="login-password">
          <span>Password</span>
          <input id="login-password" name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        {error ? <p class="error" role="alert">{error}</p> : null}
        <button type="submit" class="primary" disabled={busy}>
          Log in
        </button>
      </form>
    </main>
  );
}

/** whoami's tags: a list in RabbitMQ 3.10, a comma-separated string in older versions. */
function tagList(me) {
  const t = me.tags || [];
  return Array.isArray(t) ? t : String(t).split(',').map((x) => x.trim());
}

function Shell({ me, onLogout }) {
  const route = useRoute();
  const [menu, setMenu] = useState(false);
  const [cluster, setCluster] = useState('');
  useEffect(() => {
    get('/cluster-name').then((c) => setCluster(c.name), () => {});
  }, []);
  useEffect(() => setMenu(false), [route.join('/')]);
  return (
    <div class="shell">
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <button type="button" class="menu-toggle" aria-expanded={menu} aria-controls="nav" onClick={() => setMenu(!menu)}>
          Menu
        </button>
        <span class="brand">Warren</span>
        <span class="cluster" title="Cluster name">{cluster}</span>
        <span class="who">
          {me.name} <small>{tagList(me).join(', ')}</small>
        </span>
        <button type="button" onClick={onLogout}>
          Log out
        </button>
      </header>
      <nav id="nav" class={menu ? 'side open' : 'side'} aria-label="Pages">
        <ul>
          {NAV.filter(([, , may]) => !may || may(tagList(me))).map(([key, label]) => (
            <li>
              <a href={`#/${key}`} aria-current={route[0] === key ? 'page' : undefined}>
                {label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        {page(route, me)}
      </main>
    </div>
  );
}

function App() {
  const [me, setMe] = useState(null);
  const [checking, setChecking] = useState(!!credentials());
  const [reason, setReason] = useState(null);
  useEffect(() => {
    setUnauthorisedHandler(() => {
      forget();
      setMe(null);
      setReason('Your login is no longer valid; log in again.');
    });
    if (credentials()) {
      get('/whoami')
        .then(setMe, () => forget())
        .finally(() => setChecking(false));
    }
  }, []);
  if (checking) return <p class="loading">Loading…</p>;
  if (!me) return <Login onLogin={setMe} reason={reason} />;
  const logout = () => {
    forget();
    setMe(null);
    setReason(null);
  };
  return <Shell me={me} onLogout={logout} />;
}

render(<App />, document.getElementById('app'));
