// Package audit records who changed what: one row per mutation, accepted
// or refused (authentication, scope, validation), and per operation a
// webhook started, with the caller's API key, address, the arguments with
// secrets redacted and the outcome (the operation id or the error code).
//
// It is wired at the two places every mutation passes: a gqlgen root-field
// middleware (Mutations), outside the scope check, and the HTTP layer's
// refusal of requests without a valid key (Unauthenticated). Resolvers do
// nothing for it. Operation ids are noted by Engine, the ops engine as the
// domain sees it, whenever a call submits or cancels one.
package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/appmanage/appmanage/ops"
	"github.com/appmanage/appmanage/store"
)

// Store keeps the rows (store.DB).
type Store interface {
	InsertAudit(ctx context.Context, e store.AuditEntry) (int64, error)
	ListAudit(ctx context.Context, f store.AuditFilter, beforeID int64, limit int) ([]store.AuditEntry, int, error)
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
}

// Sources of a row.
const (
	SourceAPI          = "api"
	SourceGiteaWebhook = "webhook:gitea"
)

// Entry is one audited call, as the API shows it.
type Entry struct {
	ID          int64
	At          time.Time
	KeyID       string
	KeyName     string
	ClientAddr  string
	Source      string
	Mutation    string
	AppID       string
	Arguments   map[string]any // secrets redacted
	OperationID string
	ErrorCode   string
}

// Outcome is the operation id, the error code, or "OK".
func (e Entry) Outcome() string {
	switch {
	case e.ErrorCode != "":
		return e.ErrorCode
	case e.OperationID != "":
		return e.OperationID
	}
	return "OK"
}

// Filter narrows List.
type Filter struct {
	Key      string // API key id or name
	Mutation string
	AppID    string
	Since    time.Time
}

// Log is the audit log.
type Log struct {
	st        Store
	log       *slog.Logger
	retention func(ctx context.Context) time.Duration // 0: keep forever
	// ClientAddr reads the client's address from a request context.
	clientAddr func(ctx context.Context) string
}

// Options configures a Log.
type Options struct {
	Log *slog.Logger
	// Retention says how long rows are kept (0: forever); read at each
	// prune, so a run-time setting applies without a restart.
	Retention func(ctx context.Context) time.Duration
	// ClientAddr reads the client's address from a request context.
	ClientAddr func(ctx context.Context) string
}

// New returns a Log writing to st.
func New(st Store, o Options) *Log {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ClientAddr == nil {
		o.ClientAddr = func(context.Context) string { return "" }
	}
	return &Log{st: st, log: o.Log, retention: o.Retention, clientAddr: o.ClientAddr}
}

// Record writes e. A failure to write is logged (at error level: an audit
// row was lost), never returned: the call it records has already happened.
func (l *Log) Record(ctx context.Context, e Entry) {
	if e.Source == "" {
		e.Source = SourceAPI
	}
	args := "{}"
	if e.Arguments != nil {
		if b, err := json.Marshal(e.Arguments); err == nil {
			args = string(b)
		}
	}
	// Not the request's context: a client that went away must not cancel
	// the row of what it did.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := l.st.InsertAudit(ctx, store.AuditEntry{At: e.At, KeyID: e.KeyID, KeyName: e.KeyName,
		ClientAddr: e.ClientAddr, Source: e.Source, Mutation: e.Mutation, AppID: e.AppID, Arguments: args,
		OperationID: e.OperationID, ErrorCode: e.ErrorCode}); err != nil {
		l.log.ErrorContext(ctx, "audit row lost", "mutation", e.Mutation, "error", err)
	}
}

// List returns up to limit rows matching f, newest first, older than the
// row beforeID (0: from the newest), and the number of matching rows.
func (l *Log) List(ctx context.Context, f Filter, beforeID int64, limit int) ([]Entry, int, error) {
	rows, total, err := l.st.ListAudit(ctx, store.AuditFilter{Key: f.Key, Mutation: f.Mutation, AppID: f.AppID, Since: f.Since}, beforeID, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Entry, 0, len(rows))
	for _, r := range rows {
		e := Entry{ID: r.ID, At: r.At, KeyID: r.KeyID, KeyName: r.KeyName, ClientAddr: r.ClientAddr, Source: r.Source,
			Mutation: r.Mutation, AppID: r.AppID, OperationID: r.OperationID, ErrorCode: r.ErrorCode}
		if json.Unmarshal([]byte(r.Arguments), &e.Arguments) != nil {
			e.Arguments = map[string]any{}
		}
		out = append(out, e)
	}
	return out, total, nil
}

// Prune deletes rows older than the retention.
func (l *Log) Prune(ctx context.Context) {
	if l.retention == nil {
		return
	}
	keep := l.retention(ctx)
	if keep <= 0 {
		return
	}
	n, err := l.st.PruneAudit(ctx, time.Now().Add(-keep))
	if err != nil {
		l.log.WarnContext(ctx, "prune audit log", "error", err)
		return
	}
	if n > 0 {
		l.log.InfoContext(ctx, "pruned audit log", "rows", n, "older than", keep.String())
	}
}

// Run prunes at once and then every interval until ctx ends.
func (l *Log) Run(ctx context.Context, every time.Duration) {
	l.Prune(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.Prune(ctx)
		}
	}
}

// note collects, for one audited call, the operations it submitted.
type note struct {
	mu  sync.Mutex
	ops []string
}

type noteKey struct{}

func withNote(ctx context.Context) (context.Context, *note) {
	n := &note{}
	return context.WithValue(ctx, noteKey{}, n), n
}

func (n *note) first() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.ops) == 0 {
		return ""
	}
	return n.ops[0]
}

// noteOperation tells the audited call in ctx (if any) that it started,
// or acted on, operation id.
func noteOperation(ctx context.Context, id string) {
	if n, ok := ctx.Value(noteKey{}).(*note); ok && id != "" {
		n.mu.Lock()
		n.ops = append(n.ops, id)
		n.mu.Unlock()
	}
}

// Engine is the ops engine as the domain uses it, noting each operation a
// call submits or cancels for that call's audit row.
type Engine struct{ *ops.Engine }

// Submit submits and notes the operation.
func (e Engine) Submit(ctx context.Context, req ops.SubmitRequest) (*ops.Operation, error) {
	op, err := e.Engine.Submit(ctx, req)
	if op != nil {
		noteOperation(ctx, op.ID)
	}
	return op, err
}

// Cancel cancels and notes the operation.
func (e Engine) Cancel(ctx context.Context, id string) (*ops.Operation, error) {
	op, err := e.Engine.Cancel(ctx, id)
	if op != nil {
		noteOperation(ctx, op.ID)
	}
	return op, err
}
