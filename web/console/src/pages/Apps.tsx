import { useEffect, useMemo, useState } from 'react';
import { useQuery } from 'urql';
import { graphql } from '../gql';
import type { AppStatus } from '../gql/graphql';
import { useReconnect } from '../hooks';
import { Link, navigate, useLocation } from '../router';
import { errorText } from '../errors';
import { Alert, Avatar, Badge, Button, Empty, Loading, PageHead, When } from '../ui';

const AppsQuery = graphql(`
  query ConsoleApps($filter: AppFilter) {
    apps(first: 1000, filter: $filter) {
      totalCount
      nodes {
        id
        appName
        status
        version
        domains
        defaultDomain
        endpointId
        official
        lastOperation { id kind status progress createdAt finishedAt }
      }
    }
  }
`);

const statuses: AppStatus[] = ['ACTIVE', 'INACTIVE', 'INSTALLING', 'UNINSTALLING', 'ERROR', 'UNKNOWN'];

export function AppsPage() {
  const { query } = useLocation();
  const status = query.get('status') as AppStatus | null;
  const [search, setSearch] = useState(query.get('q') ?? '');
  const filter = useMemo(() => (status ? { status: [status] } : null), [status]);
  const [res, refetch] = useQuery({ query: AppsQuery, variables: { filter } });
  const refresh = () => refetch({ requestPolicy: 'network-only' });
  useReconnect(refresh);

  const apps = res.data?.apps.nodes ?? [];
  const busy = apps.some((a) => a.status === 'INSTALLING' || a.status === 'UNINSTALLING');
  useEffect(() => {
    if (!busy) return;
    const t = setInterval(refresh, 3000);
    return () => clearInterval(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [busy]);

  const s = search.trim().toLowerCase();
  const shown = s
    ? apps.filter((a) => a.id.includes(s) || (a.appName ?? '').toLowerCase().includes(s) || a.domains.some((d) => d.includes(s)))
    : apps;

  const setStatus = (v: string) => {
    const q = new URLSearchParams(query);
    if (v) q.set('status', v); else q.delete('status');
    navigate('/apps' + (q.toString() ? '?' + q : ''), true);
  };

  return (
    <>
      <PageHead title="Apps" sub={res.data ? `${res.data.apps.totalCount} installed` : undefined} actions={
        <>
          <Button icon="refresh" onClick={refresh} busy={res.fetching && !!res.data} aria-label="Refresh the app list">Refresh</Button>
          <Link to="/catalog" className="btn btn-primary"><span aria-hidden="true">+</span> Install an app</Link>
        </>
      } />
      <div className="toolbar" role="search">
        <label className="visually-hidden" htmlFor="app-search">Search apps</label>
        <input id="app-search" type="search" placeholder="Search by id, app or domain" value={search} onChange={(e) => setSearch(e.target.value)} />
        <label className="visually-hidden" htmlFor="app-status">Status</label>
        <select id="app-status" value={status ?? ''} onChange={(e) => setStatus(e.target.value)}>
          <option value="">Every status</option>
          {statuses.map((st) => <option key={st} value={st}>{st.toLowerCase()}</option>)}
        </select>
      </div>
      {res.error && <Alert>{errorText(res.error)}</Alert>}
      {!res.data && res.fetching && <Loading what="apps" />}
      {res.data && shown.length === 0 && (
        <Empty>{apps.length === 0 ? <>No app is installed yet. <Link to="/catalog">Install one from the catalog.</Link></> : 'No app matches.'}</Empty>
      )}
      {shown.length > 0 && (
        <div className="card table-wrap">
          <table className="table" aria-label="Installed apps">
            <thead>
              <tr><th>App</th><th>Status</th><th>Domains</th><th>Version</th><th className="hide-sm">Endpoint</th><th className="hide-sm">Last operation</th></tr>
            </thead>
            <tbody>
              {shown.map((a) => (
                <tr key={a.id} data-app-row={a.id}>
                  <td>
                    <div className="app-cell">
                      <Avatar name={a.appName ?? a.id} />
                      <div>
                        <Link to={`/apps/${encodeURIComponent(a.id)}`} className="strong">{a.id}</Link>
                        <div className="muted small">{a.appName ?? 'unknown app'}{a.official ? '' : ' · unmanaged'}</div>
                      </div>
                    </div>
                  </td>
                  <td><Badge status={a.status} /></td>
                  <td className="domains">
                    {a.domains.length === 0 && <span className="muted">—</span>}
                    {a.domains.map((d) => (
                      <a key={d} href={`http://${d}`} target="_blank" rel="noreferrer noopener" className={d === a.defaultDomain ? 'domain default' : 'domain'}>{d}</a>
                    ))}
                  </td>
                  <td>{a.version ?? <span className="muted">—</span>}</td>
                  <td className="hide-sm">{a.endpointId ?? '—'}</td>
                  <td className="hide-sm">
                    {a.lastOperation ? (
                      <Link to={`/operations/${a.lastOperation.id}`} className="op-link">
                        <Badge status={a.lastOperation.status} label={a.lastOperation.kind} />
                        <When at={a.lastOperation.finishedAt ?? a.lastOperation.createdAt} />
                      </Link>
                    ) : <span className="muted">—</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
