import { useEffect, useId, useRef, useState, type ReactNode, type ButtonHTMLAttributes } from 'react';

// Icons are inline SVG paths (24×24, stroked): nothing is fetched.
const paths: Record<string, string> = {
  apps: 'M4 4h6v6H4zM14 4h6v6h-6zM4 14h6v6H4zM14 14h6v6h-6z',
  catalog: 'M4 19.5V5a2 2 0 0 1 2-2h13v16H6a2 2 0 0 0-2 2zm0 0A2 2 0 0 0 6 22h13',
  activity: 'M22 12h-4l-3 9L9 3l-3 9H2',
  settings: 'M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zm7.4-3a7.4 7.4 0 0 0-.1-1.2l2-1.6-2-3.4-2.4 1a7 7 0 0 0-2-1.2L14.5 3h-4l-.4 2.6a7 7 0 0 0-2 1.2l-2.4-1-2 3.4 2 1.6a7.4 7.4 0 0 0 0 2.4l-2 1.6 2 3.4 2.4-1a7 7 0 0 0 2 1.2l.4 2.6h4l.4-2.6a7 7 0 0 0 2-1.2l2.4 1 2-3.4-2-1.6c.1-.4.1-.8.1-1.2z',
  key: 'M15 7a4 4 0 1 1-3.9 5H9v2H7v2H4v-3l5.1-5.1A4 4 0 0 1 15 7zm1 2.5a.5.5 0 1 0 0 1',
  audit: 'M9 5H7a2 2 0 0 0-2 2v12a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2h-2M9 5a2 2 0 0 0 2 2h2a2 2 0 0 0 2-2M9 5a2 2 0 0 1 2-2h2a2 2 0 0 1 2 2m-6 9 2 2 4-4',
  refresh: 'M21 12a9 9 0 1 1-2.6-6.4M21 4v5h-5',
  plus: 'M12 5v14M5 12h14',
  x: 'M18 6 6 18M6 6l12 12',
  play: 'M7 4v16l13-8z',
  stop: 'M6 6h12v12H6z',
  trash: 'M3 6h18M8 6V4h8v2m-9 0 1 14h8l1-14',
  link: 'M14 4h6v6M10 14 20 4M19 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1h5',
  check: 'M5 12l5 5L20 7',
  alert: 'M12 9v4m0 4h.01M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z',
  logout: 'M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9',
  search: 'M11 19a8 8 0 1 0 0-16 8 8 0 0 0 0 16zm10 2-4.3-4.3',
  menu: 'M3 6h18M3 12h18M3 18h18',
  git: 'M6 3v12M18 9a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM6 21a3 3 0 1 0 0-6 3 3 0 0 0 0 6zm12-12a9 9 0 0 1-9 9',
  restart: 'M1 4v6h6M3.5 15a9 9 0 1 0 2.1-9.4L1 10',
  upload: 'M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4M17 8l-5-5-5 5M12 3v12',
  wrench: 'M14.7 6.3a4 4 0 0 0-5.4 5.4L3 18l3 3 6.3-6.3a4 4 0 0 0 5.4-5.4l-2.5 2.5-2.5-.5-.5-2.5z',
  server: 'M4 4h16v6H4zM4 14h16v6H4zM8 7h.01M8 17h.01',
};

export function Icon({ name, size = 18 }: { name: keyof typeof paths | string; size?: number }) {
  return (
    <svg className="icon" width={size} height={size} viewBox="0 0 24 24" fill="none" stroke="currentColor"
      strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true" focusable="false">
      <path d={paths[name] ?? ''} />
    </svg>
  );
}

const tone: Record<string, string> = {
  ACTIVE: 'ok', SUCCEEDED: 'ok', UP: 'ok', OK: 'ok',
  INSTALLING: 'busy', UNINSTALLING: 'busy', RUNNING: 'busy', QUEUED: 'busy', ROLLING_BACK: 'busy', UNDOING: 'busy',
  INACTIVE: 'idle', PENDING: 'idle', SKIPPED: 'idle', CANCELLED: 'idle', UNDONE: 'idle', UNKNOWN: 'idle',
  ERROR: 'bad', FAILED: 'bad', DOWN: 'bad', UNDO_FAILED: 'bad', ROLLED_BACK: 'warn', DEGRADED: 'warn',
};

export function Badge({ status, label }: { status: string; label?: string }) {
  const t = tone[status] ?? 'idle';
  return (
    <span className={`badge badge-${t}`} data-status={status}>
      <span className="dot" aria-hidden="true" />
      {label ?? status.replace(/_/g, ' ').toLowerCase()}
    </span>
  );
}

