import { useEffect, useMemo, useRef, useState } from 'react';
import { useClient, useMutation, useQuery } from 'urql';
import { graphql } from '../gql';
import type { ConsoleOperationQuery, ConsoleOperationEventsSubscription } from '../gql/graphql';
import { useReconnect } from '../hooks';
import { Link } from '../router';
import { errorText } from '../errors';
import { Alert, Badge, ConfirmButton, Empty, Icon, Loading, PageHead, Progress, When, duration } from '../ui';

const OperationQuery = graphql(`
  query ConsoleOperation($id: ID!) {
    operation(id: $id) {
      id
      kind
      appId
      status
      progress
      error
      createdAt
      startedAt
      finishedAt
      steps { name status error attempts startedAt finishedAt durationMs }
      events { seq operationId at step status progress message terminal }
    }
  }
`);

const EventsSubscription = graphql(`
  subscription ConsoleOperationEvents($id: ID!, $afterSeq: Int) {
    operationEvents(id: $id, afterSeq: $afterSeq) {
      seq operationId at step status progress message terminal
      pull { image layer status current total }
    }
  }
`);

const CancelMutation = graphql(`
  mutation ConsoleCancelOperation($id: ID!) { cancelOperation(id: $id) { id status } }
`);

const OperationsQuery = graphql(`
  query ConsoleOperations($first: Int) {
    operations(first: $first) { id kind appId status progress createdAt finishedAt error }
  }
`);

type Op = NonNullable<ConsoleOperationQuery['operation']>;
type Step = Op['steps'][number];
type Ev = Op['events'][number] & { pull?: ConsoleOperationEventsSubscription['operationEvents']['pull'] };

