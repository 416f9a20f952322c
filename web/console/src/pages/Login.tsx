import { useState, type FormEvent } from 'react';
import { checkKey } from '../session';
import { Alert, Button, Field, Icon } from '../ui';

export function Login({ onSignedIn }: { onSignedIn: (key: string) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (await checkKey(key.trim())) onSignedIn(key.trim());
      else setError('The server does not accept this key.');
    } catch (err) {
      setError('The server could not be reached: ' + (err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="login">
      <form className="login-card" onSubmit={submit} aria-labelledby="login-title">
        <div className="brand brand-lg">
          <span className="logo" aria-hidden="true"><Icon name="server" size={22} /></span>
          <span>appmanage</span>
        </div>
        <h1 id="login-title">Sign in</h1>
        <p className="sub">Paste an API key. It is kept for this browser session only.</p>
        <Field label="API key" htmlFor="api-key" error={error ?? undefined}>
          <input id="api-key" name="api-key" type="password" autoComplete="off" spellCheck={false} required
            value={key} onChange={(e) => setKey(e.target.value)} autoFocus aria-invalid={!!error} />
        </Field>
        <Button type="submit" variant="primary" busy={busy} className="wide">Sign in</Button>
        {!error && <p className="field-hint">A new server writes its first admin key to a file in its data folder.</p>}
        {error && error.startsWith('The server could') && <Alert>{error}</Alert>}
      </form>
    </div>
  );
}