type BtnProps = ButtonHTMLAttributes<HTMLButtonElement> & { variant?: 'primary' | 'danger' | 'ghost' | 'default'; icon?: string; busy?: boolean };
export function Button({ variant = 'default', icon, busy, children, className, disabled, ...rest }: BtnProps) {
  return (
    <button type="button" className={`btn btn-${variant} ${className ?? ''}`} disabled={disabled || busy} aria-busy={busy || undefined} {...rest}>
      {busy ? <span className="spinner" aria-hidden="true" /> : icon ? <Icon name={icon} size={16} /> : null}
      {children}
    </button>
  );
}

// Dialog is a native modal <dialog>: focus stays inside, Escape closes it.
export function Dialog({ title, open, onClose, children, footer, wide }: {
  title: string; open: boolean; onClose: () => void; children: ReactNode; footer?: ReactNode; wide?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} className={`dialog ${wide ? 'dialog-wide' : ''}`} aria-labelledby={id} onClose={onClose}
      onCancel={(e) => { e.preventDefault(); onClose(); }}>
      {open && (
        <div className="dialog-inner">
          <header className="dialog-head">
            <h2 id={id}>{title}</h2>
            <button type="button" className="icon-btn" aria-label="Close" onClick={onClose}><Icon name="x" /></button>
          </header>
          <div className="dialog-body">{children}</div>
          {footer && <footer className="dialog-foot">{footer}</footer>}
        </div>
      )}
    </dialog>
  );
}

// ConfirmButton asks before a destructive action.
export function ConfirmButton({ title, message, confirmLabel, onConfirm, children, ...btn }: BtnProps & {
  title: string; message: ReactNode; confirmLabel: string; onConfirm: () => Promise<unknown> | void;
}) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  return (
    <>
      <Button {...btn} onClick={() => setOpen(true)}>{children}</Button>
      <Dialog title={title} open={open} onClose={() => setOpen(false)} footer={
        <>
          <Button variant="ghost" onClick={() => setOpen(false)}>Cancel</Button>
          <Button variant="danger" busy={busy} onClick={async () => {
            setBusy(true);
            try { await onConfirm(); } finally { setBusy(false); setOpen(false); }
          }}>{confirmLabel}</Button>
        </>
      }>
        <div className="confirm-msg">{message}</div>
      </Dialog>
    </>
  );
}

export function Field({ label, error, hint, children, htmlFor, name }: {
  label: string; error?: string; hint?: ReactNode; children: ReactNode; htmlFor: string; name?: string;
}) {
  return (
    <div className={`field ${error ? 'field-invalid' : ''}`} data-field={name}>
      <label htmlFor={htmlFor}>{label}</label>
      {children}
      {error ? <p className="field-error" id={htmlFor + '-error'} role="alert">{error}</p> : hint ? <p className="field-hint">{hint}</p> : null}
    </div>
  );
}

export function Progress({ value, label }: { value: number; label: string }) {
  const v = Math.max(0, Math.min(100, value));
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={v}>
      <div className="progress-fill" style={{ width: `${v}%` }} />
    </div>
  );
}

export function Alert({ kind = 'error', children, title }: { kind?: 'error' | 'info' | 'ok'; children: ReactNode; title?: string }) {
  return (
    <div className={`alert alert-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      <Icon name={kind === 'ok' ? 'check' : 'alert'} />
      <div>{title && <strong>{title} </strong>}{children}</div>
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

export function Loading({ what }: { what: string }) {
  return <div className="loading" role="status"><span className="spinner" aria-hidden="true" /> Loading {what}…</div>;
}

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
export function ago(iso?: string | null): string {
  if (!iso) return '—';
  const s = (new Date(iso).getTime() - Date.now()) / 1000;
  const a = Math.abs(s);
  if (a < 60) return rtf.format(Math.round(s), 'second');
  if (a < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (a < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

export function When({ at }: { at?: string | null }) {
  if (!at) return <span className="muted">—</span>;
  return <time dateTime={at} title={new Date(at).toLocaleString()}>{ago(at)}</time>;
}

export function duration(ms?: number | null): string {
  if (ms == null) return '';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function PageHead({ title, sub, actions }: { title: string; sub?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="page-head">
      <div>
        <h1>{title}</h1>
        {sub && <p className="sub">{sub}</p>}
      </div>
      {actions && <div className="actions">{actions}</div>}
    </div>
  );
}

export function Avatar({ name }: { name: string }) {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 360;
  return <span className="avatar" style={{ background: `hsl(${h} 55% 45%)` }} aria-hidden="true">{name.slice(0, 2).toUpperCase()}</span>;
}
