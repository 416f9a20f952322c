package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	ID          int64     `db:"id"`
	At          time.Time `db:"at"`
	KeyID       string    `db:"key_id"`
	KeyName     string    `db:"key_name"`
	ClientAddr  string    `db:"client_addr"`
	Source      string    `db:"source"`
	Mutation    string    `db:"mutation"`
	AppID       string    `db:"app_id"`
	Arguments   string    `db:"arguments"` // JSON, secrets redacted by the caller
	OperationID string    `db:"operation_id"`
	ErrorCode   string    `db:"error_code"`
}

// AuditFilter narrows ListAudit; zero fields match everything.
type AuditFilter struct {
	Key      string // key id, or key name
	Mutation string
	AppID    string
	Since    time.Time
}

// InsertAudit appends a row; At defaults to now.
func (db *DB) InsertAudit(ctx context.Context, e AuditEntry) (int64, error) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if e.Source == "" {
		e.Source = "api"
	}
	if e.Arguments == "" {
		e.Arguments = "{}"
	}
	res, err := db.W.ExecContext(ctx, `INSERT INTO audit_log
		(at, key_id, key_name, client_addr, source, mutation, app_id, arguments, operation_id, error_code)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.At.UTC(), e.KeyID, e.KeyName, e.ClientAddr, e.Source,
		e.Mutation, e.AppID, e.Arguments, e.OperationID, e.ErrorCode)
	if err != nil {
		return 0, fmt.Errorf("insert audit row: %w", err)
	}
	return res.LastInsertId()
}

func (f AuditFilter) where() (string, []any) {
	var conds []string
	var args []any
	if f.Key != "" {
		conds = append(conds, "(key_id = ? OR key_name = ?)")
		args = append(args, f.Key, f.Key)
	}
	if f.Mutation != "" {
		conds = append(conds, "mutation = ?")
		args = append(args, f.Mutation)
	}
	if f.AppID != "" {
		conds = append(conds, "app_id = ? COLLATE NOCASE")
		args = append(args, f.AppID)
	}
	if !f.Since.IsZero() {
		conds = append(conds, "at >= ?")
		args = append(args, f.Since.UTC())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListAudit returns up to limit rows matching f, newest first, older than
// the row beforeID (0: from the newest), and how many rows match f in all.
func (db *DB) ListAudit(ctx context.Context, f AuditFilter, beforeID int64, limit int) ([]AuditEntry, int, error) {
	where, args := f.where()
	var total int
	if err := db.R.GetContext(ctx, &total, `SELECT count(*) FROM audit_log`+where, args...); err != nil {
		return nil, 0, fmt.Errorf("count audit rows: %w", err)
	}
	page := where
	pargs := append([]any{}, args...)
	if beforeID > 0 {
		if page == "" {
			page = " WHERE id < ?"
		} else {
			page += " AND id < ?"
		}
		pargs = append(pargs, beforeID)
	}
	pargs = append(pargs, limit)
	out := []AuditEntry{}
	if err := db.R.SelectContext(ctx, &out, `SELECT id, at, key_id, key_name, client_addr, source, mutation,
		app_id, arguments, operation_id, error_code FROM audit_log`+page+` ORDER BY id DESC LIMIT ?`, pargs...); err != nil {
		return nil, 0, fmt.Errorf("list audit rows: %w", err)
	}
	return out, total, nil
}

// PruneAudit deletes rows older than before and returns how many went.
func (db *DB) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.W.ExecContext(ctx, `DELETE FROM audit_log WHERE at < ?`, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("prune audit log: %w", err)
	}
	return res.RowsAffected()
}
