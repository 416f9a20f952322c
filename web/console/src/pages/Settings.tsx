import { useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { graphql } from '../gql';
import type { ConsoleSettingsQuery } from '../gql/graphql';
import { useReconnect } from '../hooks';
import { errorText, splitErrors } from '../errors';
import { Alert, Badge, Button, Field, Loading, PageHead, When } from '../ui';

const SettingsQuery = graphql(`
  query ConsoleSettings {
    settings { key value secret description updatedAt }
    health { status sandbox version upstreams { name url sandbox up version latencyMs error } }
  }
`);

const UpdateSettings = graphql(`
  mutation ConsoleUpdateSettings($input: [SettingInput!]!) { updateSettings(input: $input) { key value secret updatedAt } }
`);

const TestUpstream = graphql(`
  mutation ConsoleTestUpstream($name: String!) { testUpstream(name: $name) { upstream ok version checks code message } }
`);

type Setting = ConsoleSettingsQuery['settings'][number];

export function SettingsPage() {
  const [res, refetch] = useQuery({ query: SettingsQuery });
  useReconnect(() => refetch({ requestPolicy: 'network-only' }));
  if (res.error && !res.data) return <Alert>{errorText(res.error)}</Alert>;
  if (!res.data) return <Loading what="settings" />;
  const groups = new Map<string, Setting[]>();
  for (const s of res.data.settings) {
    const g = s.key.includes('.') ? s.key.split('.')[0] : 'general';
    groups.set(g, [...(groups.get(g) ?? []), s]);
  }
  return (
    <>
      <PageHead title="Settings" sub={<>Server {res.data.health.version}{res.data.health.sandbox ? ' · sandbox mode' : ''} · <Badge status={res.data.health.status} /></>} />
      <section className="card">
        <h2 className="card-h">Connections</h2>
        <div className="upstreams">
          {res.data.health.upstreams.map((u) => <UpstreamCard key={u.name} u={u} />)}
        </div>
      </section>
      {[...groups].map(([g, list]) => (
        <section className="card" key={g}>
          <h2 className="card-h">{g === 'general' ? 'General' : g}</h2>
          <div className="settings-list">{list.map((s) => <SettingRow key={s.key} s={s} />)}</div>
        </section>
      ))}
    </>
  );
}

function UpstreamCard({ u }: { u: ConsoleSettingsQuery['health']['upstreams'][number] }) {
  const [res, test] = useMutation(TestUpstream);
  const r = res.data?.testUpstream;
  return (
    <div className="upstream" data-upstream={u.name}>
      <div className="proxy-head">
        <span className="strong">{u.name}</span>
        <Badge status={u.up ? 'UP' : 'DOWN'} label={u.up ? 'up' : 'down'} />
        {u.sandbox && <span className="tag tag-soft">sandbox</span>}
      </div>
      <div className="muted small">{u.url ?? ''}{u.version ? ` · ${u.version}` : ''}{u.latencyMs != null ? ` · ${u.latencyMs} ms` : ''}</div>
      {u.error && <p className="field-error">{u.error}</p>}
      <Button onClick={() => test({ name: u.name })} busy={res.fetching}>Test connection</Button>
      {res.error && <Alert>{errorText(res.error)}</Alert>}
      {r && (
        <Alert kind={r.ok ? 'ok' : 'error'} title={r.ok ? 'Connection works.' : `${r.code ?? 'Failed'}:`}>
          {r.message ?? ''}
          {r.checks.length > 0 && <ul className="plain small">{r.checks.map((c) => <li key={c}>{c}</li>)}</ul>}
        </Alert>
      )}
    </div>
  );
}

// Secrets are write-only: the field starts empty and the server never
// sends their value back.
function SettingRow({ s }: { s: Setting }) {
  const [value, setValue] = useState(s.secret ? '' : s.value ?? '');
  const [res, save] = useMutation(UpdateSettings);
  const [saved, setSaved] = useState(false);
  const id = 'setting-' + s.key.replace(/[^a-zA-Z0-9]/g, '-');
  const err = splitErrors(res.error);
  const dirty = s.secret ? value !== '' : value !== (s.value ?? '');
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    const r = await save({ input: [{ key: s.key, value }] });
    if (!r.error) {
      setSaved(true);
      if (s.secret) setValue('');
    }
  };
  return (
    <form className="setting" onSubmit={submit}>
      <Field label={s.key} htmlFor={id} error={err.fields.value ?? err.fields.input ?? (err.general.length ? err.general.join(' ') : undefined)}
        hint={<>{s.description}{s.updatedAt && <> · changed <When at={s.updatedAt} /></>}</>}>
        <div className="input-row">
          <input id={id} type={s.secret ? 'password' : 'text'} value={value} autoComplete={s.secret ? 'new-password' : 'off'}
            placeholder={s.secret ? 'Write-only: type a new value to replace it' : ''} onChange={(e) => { setValue(e.target.value); setSaved(false); }} spellCheck={false} />
          <Button type="submit" disabled={!dirty} busy={res.fetching}>Save</Button>
        </div>
      </Field>
      {saved && <span className="saved small" role="status">Saved</span>}
    </form>
  );
}
