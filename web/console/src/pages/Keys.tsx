import { useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { graphql } from '../gql';
import { useReconnect } from '../hooks';
import { errorText, splitErrors } from '../errors';
import { Alert, Badge, Button, ConfirmButton, Field, Loading, PageHead, When } from '../ui';

const KeysQuery = graphql(`
  query ConsoleApiKeys { apiKeys { id name prefix scope createdAt lastUsedAt revokedAt } }
`);
const CreateKey = graphql(`
  mutation ConsoleCreateApiKey($name: String!, $scope: String!) {
    createApiKey(name: $name, scope: $scope) { key apiKey { id name prefix scope createdAt lastUsedAt revokedAt } }
  }
`);
const RevokeKey = graphql(`
  mutation ConsoleRevokeApiKey($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }
`);

const scopes = ['read', 'write', 'admin'];

export function KeysPage() {
  const [res, refetch] = useQuery({ query: KeysQuery });
  useReconnect(() => refetch({ requestPolicy: 'network-only' }));
  const [created, create] = useMutation(CreateKey);
  const [revoked, revoke] = useMutation(RevokeKey);
  const [name, setName] = useState('');
  const [scope, setScope] = useState('read');
  const errs = splitErrors(created.error);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await create({ name, scope });
    if (!r.error) setName('');
  };
  return (
    <>
      <PageHead title="API keys" sub="Keys authenticate every call to the API. Only a hash is stored." />
      <section className="card">
        <h2 className="card-h">New key</h2>
        <form className="inline-form" onSubmit={submit}>
          <Field label="Name" htmlFor="key-name" error={errs.fields.name}>
            <input id="key-name" value={name} onChange={(e) => setName(e.target.value)} required autoComplete="off" />
          </Field>
          <Field label="Scope" htmlFor="key-scope" error={errs.fields.scope}>
            <select id="key-scope" value={scope} onChange={(e) => setScope(e.target.value)}>
              {scopes.map((s) => <option key={s} value={s}>{s}</option>)}
            </select>
          </Field>
          <Button type="submit" variant="primary" busy={created.fetching} disabled={!name.trim()}>Create key</Button>
        </form>
        {errs.general.length > 0 && <Alert>{errs.general.join(' ')}</Alert>}
        {created.data && (
          <Alert kind="ok" title="Copy the key now: it is shown once.">
            <code className="secret" data-testid="new-key">{created.data.createApiKey.key}</code>
          </Alert>
        )}
      </section>
      {revoked.error && <Alert>{errorText(revoked.error)}</Alert>}
      {res.error && <Alert>{errorText(res.error)}</Alert>}
      {!res.data ? <Loading what="keys" /> : (
        <div className="card table-wrap">
          <table className="table" aria-label="API keys">
            <thead><tr><th>Name</th><th>Prefix</th><th>Scope</th><th className="hide-sm">Created</th><th className="hide-sm">Last used</th><th><span className="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
              {res.data.apiKeys.map((k) => (
                <tr key={k.id}>
                  <td className="strong">{k.name}</td>
                  <td><code>{k.prefix}…</code></td>
                  <td><span className="tag">{k.scope}</span></td>
                  <td className="hide-sm"><When at={k.createdAt} /></td>
                  <td className="hide-sm"><When at={k.lastUsedAt} /></td>
                  <td className="right">
                    {k.revokedAt ? <Badge status="CANCELLED" label="revoked" /> : (
                      <ConfirmButton variant="ghost" icon="trash" title={`Revoke ${k.name}?`} confirmLabel="Revoke"
                        message="Calls with this key are refused from now on." onConfirm={() => revoke({ id: k.id })}>Revoke</ConfirmButton>
                    )}
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