const stepDone = new Set(['SUCCEEDED', 'FAILED', 'UNDONE', 'UNDO_FAILED', 'SKIPPED']);
const opDone = new Set(['SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'CANCELLED']);

// applyEvent moves a step or the operation to what an event says.
function applyEvent(op: Op, ev: Ev): Op {
  const next: Op = { ...op, progress: Math.max(op.progress, ev.progress) };
  if (ev.step) {
    let found = false;
    next.steps = op.steps.map((s): Step => {
      if (s.name !== ev.step) return s;
      found = true;
      const st = { ...s, status: ev.status as Step['status'] };
      if (ev.status === 'RUNNING' && !s.startedAt) st.startedAt = ev.at;
      if (stepDone.has(ev.status)) {
        st.finishedAt = ev.at;
        if (st.startedAt) st.durationMs = new Date(ev.at).getTime() - new Date(st.startedAt).getTime();
        if (ev.status === 'FAILED' && ev.message) st.error = ev.message;
      }
      return st;
    });
    if (!found) {
      next.steps = [...op.steps, { name: ev.step, status: ev.status as Step['status'], attempts: 1, startedAt: ev.at, error: null, finishedAt: null, durationMs: null }];
    }
  } else if (ev.status) {
    next.status = ev.status as Op['status'];
    if (ev.status === 'RUNNING' && !op.startedAt) next.startedAt = ev.at;
    if (ev.terminal) next.finishedAt = ev.at;
    if (ev.terminal && ev.message && ev.status !== 'SUCCEEDED') next.error = ev.message;
  }
  return next;
}

function human(name: string) {
  const s = name.replace(/[_-]+/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// useLiveOperation loads the operation with its stored events, then
// subscribes with afterSeq = the last seq it has: after a reload the view
// goes on from where the server's record is, with no event missed or
// shown twice (events are also kept unique by seq).
export function useLiveOperation(id: string) {
  const client = useClient();
  const [res, refetch] = useQuery({ query: OperationQuery, variables: { id }, requestPolicy: 'network-only' });
  const [op, setOp] = useState<Op | null>(null);
  const [events, setEvents] = useState<Ev[]>([]);
  const [live, setLive] = useState(false);
  const lastSeq = useRef(0);
  const [resubscribe, setResubscribe] = useState(0);

  useEffect(() => {
    const o = res.data?.operation;
    if (!o) return;
    setOp(o);
    setEvents((prev) => {
      const bySeq = new Map(prev.map((e) => [e.seq, e]));
      for (const e of o.events) bySeq.set(e.seq, e);
      const all = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
      lastSeq.current = all.length ? all[all.length - 1].seq : 0;
      return all;
    });
  }, [res.data]);

  const loaded = !!res.data?.operation;
  const finished = op ? opDone.has(op.status) : false;
  useEffect(() => {
    if (!loaded || finished) return;
    const sub = client
      .subscription(EventsSubscription, { id, afterSeq: lastSeq.current })
      .subscribe((r) => {
        if (r.error) {
          setLive(false);
          // The websocket client retries; a subscription refused by the
          // server is tried again shortly with the newest seq.
          setTimeout(() => setResubscribe((n) => n + 1), 2000);
          return;
        }
        const ev = r.data?.operationEvents as Ev | undefined;
        if (!ev) return;
        setLive(true);
        if (ev.seq <= lastSeq.current) return; // already shown
        lastSeq.current = ev.seq;
        setEvents((prev) => [...prev, ev]);
        setOp((o) => (o ? applyEvent(o, ev) : o));
        if (ev.terminal) {
          setLive(false);
          // The stored record has the final timings and errors.
          refetch({ requestPolicy: 'network-only' });
        }
      });
    return () => sub.unsubscribe();
  }, [client, id, loaded, finished, resubscribe, refetch]);

  useReconnect(() => refetch({ requestPolicy: 'network-only' }));
  return { res, op, events, live, finished };
}

export function OperationPage({ params }: { params: Record<string, string> }) {
  const { res, op, events, live, finished } = useLiveOperation(params.id);
  const [cancelRes, cancel] = useMutation(CancelMutation);
  const failed = useMemo(() => op?.steps.find((s) => s.status === 'FAILED' || s.status === 'UNDO_FAILED'), [op]);
  const pulls = useMemo(() => latestPulls(events), [events]);

  if (!op) {
    if (res.error) return <Alert>{errorText(res.error)}</Alert>;
    if (res.data && !res.data.operation) return <Empty>No operation {params.id}.</Empty>;
    return <Loading what="the operation" />;
  }
  const title = `${human(op.kind)} ${op.appId}`;
  return (
    <>
      <PageHead title={title} sub={<>
        <Badge status={op.status} /> <span className="muted">Operation {op.id} · started <When at={op.startedAt ?? op.createdAt} />
        {op.finishedAt && <> · took {duration(new Date(op.finishedAt).getTime() - new Date(op.startedAt ?? op.createdAt).getTime())}</>}</span>
      </>} actions={
        <>
          <Link to={`/apps/${encodeURIComponent(op.appId)}`} className="btn btn-default">Open app</Link>
          {!finished && (
            <ConfirmButton variant="danger" icon="x" title="Cancel the operation?" confirmLabel="Cancel operation"
              message="Steps that completed are undone." onConfirm={() => cancel({ id: op.id })}>Cancel</ConfirmButton>
          )}
        </>
      } />
      {cancelRes.error && <Alert>{errorText(cancelRes.error)}</Alert>}
      <section className="card op-card" aria-label="Progress">
        <div className="op-progress-head">
          <strong data-testid="op-progress">{op.progress} %</strong>
          <span className="muted small" aria-live="polite">
            {finished ? 'finished' : live ? <><span className="live-dot" aria-hidden="true" /> live</> : 'connecting…'}
          </span>
        </div>
        <Progress value={op.progress} label={`${title} progress`} />
        {(op.status === 'FAILED' || op.status === 'ROLLED_BACK' || op.status === 'CANCELLED') && (
          <Alert title={failed ? `Step “${human(failed.name)}” failed:` : op.status === 'CANCELLED' ? 'Cancelled.' : 'Failed:'}>
            <span data-testid="op-error">{failed?.error ?? op.error ?? ''}</span>
            {op.status === 'ROLLED_BACK' && ' Everything it changed was undone.'}
          </Alert>
        )}
      </section>
      <div className="two-col">
        <section className="card" aria-labelledby="steps-h">
          <h2 id="steps-h" className="card-h">Steps</h2>
          <ol className="steps">
            {op.steps.map((s) => (
              <li key={s.name} className={`step step-${s.status.toLowerCase()}`} data-step={s.name} data-step-status={s.status}>
                <StepIcon status={s.status} />
                <div className="step-main">
                  <div className="step-name" title={s.name}>{human(s.name)}</div>
                  {s.error && <div className="step-error">{s.error}</div>}
                  {s.status === 'RUNNING' && pulls.length > 0 ? <PullList pulls={pulls} /> : null}
                </div>
                <div className="step-meta">
                  <span className="small muted">{s.status.toLowerCase().replace('_', ' ')}{s.attempts > 1 ? ` · ${s.attempts} tries` : ''}</span>
                  <span className="small">{duration(s.durationMs)}</span>
                </div>
              </li>
            ))}
          </ol>
        </section>
        <section className="card" aria-labelledby="events-h">
          <h2 id="events-h" className="card-h">Events <span className="muted small">({events.length})</span></h2>
          <ol className="events" data-testid="events">
            {events.map((e) => (
              <li key={e.seq} data-seq={e.seq}>
                <span className="seq">#{e.seq}</span>
                <span className="ev-time">{new Date(e.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })}</span>
                <span className="ev-text">{e.step ? <strong>{human(e.step)}</strong> : <strong>Operation</strong>} {e.status.toLowerCase()}{e.message ? ` — ${e.message}` : ''}</span>
              </li>
            ))}
          </ol>
        </section>
      </div>
    </>
  );
}

function latestPulls(events: Ev[]) {
  const m = new Map<string, NonNullable<Ev['pull']>>();
  for (const e of events) if (e.pull) m.set(e.pull.image + '/' + (e.pull.layer ?? ''), e.pull);
  return [...m.values()].slice(-8);
}

function PullList({ pulls }: { pulls: NonNullable<Ev['pull']>[] }) {
  if (!pulls.length) return null;
  return (
    <ul className="pulls">
      {pulls.map((p) => (
        <li key={p.image + (p.layer ?? '')} className="small muted">
          {p.image}{p.layer ? ` ${p.layer}` : ''}: {p.status}{p.total ? ` ${Math.round(((p.current ?? 0) / p.total) * 100)} %` : ''}
        </li>
      ))}
    </ul>
  );
}

function StepIcon({ status }: { status: string }) {
  if (status === 'RUNNING' || status === 'UNDOING') return <span className="step-icon running"><span className="spinner" aria-hidden="true" /></span>;
  if (status === 'SUCCEEDED') return <span className="step-icon ok"><Icon name="check" size={14} /></span>;
  if (status === 'FAILED' || status === 'UNDO_FAILED') return <span className="step-icon bad"><Icon name="x" size={14} /></span>;
  if (status === 'UNDONE') return <span className="step-icon warn"><Icon name="restart" size={14} /></span>;
  return <span className="step-icon idle" aria-hidden="true" />;
}

export function OperationsPage() {
  const [res, refetch] = useQuery({ query: OperationsQuery, variables: { first: 100 } });
  useReconnect(() => refetch({ requestPolicy: 'network-only' }));
  const ops = res.data?.operations ?? [];
  return (
    <>
      <PageHead title="Operations" sub="The newest first." />
      {res.error && <Alert>{errorText(res.error)}</Alert>}
      {!res.data && res.fetching && <Loading what="operations" />}
      {res.data && ops.length === 0 && <Empty>No operation yet.</Empty>}
      {ops.length > 0 && (
        <div className="card table-wrap">
          <table className="table" aria-label="Operations">
            <thead><tr><th>Operation</th><th>App</th><th>Status</th><th className="hide-sm">Progress</th><th>Started</th></tr></thead>
            <tbody>
              {ops.map((o) => (
                <tr key={o.id}>
                  <td><Link to={`/operations/${o.id}`} className="strong">{human(o.kind)}</Link> <span className="muted small hide-sm">{o.id}</span></td>
                  <td><Link to={`/apps/${encodeURIComponent(o.appId)}`}>{o.appId}</Link></td>
                  <td><Badge status={o.status} /></td>
                  <td className="progress-cell hide-sm"><Progress value={o.progress} label={`${o.kind} ${o.appId} progress`} /></td>
                  <td><When at={o.createdAt} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
