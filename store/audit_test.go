package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/appmanage/appmanage/store"
)

func TestAuditListFilterPagePrune(t *testing.T) {
	ctx := context.Background()
	db := openSettingsTestDB(t)
	old := time.Now().Add(-48 * time.Hour)
	rows := []store.AuditEntry{
		{At: old, KeyID: "k1", KeyName: "ci", Mutation: "installApp", AppID: "blog", OperationID: "op1"},
		{KeyID: "k1", KeyName: "ci", Mutation: "installApp", AppID: "shop", ErrorCode: "VALIDATION_FAILED"},
		{KeyID: "k2", KeyName: "reader", Mutation: "stopApp", AppID: "blog", ErrorCode: "FORBIDDEN"},
		{Source: "webhook:gitea", Mutation: "redeployApp", AppID: "Blog", OperationID: "op2"},
	}
	for _, r := range rows {
		if _, err := db.InsertAudit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		f     store.AuditFilter
		total int
		first string // mutation of the newest match
	}{
		{"all", store.AuditFilter{}, 4, "redeployApp"},
		{"by key id", store.AuditFilter{Key: "k1"}, 2, "installApp"},
		{"by key name", store.AuditFilter{Key: "reader"}, 1, "stopApp"},
		{"by mutation", store.AuditFilter{Mutation: "installApp"}, 2, "installApp"},
		{"by app, any case", store.AuditFilter{AppID: "blog"}, 3, "redeployApp"},
		{"since", store.AuditFilter{Since: time.Now().Add(-time.Hour)}, 3, "redeployApp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := db.ListAudit(ctx, tc.f, 0, 10)
			if err != nil || total != tc.total || len(got) != tc.total || got[0].Mutation != tc.first {
				t.Fatalf("got %+v total %d, %v", got, total, err)
			}
		})
	}
	page1, total, err := db.ListAudit(ctx, store.AuditFilter{}, 0, 3)
	if err != nil || total != 4 || len(page1) != 3 {
		t.Fatalf("page 1: %d of %d, %v", len(page1), total, err)
	}
	page2, _, err := db.ListAudit(ctx, store.AuditFilter{}, page1[2].ID, 3)
	if err != nil || len(page2) != 1 || page2[0].OperationID != "op1" {
		t.Fatalf("page 2: %+v, %v", page2, err)
	}
	n, err := db.PruneAudit(ctx, time.Now().Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	if _, total, _ := db.ListAudit(ctx, store.AuditFilter{}, 0, 10); total != 3 {
		t.Fatalf("after prune: %d rows", total)
	}
}
