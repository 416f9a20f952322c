import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { useMutation, useQuery, type AnyVariables, type TypedDocumentNode } from 'urql';
import { graphql } from '../gql';
import type { ConsoleAppQuery } from '../gql/graphql';
import { useReconnect } from '../hooks';
import { Link, navigate } from '../router';
import { errorText, splitErrors } from '../errors';
import { Alert, Badge, Button, ConfirmButton, Empty, Field, Icon, Loading, PageHead, Progress, When } from '../ui';
import { useLiveOperation } from './Operation';

const AppQuery = graphql(`
  query ConsoleApp($id: ID!) {
    app(id: $id) {
      id
      appName
      status
      version
      domains
      defaultDomain
      endpointId
      official
      createdAt
      env { name value }
      repository { htmlUrl defaultBranch }
      proxies { id domains forwardScheme forwardHost forwardPort enabled online certificate { niceName expiresOn } }
      containers { id name image state status service main ports { privatePort publicPort ip type } }
      stack { id status git { referenceName configHash autoUpdateInterval } }
      lastOperation { id kind status progress }
      updates
      drift { kind message repairable domains }
    }
    operations(appId: $id, first: 10) { id kind status progress createdAt finishedAt }
  }
`);

const HistoryQuery = graphql(`
  query ConsoleAppHistory($id: ID!) {
    app(id: $id) {
      id
      history(first: 30) { nodes { sha message author committedAt deployed files { path status } } }
    }
  }
`);

const DiffQuery = graphql(`
  query ConsoleAppDiff($id: ID!, $from: String!, $to: String!) { app(id: $id) { id diff(from: $from, to: $to) } }
`);

const Start = graphql(`mutation ConsoleStartApp($id: ID!) { startApp(id: $id) { id status } }`);
const Stop = graphql(`mutation ConsoleStopApp($id: ID!) { stopApp(id: $id) { id status } }`);
const Restart = graphql(`mutation ConsoleRestartApp($id: ID!) { restartApp(id: $id) { id status } }`);
const Redeploy = graphql(`mutation ConsoleRedeployApp($id: ID!, $pull: Boolean) { redeployApp(id: $id, pullImages: $pull) { id status } }`);
const Uninstall = graphql(`mutation ConsoleUninstallApp($id: ID!, $purge: Boolean) { uninstallApp(id: $id, purgeData: $purge) { id status } }`);
const Repair = graphql(`mutation ConsoleRepairApp($id: ID!) { repairApp(id: $id) { id status } }`);
const Upgrade = graphql(`mutation ConsoleUpgradeApp($id: ID!, $version: String!) { upgradeApp(id: $id, version: $version) { id status } }`);
const Rollback = graphql(`mutation ConsoleRollbackApp($id: ID!, $commit: String!) { rollbackApp(id: $id, commit: $commit) { id status } }`);
const AddDomains = graphql(`mutation ConsoleAddDomains($id: ID!, $domains: [String!]!) { addAppDomains(id: $id, domains: $domains) { id status } }`);
const UpdateProxy = graphql(`mutation ConsoleUpdateProxy($id: ID!, $proxyId: Int!, $domains: [String!]!) { updateAppProxy(id: $id, proxyId: $proxyId, domains: $domains) { id status } }`);
const DeleteProxy = graphql(`mutation ConsoleDeleteProxy($id: ID!, $proxyId: Int!) { deleteAppProxy(id: $id, proxyId: $proxyId) { id status } }`);
const EnableProxies = graphql(`mutation ConsoleEnableProxies($id: ID!) { enableAppProxies(id: $id) { id status } }`);
const DisableProxies = graphql(`mutation ConsoleDisableProxies($id: ID!) { disableAppProxies(id: $id) { id status } }`);
const SetDefault = graphql(`mutation ConsoleSetDefaultDomain($id: ID!, $domain: String!) { setDefaultDomain(id: $id, domain: $domain) { id status } }`);
const UpdateEnv = graphql(`mutation ConsoleUpdateEnv($id: ID!, $changes: [EnvVarInput!]!) { updateAppEnv(id: $id, changes: $changes) { id status } }`);

