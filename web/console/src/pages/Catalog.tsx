import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { graphql } from '../gql';
import type { ConsoleCatalogQuery } from '../gql/graphql';
import { useReconnect } from '../hooks';
import { navigate, useLocation } from '../router';
import { errorText, splitErrors } from '../errors';
import { Alert, Avatar, Button, Dialog, Empty, Field, Loading, PageHead } from '../ui';

const CatalogQuery = graphql(`
  query ConsoleCatalog($search: String, $category: String) {
    catalog(search: $search, category: $category) {
      name
      trademark
      summary
      categories
      defaultVersion
      versions
      web
      requirements { cpu memory disk }
      settings { key default port }
    }
    catalogCategories
  }
`);

const EndpointsQuery = graphql(`
  query ConsoleEndpoints { endpoints { id name status } }
`);

const InstallMutation = graphql(`
  mutation ConsoleInstall($input: InstallAppInput!) {
    installApp(input: $input) { id appId kind status progress }
  }
`);

type CatalogApp = ConsoleCatalogQuery['catalog'][number];

export function CatalogPage() {
  const { query } = useLocation();
  const [search, setSearch] = useState(query.get('q') ?? '');
  const [category, setCategory] = useState(query.get('category') ?? '');
  const [res, refetch] = useQuery({ query: CatalogQuery, variables: { search: search.trim() || null, category: category || null } });
  useReconnect(() => refetch({ requestPolicy: 'network-only' }));
  const [installing, setInstalling] = useState<CatalogApp | null>(null);
  const apps = res.data?.catalog ?? [];

  return (
    <>
      <PageHead title="Catalog" sub={res.data ? `${apps.length} apps` : undefined} />
      <div className="toolbar" role="search">
        <label className="visually-hidden" htmlFor="catalog-search">Search the catalog</label>
        <input id="catalog-search" type="search" placeholder="Search apps" value={search} onChange={(e) => setSearch(e.target.value)} />
        <label className="visually-hidden" htmlFor="catalog-category">Category</label>
        <select id="catalog-category" value={category} onChange={(e) => setCategory(e.target.value)}>
          <option value="">Every category</option>
          {(res.data?.catalogCategories ?? []).map((c) => <option key={c} value={c}>{c}</option>)}
        </select>
      </div>
      {res.error && <Alert>{errorText(res.error)}</Alert>}
      {!res.data && res.fetching && <Loading what="the catalog" />}
      {res.data && apps.length === 0 && <Empty>No app matches.</Empty>}
      <ul className="grid" aria-label="Catalog apps">
        {apps.map((a) => (
          <li key={a.name} className="card catalog-card" data-catalog-app={a.name}>
            <div className="catalog-top">
              <Avatar name={a.name} />
              <div>
                <h2 className="card-title">{a.trademark || a.name}</h2>
                <div className="muted small">{a.name}{a.defaultVersion ? ` · ${a.defaultVersion}` : ''}</div>
              </div>
            </div>
            <p className="summary">{a.summary ?? ''}</p>
            <div className="tags">
              {a.categories.slice(0, 3).map((c) => <span key={c} className="tag">{c}</span>)}
              {a.versions.length > 1 && <span className="tag tag-soft">{a.versions.length} versions</span>}
            </div>
            <div className="catalog-foot">
              <span className="muted small">{[a.requirements?.cpu && `${a.requirements.cpu} CPU`, a.requirements?.memory && `${a.requirements.memory} RAM`].filter(Boolean).join(' · ')}</span>
              <Button variant="primary" onClick={() => setInstalling(a)} aria-label={`Install ${a.name}`}>Install</Button>
            </div>
          </li>
        ))}
      </ul>
      {installing && <InstallDialog app={installing} onClose={() => setInstalling(null)} />}
    </>
  );
}

function suggestId(name: string): string {
  const base = name.toLowerCase().replace(/[^a-z0-9]/g, '').replace(/^[^a-z]+/, '') || 'app';
  return base.slice(0, 16);
}

