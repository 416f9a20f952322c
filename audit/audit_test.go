package audit

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/store"
)

func TestRecordListPrune(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "a.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keep := 24 * time.Hour
	l := New(db, Options{Retention: func(context.Context) time.Duration { return keep }})
	l.Record(ctx, Entry{At: time.Now().Add(-48 * time.Hour), KeyName: "old", Mutation: "stopApp", AppID: "a"})
	l.Record(ctx, Entry{KeyName: "ci", Mutation: "installApp", AppID: "b", OperationID: "op-1",
		Arguments: map[string]any{"input": map[string]any{"appId": "b"}}})
	l.Webhook(ctx, SourceGiteaWebhook, "redeployApp", "", "", apperr.New(apperr.Unauthenticated, "unsigned"))
	l.Webhook(ctx, SourceGiteaWebhook, "redeployApp", "b", "op-2", nil)

	rows, total, err := l.List(ctx, Filter{}, 0, 10)
	if err != nil || total != 4 {
		t.Fatalf("list: %d rows, %v", total, err)
	}
	if r := rows[0]; r.Source != SourceGiteaWebhook || r.Outcome() != "op-2" || r.AppID != "b" {
		t.Errorf("webhook row: %+v", r)
	}
	if r := rows[1]; r.Outcome() != "UNAUTHENTICATED" || r.KeyID != "" {
		t.Errorf("refused webhook row: %+v", r)
	}
	if r := rows[2]; r.Outcome() != "op-1" || r.Source != SourceAPI || r.Arguments["input"] == nil {
		t.Errorf("install row: %+v", r)
	}
	l.Prune(ctx)
	if _, total, _ := l.List(ctx, Filter{}, 0, 10); total != 3 {
		t.Errorf("after prune: %d rows, want 3", total)
	}
	keep = 0 // forever: nothing is pruned
	l.Record(ctx, Entry{At: time.Now().Add(-1000 * time.Hour), Mutation: "x"})
	l.Prune(ctx)
	if _, total, _ := l.List(ctx, Filter{}, 0, 10); total != 4 {
		t.Errorf("retention 0 pruned: %d rows", total)
	}
}