type AppT = NonNullable<ConsoleAppQuery['app']>;
type Started = { id: string; status: string };

// useAction runs a mutation that starts an operation and hands the
// operation to onStarted; its error is kept for the page to show.
function useAction<V extends AnyVariables>(doc: TypedDocumentNode<Record<string, Started | null | undefined>, V>, onStarted: (op: Started) => void) {
  const [res, run] = useMutation(doc);
  return {
    res,
    run: async (vars: V) => {
      const r = await run(vars);
      const op = r.data && Object.values(r.data)[0];
      if (op) onStarted(op);
      return r;
    },
  };
}

const tabs = ['Overview', 'Domains', 'Environment', 'History', 'Operations'] as const;
type Tab = (typeof tabs)[number];

export function AppDetailPage({ params }: { params: Record<string, string> }) {
  const id = params.id;
  const [res, refetch] = useQuery({ query: AppQuery, variables: { id } });
  const refresh = () => refetch({ requestPolicy: 'network-only' });
  useReconnect(refresh);
  const [tab, setTab] = useState<Tab>('Overview');
  const [activeOp, setActiveOp] = useState<string | null>(null);
  const [errors, setErrors] = useState<string | null>(null);
  // The last answer stays on screen while a refetch runs.
  const last = useRef<ConsoleAppQuery | undefined>(undefined);
  if (res.data) last.current = res.data;
  const data = res.data ?? last.current;
  const app = data?.app;

  // An operation started elsewhere and still running is followed too.
  const running = app?.lastOperation && !['SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'CANCELLED'].includes(app.lastOperation.status) ? app.lastOperation.id : null;
  useEffect(() => {
    if (running && !activeOp) setActiveOp(running);
  }, [running, activeOp]);

  const started = (op: Started) => { setErrors(null); setActiveOp(op.id); };
  const start = useAction(Start, started);
  const stop = useAction(Stop, started);
  const restart = useAction(Restart, started);
  const redeploy = useAction(Redeploy, started);
  const repair = useAction(Repair, started);
  const uninstall = useAction(Uninstall, (op) => navigate(`/operations/${op.id}`));
  const actionError = [start, stop, restart, redeploy, repair, uninstall].map((a) => errorText(a.res.error)).find(Boolean);

  if (!app) {
    if (res.error) return <Alert>{errorText(res.error)}</Alert>;
    if (data && !data.app) return <Empty>No app {id}. <Link to="/apps">Back to the apps</Link></Empty>;
    return <Loading what={id} />;
  }
  const busy = !!activeOp;
  const canStart = app.status === 'INACTIVE' || app.status === 'ERROR';
  const canStop = app.status === 'ACTIVE' || app.status === 'ERROR';
  return (
    <>
      <nav className="crumbs" aria-label="Breadcrumb"><Link to="/apps">Apps</Link> <span aria-hidden="true">/</span> <span>{app.id}</span></nav>
      <PageHead title={app.id} sub={<><Badge status={app.status} /> <span className="muted">{app.appName ?? 'unknown app'}{app.version ? ` ${app.version}` : ''} · endpoint {app.endpointId ?? '—'} · installed <When at={app.createdAt} /></span></>}
        actions={
          <div className="btn-group" role="group" aria-label="Lifecycle">
            {canStart && <Button icon="play" variant="primary" disabled={busy} busy={start.res.fetching} onClick={() => start.run({ id })}>Start</Button>}
            {canStop && (
              <ConfirmButton icon="stop" disabled={busy} title={`Stop ${app.id}?`} confirmLabel="Stop" message="Its containers stop; the domains answer 502 until it starts again."
                onConfirm={() => stop.run({ id })}>Stop</ConfirmButton>
            )}
            <ConfirmButton icon="restart" disabled={busy} title={`Restart ${app.id}?`} confirmLabel="Restart" message="Its containers stop, then start again."
              onConfirm={() => restart.run({ id })}>Restart</ConfirmButton>
            <Button icon="upload" disabled={busy} busy={redeploy.res.fetching} onClick={() => redeploy.run({ id, pull: true })}>Redeploy</Button>
            <UninstallButton app={app} disabled={busy} onConfirm={(purge) => uninstall.run({ id, purge })} />
          </div>
        } />
      {actionError && <Alert>{actionError}</Alert>}
      {errors && <Alert>{errors}</Alert>}
      {activeOp && <OperationStrip id={activeOp} onDone={() => { setActiveOp(null); refresh(); }} />}
      {app.drift.length > 0 && (
        <div className="alert alert-warn" role="status">
          <Icon name="alert" />
          <div>
            <strong>The app differs from its repository.</strong>
            <ul className="plain">{app.drift.map((d, i) => <li key={i}><code>{d.kind}</code> {d.message}</li>)}</ul>
            {app.drift.some((d) => d.repairable) && <Button icon="wrench" disabled={busy} busy={repair.res.fetching} onClick={() => repair.run({ id })}>Repair</Button>}
          </div>
        </div>
      )}
      <div className="tabs" role="tablist" aria-label="App sections">
        {tabs.map((t) => (
          <button key={t} type="button" role="tab" id={`tab-${t}`} aria-selected={tab === t} aria-controls={`panel-${t}`} className={`tab ${tab === t ? 'current' : ''}`}
            onClick={() => setTab(t)}>{t}</button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'Overview' && <Overview app={app} busy={busy} onStarted={started} />}
        {tab === 'Domains' && <Domains app={app} busy={busy} onStarted={started} />}
        {tab === 'Environment' && <Environment app={app} busy={busy} onStarted={started} />}
        {tab === 'History' && <History app={app} busy={busy} onStarted={started} />}
        {tab === 'Operations' && <Operations ops={data?.operations ?? []} />}
      </div>
    </>
  );
}

function UninstallButton({ app, disabled, onConfirm }: { app: AppT; disabled: boolean; onConfirm: (purge: boolean) => Promise<unknown> }) {
  const [purge, setPurge] = useState(false);
  return (
    <ConfirmButton icon="trash" variant="danger" disabled={disabled} title={`Uninstall ${app.id}?`} confirmLabel="Uninstall"
      message={<>
        <p>The repository, the proxies and the stack are deleted.</p>
        <label className="check"><input type="checkbox" checked={purge} onChange={(e) => setPurge(e.target.checked)} /> Also delete its data volumes</label>
      </>} onConfirm={() => onConfirm(purge)}>Uninstall</ConfirmButton>
  );
}

function OperationStrip({ id, onDone }: { id: string; onDone: () => void }) {
  const { op, finished } = useLiveOperation(id);
  useEffect(() => {
    if (finished) {
      const t = setTimeout(onDone, 600);
      return () => clearTimeout(t);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [finished]);
  if (!op) return null;
  const running = op.steps.find((s) => s.status === 'RUNNING');
  return (
    <section className="card op-strip" aria-label="Running operation" data-testid="op-strip">
      <div className="op-progress-head">
        <span><strong>{op.kind}</strong> <Badge status={op.status} /> {running && <span className="muted small">{running.name}</span>}</span>
        <Link to={`/operations/${op.id}`} className="small">Details</Link>
      </div>
      <Progress value={op.progress} label={`${op.kind} progress`} />
      {op.error && <p className="field-error">{op.error}</p>}
    </section>
  );
}

type TabProps = { app: AppT; busy: boolean; onStarted: (op: Started) => void };

function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="card">
      <div className="card-head"><h2 className="card-h">{title}</h2>{actions}</div>
      {children}
    </section>
  );
}

function Overview({ app, busy, onStarted }: TabProps) {
  const upgrade = useAction(Upgrade, onStarted);
  const [version, setVersion] = useState(app.updates[0] ?? '');
  return (
    <div className="stack-gap">
      <div className="two-col">
        <Section title="Summary">
          <dl className="kv">
            <dt>Domains</dt>
            <dd>{app.domains.length ? app.domains.map((d) => <a key={d} className={d === app.defaultDomain ? 'domain default' : 'domain'} href={`http://${d}`} target="_blank" rel="noreferrer noopener">{d}</a>) : '—'}</dd>
            <dt>Repository</dt>
            <dd>{app.repository ? <a href={app.repository.htmlUrl} target="_blank" rel="noreferrer noopener"><Icon name="git" size={14} /> Modify in Gitea</a> : '—'}</dd>
            <dt>Branch</dt><dd>{app.stack?.git?.referenceName ?? app.repository?.defaultBranch ?? '—'}</dd>
            <dt>Deployed commit</dt><dd><code>{app.stack?.git?.configHash?.slice(0, 10) ?? '—'}</code></dd>
            <dt>Stack</dt><dd>{app.stack ? `#${app.stack.id} (${app.stack.status === 1 ? 'active' : 'inactive'})` : '—'}</dd>
          </dl>
        </Section>
        <Section title="Upgrade">
          {app.updates.length === 0 ? <p className="muted">{app.version ?? 'This version'} is the newest the repository and the library list.</p> : (
            <form className="inline-form" onSubmit={(e) => { e.preventDefault(); upgrade.run({ id: app.id, version }); }}>
              <Field label="Version" htmlFor="upgrade-version" error={splitErrors(upgrade.res.error).fields.version}>
                <select id="upgrade-version" value={version} onChange={(e) => setVersion(e.target.value)}>
                  {app.updates.map((v) => <option key={v} value={v}>{v}</option>)}
                </select>
              </Field>
              <Button type="submit" variant="primary" disabled={busy} busy={upgrade.res.fetching}>Upgrade from {app.version}</Button>
            </form>
          )}
          {upgrade.res.error && !splitErrors(upgrade.res.error).fields.version && <Alert>{errorText(upgrade.res.error)}</Alert>}
        </Section>
      </div>
      <Section title="Containers">
        {app.containers.length === 0 ? <p className="muted">No container runs.</p> : (
          <div className="table-wrap">
            <table className="table" aria-label="Containers">
              <thead><tr><th>Name</th><th>Image</th><th>State</th><th>Ports</th></tr></thead>
              <tbody>
                {app.containers.map((c) => (
                  <tr key={c.id}>
                    <td><span className="strong">{c.name}</span>{c.main && <span className="tag tag-soft">main</span>}<div className="muted small">{c.service}</div></td>
                    <td><code>{c.image}</code></td>
                    <td><Badge status={c.state === 'running' ? 'ACTIVE' : c.state === 'exited' ? 'INACTIVE' : 'UNKNOWN'} label={c.state} /><div className="muted small">{c.status}</div></td>
                    <td>{c.ports.length ? c.ports.map((p, i) => <div key={i} className="small"><code>{p.publicPort ? `${p.ip && p.ip !== '0.0.0.0' ? p.ip + ':' : ''}${p.publicPort} → ` : ''}{p.privatePort}/{p.type}</code></div>) : <span className="muted">—</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </div>
  );
}

function Domains({ app, busy, onStarted }: TabProps) {
  const add = useAction(AddDomains, onStarted);
  const update = useAction(UpdateProxy, onStarted);
  const del = useAction(DeleteProxy, onStarted);
  const enable = useAction(EnableProxies, onStarted);
  const disable = useAction(DisableProxies, onStarted);
  const setDefault = useAction(SetDefault, onStarted);
  const [text, setText] = useState('');
  const addErr = splitErrors(add.res.error);
  const other = [update, del, enable, disable, setDefault].map((a) => errorText(a.res.error)).find(Boolean);
  const anyEnabled = app.proxies.some((p) => p.enabled);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const domains = text.split(/[\s,]+/).filter(Boolean);
    if (!domains.length) return;
    const r = await add.run({ id: app.id, domains });
    if (!r.error) setText('');
  };
  return (
    <div className="stack-gap">
      {other && <Alert>{other}</Alert>}
      <Section title="Add domains">
        <form className="inline-form" onSubmit={submit}>
          <Field label="Domains" htmlFor="add-domains" name="domains" error={addErr.fields.domains ?? addErr.general.join(' ') ?? undefined}>
            <input id="add-domains" value={text} onChange={(e) => setText(e.target.value)} placeholder="www.example.com" autoComplete="off" spellCheck={false} />
          </Field>
          <Button type="submit" icon="plus" variant="primary" disabled={busy || !text.trim()} busy={add.res.fetching}>Add</Button>
        </form>
      </Section>
      <Section title="Proxies" actions={app.proxies.length > 0 && (
        anyEnabled
          ? <ConfirmButton disabled={busy} title="Disable every proxy?" confirmLabel="Disable" message="The domains stop answering until the proxies are enabled again." onConfirm={() => disable.run({ id: app.id })}>Disable all</ConfirmButton>
          : <Button disabled={busy} onClick={() => enable.run({ id: app.id })}>Enable all</Button>
      )}>
        {app.proxies.length === 0 ? <p className="muted">No proxy host: the app has no domain.</p> : (
          <ul className="proxies">
            {app.proxies.map((p) => (
              <li key={p.id} className="proxy" data-proxy={p.id}>
                <div className="proxy-head">
                  <span className="strong">Proxy #{p.id}</span>
                  <Badge status={!p.enabled ? 'INACTIVE' : p.online === false ? 'ERROR' : 'ACTIVE'} label={!p.enabled ? 'disabled' : p.online === false ? 'offline' : 'enabled'} />
                  <span className="muted small">→ {p.forwardScheme}://{p.forwardHost}:{p.forwardPort}</span>
                  {p.certificate && <span className="tag tag-soft">TLS {p.certificate.niceName}</span>}
                </div>
                <ul className="domain-list">
                  {p.domains.map((d) => (
                    <li key={d}>
                      <a href={`http://${d}`} target="_blank" rel="noreferrer noopener" className="domain">{d}</a>
                      {d === app.defaultDomain ? <span className="tag">default</span> : (
                        <Button variant="ghost" disabled={busy} onClick={() => setDefault.run({ id: app.id, domain: d })}>Make default</Button>
                      )}
                      <ConfirmButton variant="ghost" icon="trash" disabled={busy} aria-label={`Remove ${d}`} title={`Remove ${d}?`} confirmLabel="Remove"
                        message={p.domains.length === 1 ? 'It is the proxy’s only domain: the proxy host is deleted.' : 'The proxy stops answering for it.'}
                        onConfirm={() => (p.domains.length === 1 ? del.run({ id: app.id, proxyId: p.id }) : update.run({ id: app.id, proxyId: p.id, domains: p.domains.filter((x) => x !== d) }))}>
                        Remove
                      </ConfirmButton>
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ul>
        )}
      </Section>
    </div>
  );
}

const secretish = /PASS|SECRET|TOKEN|KEY/i;

function Environment({ app, busy, onStarted }: TabProps) {
  const [reveal, setReveal] = useState(false);
  const update = useAction(UpdateEnv, onStarted);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const errs = splitErrors(update.res.error);
  return (
    <div className="stack-gap">
      <Section title="Change a setting">
        <form className="inline-form" onSubmit={(e) => { e.preventDefault(); update.run({ id: app.id, changes: [{ name, value }] }); }}>
          <Field label="Name" htmlFor="env-name" error={errs.fields.changes}>
            <input id="env-name" value={name} onChange={(e) => setName(e.target.value)} list="env-names" autoComplete="off" spellCheck={false} />
            <datalist id="env-names">{app.env.map((v) => <option key={v.name} value={v.name} />)}</datalist>
          </Field>
          <Field label="Value" htmlFor="env-value">
            <input id="env-value" value={value} onChange={(e) => setValue(e.target.value)} autoComplete="off" spellCheck={false} />
          </Field>
          <Button type="submit" variant="primary" disabled={busy || !name} busy={update.res.fetching}>Commit and redeploy</Button>
        </form>
        {errs.general.length > 0 && <Alert>{errs.general.join(' ')}</Alert>}
      </Section>
      <Section title="Environment" actions={<label className="check"><input type="checkbox" checked={reveal} onChange={(e) => setReveal(e.target.checked)} /> Show secret values</label>}>
        <div className="table-wrap">
          <table className="table env" aria-label="Environment">
            <tbody>
              {app.env.map((v) => (
                <tr key={v.name}><th scope="row"><code>{v.name}</code></th><td><code>{!reveal && secretish.test(v.name) && v.value ? '••••••••' : v.value}</code></td></tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
    </div>
  );
}

function History({ app, busy, onStarted }: TabProps) {
  const [res] = useQuery({ query: HistoryQuery, variables: { id: app.id } });
  const rollback = useAction(Rollback, onStarted);
  const [diff, setDiff] = useState<{ from: string; to: string } | null>(null);
  const commits = res.data?.app?.history?.nodes ?? [];
  if (res.fetching && !res.data) return <Loading what="the history" />;
  if (res.error) return <Alert>{errorText(res.error)}</Alert>;
  if (!res.data?.app?.history) return <Empty>The app is not deployed from a repository of appmanage’s Gitea.</Empty>;
  return (
    <div className="stack-gap">
      {rollback.res.error && <Alert>{errorText(rollback.res.error)}</Alert>}
      <Section title="Commits">
        <ol className="commits">
          {commits.map((c, i) => (
            <li key={c.sha} className="commit">
              <div className="commit-main">
                <div className="strong">{c.message.split('\n')[0]}</div>
                <div className="muted small"><code>{c.sha.slice(0, 10)}</code> · {c.author ?? 'unknown'} · <When at={c.committedAt} /> · {c.files.length} file{c.files.length === 1 ? '' : 's'}</div>
              </div>
              <div className="commit-actions">
                {c.deployed && <Badge status="ACTIVE" label="deployed" />}
                {i < commits.length - 1 && <Button variant="ghost" onClick={() => setDiff({ from: commits[i + 1].sha, to: c.sha })}>Diff</Button>}
                {i > 0 && (
                  <ConfirmButton variant="ghost" disabled={busy} title="Roll back to this commit?" confirmLabel="Roll back"
                    message={<>A new commit makes the material equal to <code>{c.sha.slice(0, 10)}</code>, then the app is redeployed.</>}
                    onConfirm={() => rollback.run({ id: app.id, commit: c.sha })}>Roll back</ConfirmButton>
                )}
              </div>
            </li>
          ))}
        </ol>
      </Section>
      {diff && <DiffView id={app.id} from={diff.from} to={diff.to} onClose={() => setDiff(null)} />}
    </div>
  );
}

function DiffView({ id, from, to, onClose }: { id: string; from: string; to: string; onClose: () => void }) {
  const [res] = useQuery({ query: DiffQuery, variables: { id, from, to } });
  const text = res.data?.app?.diff ?? '';
  return (
    <Section title={`Diff ${from.slice(0, 7)}…${to.slice(0, 7)}`} actions={<Button variant="ghost" icon="x" onClick={onClose}>Close</Button>}>
      {res.fetching && <Loading what="the diff" />}
      {res.error && <Alert>{errorText(res.error)}</Alert>}
      {res.data && (text ? (
        <pre className="diff">{text.split('\n').map((l, i) => (
          <span key={i} className={l.startsWith('+') && !l.startsWith('+++') ? 'add' : l.startsWith('-') && !l.startsWith('---') ? 'del' : l.startsWith('@@') ? 'hunk' : ''}>{l + '\n'}</span>
        ))}</pre>
      ) : <p className="muted">No difference.</p>)}
    </Section>
  );
}

function Operations({ ops }: { ops: NonNullable<ConsoleAppQuery['operations']> }) {
  if (!ops.length) return <Empty>No operation yet.</Empty>;
  return (
    <section className="card table-wrap">
      <table className="table" aria-label="Operations of the app">
        <thead><tr><th>Operation</th><th>Status</th><th>Progress</th><th>Started</th></tr></thead>
        <tbody>
          {ops.map((o) => (
            <tr key={o.id}>
              <td><Link to={`/operations/${o.id}`}>{o.kind}</Link></td>
              <td><Badge status={o.status} /></td>
              <td className="progress-cell"><Progress value={o.progress} label={`${o.kind} progress`} /></td>
              <td><When at={o.createdAt} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
