import { useEffect, useMemo, useState, type ComponentType } from 'react';
import { Provider } from 'urql';
import { makeClient } from './client';
import { useConnection } from './connection';
import { getKey, setKey } from './session';
import { Link, match, navigate, useLocation } from './router';
import { Button, Icon } from './ui';
import { Login } from './pages/Login';
import { AppsPage } from './pages/Apps';
import { AppDetailPage } from './pages/AppDetail';
import { CatalogPage } from './pages/Catalog';
import { OperationPage, OperationsPage } from './pages/Operation';
import { SettingsPage } from './pages/Settings';
import { KeysPage } from './pages/Keys';
import { AuditPage } from './pages/Audit';

type Route = { path: string; component: ComponentType<{ params: Record<string, string> }> };

// The pages: a new one is a component and a line here (plus one in nav
// when it belongs in the sidebar).
const routes: Route[] = [
  { path: '/apps', component: AppsPage },
  { path: '/apps/:id', component: AppDetailPage },
  { path: '/catalog', component: CatalogPage },
  { path: '/operations', component: OperationsPage },
  { path: '/operations/:id', component: OperationPage },
  { path: '/settings', component: SettingsPage },
  { path: '/keys', component: KeysPage },
  { path: '/audit', component: AuditPage },
];

const nav = [
  { to: '/apps', label: 'Apps', icon: 'apps' },
  { to: '/catalog', label: 'Catalog', icon: 'catalog' },
  { to: '/operations', label: 'Operations', icon: 'activity' },
  { to: '/settings', label: 'Settings', icon: 'settings' },
  { to: '/keys', label: 'API keys', icon: 'key' },
  { to: '/audit', label: 'Audit log', icon: 'audit' },
];

export function App() {
  const [key, setApiKey] = useState<string | null>(getKey);
  const signOut = () => {
    setKey(null);
    setApiKey(null);
  };
  const clients = useMemo(() => (key ? makeClient(key, signOut) : null), [key]);
  useEffect(() => () => { clients?.ws.dispose(); }, [clients]);

  if (!key || !clients) {
    return <Login onSignedIn={(k) => { setKey(k); setApiKey(k); }} />;
  }
  return (
    <Provider value={clients.client}>
      <Shell onSignOut={signOut} />
    </Provider>
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const { path } = useLocation();
  const [menu, setMenu] = useState(false);
  useEffect(() => {
    if (path === '/' || path === '') navigate('/apps', true);
  }, [path]);
  useEffect(() => setMenu(false), [path]);

  let page = null;
  for (const r of routes) {
    const params = match(r.path, path);
    if (params) {
      const C = r.component;
      page = <C key={r.path + JSON.stringify(params)} params={params} />;
      break;
    }
  }
  return (
    <div className={`shell ${menu ? 'menu-open' : ''}`}>
      <a className="skip" href="#main">Skip to content</a>
      <aside className="sidebar">
        <div className="brand">
          <span className="logo" aria-hidden="true"><Icon name="server" size={18} /></span>
          <span>appmanage</span>
          <button type="button" className="icon-btn menu-btn" aria-label="Menu" aria-expanded={menu} onClick={() => setMenu(!menu)}>
            <Icon name="menu" />
          </button>
        </div>
        <nav aria-label="Main">
          {nav.map((n) => {
            const current = path === n.to || path.startsWith(n.to + '/');
            return (
              <Link key={n.to} to={n.to} className={`nav-item ${current ? 'current' : ''}`} aria-current={current ? 'page' : undefined}>
                <Icon name={n.icon} /> {n.label}
              </Link>
            );
          })}
        </nav>
        <div className="sidebar-foot">
          <a className="nav-item" href="/graphiql"><Icon name="link" /> GraphiQL</a>
          <Button variant="ghost" icon="logout" onClick={onSignOut}>Sign out</Button>
        </div>
      </aside>
      <div className="content">
        <ConnectionBanner />
        <main id="main" tabIndex={-1}>
          {page ?? <NotFound />}
        </main>
      </div>
    </div>
  );
}

function ConnectionBanner() {
  const { online } = useConnection();
  if (online) return null;
  return (
    <div className="banner" role="alert" data-testid="offline-banner">
      <Icon name="alert" />
      <span>The server cannot be reached. Retrying — the page will catch up when it answers.</span>
    </div>
  );
}

function NotFound() {
  return (
    <div className="empty">
      <h1>Page not found</h1>
      <p><Link to="/apps">Back to the apps</Link></p>
    </div>
  );
}
