import { useState } from 'react';
import { useQuery } from 'urql';
import { graphql } from '../gql';
import { useReconnect } from '../hooks';
import { Link } from '../router';
import { errorText } from '../errors';
import { Alert, Button, Empty, Loading, PageHead, When } from '../ui';

const AuditQuery = graphql(`
  query ConsoleAudit($first: Int, $after: String, $filter: AuditFilter) {
    auditLog(first: $first, after: $after, filter: $filter) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { id at keyName clientAddress source mutation appId arguments operationId errorCode outcome }
    }
  }
`);

export function AuditPage() {
  const [key, setKey] = useState('');
  const [mutation, setMutation] = useState('');
  const [appId, setAppId] = useState('');
  const [after, setAfter] = useState<string[]>([]);
  const filter = { key: key || null, mutation: mutation || null, appId: appId || null };
  const [res, refetch] = useQuery({ query: AuditQuery, variables: { first: 50, after: after[after.length - 1] ?? null, filter } });
  useReconnect(() => refetch({ requestPolicy: 'network-only' }));
  const log = res.data?.auditLog;
  const reset = <T,>(f: (v: T) => void) => (v: T) => { setAfter([]); f(v); };
  return (
    <>
      <PageHead title="Audit log" sub={log ? `${log.totalCount} entries, newest first` : undefined}
        actions={<Button icon="refresh" onClick={() => refetch({ requestPolicy: 'network-only' })}>Refresh</Button>} />
      <div className="toolbar" role="search">
        <label className="visually-hidden" htmlFor="audit-key">API key</label>
        <input id="audit-key" placeholder="Key id or name" value={key} onChange={(e) => reset(setKey)(e.target.value)} />
        <label className="visually-hidden" htmlFor="audit-mutation">Mutation</label>
        <input id="audit-mutation" placeholder="Mutation, e.g. installApp" value={mutation} onChange={(e) => reset(setMutation)(e.target.value)} />
        <label className="visually-hidden" htmlFor="audit-app">App id</label>
        <input id="audit-app" placeholder="App id" value={appId} onChange={(e) => reset(setAppId)(e.target.value)} />
      </div>
      {res.error && <Alert>{errorText(res.error)}</Alert>}
      {!log && res.fetching && <Loading what="the audit log" />}
      {log && log.nodes.length === 0 && <Empty>No entry.</Empty>}
      {log && log.nodes.length > 0 && (
        <div className="card table-wrap">
          <table className="table" aria-label="Audit log">
            <thead><tr><th>When</th><th>Mutation</th><th>App</th><th>Key</th><th>Outcome</th><th className="hide-sm">Arguments</th></tr></thead>
            <tbody>
              {log.nodes.map((e) => (
                <tr key={e.id}>
                  <td><When at={e.at} /></td>
                  <td><code>{e.mutation}</code>{e.source !== 'api' && <div className="muted small">{e.source}</div>}</td>
                  <td>{e.appId ? <Link to={`/apps/${encodeURIComponent(e.appId)}`}>{e.appId}</Link> : '—'}</td>
                  <td>{e.keyName ?? '—'}<div className="muted small">{e.clientAddress}</div></td>
                  <td>{e.operationId ? <Link to={`/operations/${e.operationId}`} title={e.operationId}><span className="ok-text">OK</span> · operation {e.operationId.slice(0, 8)}</Link> : <span className={e.errorCode ? 'bad-text' : 'ok-text'}>{e.outcome}</span>}</td>
                  <td className="hide-sm"><code className="args">{JSON.stringify(e.arguments)}</code></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {log && (
        <div className="pager">
          <Button disabled={after.length === 0} onClick={() => setAfter(after.slice(0, -1))}>Newer</Button>
          <Button disabled={!log.pageInfo.hasNextPage} onClick={() => log.pageInfo.endCursor && setAfter([...after, log.pageInfo.endCursor])}>Older</Button>
        </div>
      )}
    </>
  );
}