export function InstallDialog({ app, onClose }: { app: CatalogApp; onClose: () => void }) {
  const [appId, setAppId] = useState(suggestId(app.name));
  const [domainsText, setDomainsText] = useState('');
  const [defaultDomain, setDefaultDomain] = useState('');
  const [version, setVersion] = useState(app.defaultVersion ?? app.versions[0] ?? '');
  const [endpointId, setEndpointId] = useState('');
  const [settings, setSettings] = useState<Record<string, string>>(
    () => Object.fromEntries(app.settings.map((s) => [s.key, s.default ?? ''])),
  );
  const [endpoints] = useQuery({ query: EndpointsQuery });
  const [res, install] = useMutation(InstallMutation);
  const domains = useMemo(() => domainsText.split(/[\s,]+/).map((d) => d.trim()).filter(Boolean), [domainsText]);

  // Only settings the user changed from the default are sent: the server
  // applies the defaults (and picks free ports) for the rest.
  const changed = app.settings.filter((s) => (settings[s.key] ?? '') !== (s.default ?? ''));
  const settingKeys = changed.map((s) => s.key);
  const { fields: sent, general } = splitErrors(res.error, settingKeys);
  // A field's error stays until the field is edited or the form sent again.
  const [edited, setEdited] = useState<Set<string>>(new Set());
  useEffect(() => setEdited(new Set()), [res.error]);
  const fields = Object.fromEntries(Object.entries(sent).filter(([k]) => !edited.has(k)));
  const touch = (k: string) => { if (sent[k] && !edited.has(k)) setEdited(new Set(edited).add(k)); };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await install({
      input: {
        appName: app.name,
        appId: appId.trim(),
        domains: domains.length ? domains : null,
        defaultDomain: defaultDomain || null,
        version: version || null,
        endpointId: endpointId ? Number(endpointId) : null,
        settings: changed.length ? changed.map((s) => ({ name: s.key, value: settings[s.key] ?? '' })) : null,
      },
    });
    if (r.data?.installApp) navigate(`/operations/${r.data.installApp.id}`);
  };

  const err = (f: string) => fields[f];
  return (
    <Dialog title={`Install ${app.trademark || app.name}`} open onClose={onClose} wide footer={
      <>
        <Button variant="ghost" onClick={onClose}>Cancel</Button>
        <Button variant="primary" type="submit" form="install-form" busy={res.fetching}>Install</Button>
      </>
    }>
      <form id="install-form" className="form" onSubmit={submit} noValidate>
        {general.length > 0 && <Alert title="Not installed:">{general.join(' ')}</Alert>}
        <div className="form-row">
          <Field label="App id" htmlFor="install-appId" name="appId" error={err('appId') ?? err('appName')}
            hint="2–20 lower-case letters and digits, starting with a letter. It names the repository, stack and containers.">
            <input id="install-appId" value={appId} onChange={(e) => { setAppId(e.target.value); touch('appId'); touch('appName'); }} required autoFocus
              aria-invalid={!!err('appId')} aria-describedby={err('appId') ? 'install-appId-error' : undefined} autoComplete="off" spellCheck={false} />
          </Field>
          <Field label="Version" htmlFor="install-version" name="version" error={err('version')}>
            <select id="install-version" value={version} onChange={(e) => { setVersion(e.target.value); touch('version'); }} aria-invalid={!!err('version')}>
              {app.versions.map((v) => <option key={v} value={v}>{v}{v === app.defaultVersion ? ' (default)' : ''}</option>)}
            </select>
          </Field>
        </div>
        {app.web && (
          <div className="form-row">
            <Field label="Domains" htmlFor="install-domains" name="domains" error={err('domains')} hint="Separate several with spaces or commas. Optional.">
              <input id="install-domains" value={domainsText} onChange={(e) => { setDomainsText(e.target.value); touch('domains'); touch('defaultDomain'); }} placeholder="blog.example.com"
                aria-invalid={!!err('domains')} autoComplete="off" spellCheck={false} />
            </Field>
            <Field label="Default domain" htmlFor="install-defaultDomain" name="defaultDomain" error={err('defaultDomain')}>
              <select id="install-defaultDomain" value={defaultDomain} onChange={(e) => { setDefaultDomain(e.target.value); touch('defaultDomain'); }} disabled={domains.length < 2}
                aria-invalid={!!err('defaultDomain')}>
                <option value="">{domains[0] ? `${domains[0]} (first)` : 'The first domain'}</option>
                {domains.slice(1).map((d) => <option key={d} value={d}>{d}</option>)}
              </select>
            </Field>
          </div>
        )}
        <Field label="Endpoint" htmlFor="install-endpoint" name="endpointId" error={err('endpointId')}>
          <select id="install-endpoint" value={endpointId} onChange={(e) => { setEndpointId(e.target.value); touch('endpointId'); }} aria-invalid={!!err('endpointId')}>
            <option value="">The default endpoint</option>
            {(endpoints.data?.endpoints ?? []).map((ep) => (
              <option key={ep.id} value={String(ep.id)}>{ep.name} (#{ep.id}, {ep.status.toLowerCase()})</option>
            ))}
          </select>
        </Field>
        {app.settings.length > 0 && (
          <fieldset className="settings-set">
            <legend>Settings</legend>
            <div className="form-grid">
              {app.settings.map((s) => {
                const id = `install-setting-${s.key}`;
                const e = err('settings.' + s.key);
                return (
                  <Field key={s.key} label={s.key} htmlFor={id} name={'settings.' + s.key} error={e}
                    hint={s.port ? 'Host port; a taken default moves to the next free port.' : s.default ? `Default: ${s.default}` : undefined}>
                    <input id={id} value={settings[s.key] ?? ''} inputMode={s.port ? 'numeric' : undefined} aria-invalid={!!e}
                      onChange={(ev) => { setSettings({ ...settings, [s.key]: ev.target.value }); touch('settings.' + s.key); }} autoComplete="off" spellCheck={false} />
                  </Field>
                );
              })}
            </div>
            {err('settings') && <p className="field-error" role="alert">{err('settings')}</p>}
          </fieldset>
        )}
        {(err('webPort') || err('images')) && <Alert>{[err('webPort'), err('images')].filter(Boolean).join(' ')}</Alert>}
      </form>
    </Dialog>
  );
}
