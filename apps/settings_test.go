package apps

import (
	"context"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/library/dotenv"
)

func TestPublicHostSettingIsUsedInW9URL(t *testing.T) {
	e := newEnv(t)
	e.Svc.UseSettings(e.DB)
	ctx := context.Background()
	if _, err := e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "publicHost", Value: "apps.example.net"}}); err != nil {
		t.Fatal(err)
	}
	op := e.install(InstallRequest{AppName: "whoami", AppID: "whoset"})
	if op.Error != "" {
		t.Fatal(op.Error)
	}
	env, _ := dotenv.Parse(e.Gitea.Files(e.Owner, "whoset", "main")[".env"])
	lib, _ := e.Lib.Get("whoami")
	want := "apps.example.net:" + lib.Settings[0].Default
	if got, _ := env.Get("W9_URL"); got != want {
		t.Fatalf("W9_URL = %q, want %q", got, want)
	}
	views, err := e.Svc.Settings(ctx)
	if err != nil || len(views) == 0 || views[0].Value == nil || *views[0].Value != "apps.example.net" {
		t.Fatalf("settings = %+v, %v", views, err)
	}
	if _, err := e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "defaultEndpointId", Value: "x"}}); apperr.CodeOf(err) != apperr.ValidationFailed {
		t.Fatalf("bad endpoint id: %v", err)
	}
	if _, err := e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "defaultEndpointId", Value: "999"}}); apperr.CodeOf(err) != apperr.PreconditionFailed {
		t.Fatalf("missing endpoint: %v", err)
	}
	if _, err := e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "defaultEndpointId", Value: "1"}}); err != nil {
		t.Fatalf("existing endpoint: %v", err)
	}
}

func TestParseRetention(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{"720h", 720 * time.Hour, true},
		{"0", 0, true},
		{"-1h", 0, false},
		{"xd", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseRetention(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseRetention(%q) = %v, %v", tc.in, got, err)
		}
	}
	e := newEnv(t)
	e.Svc.UseSettings(e.DB)
	ctx := context.Background()
	if got := e.Svc.AuditRetention(ctx); got != DefaultAuditRetention {
		t.Errorf("default retention %v", got)
	}
	if _, err := e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "auditRetention", Value: "7d"}}); err != nil {
		t.Fatal(err)
	}
	if got := e.Svc.AuditRetention(ctx); got != 7*24*time.Hour {
		t.Errorf("retention %v", got)
	}
	if _, err := e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "auditRetention", Value: "forever"}}); apperr.CodeOf(err) != apperr.ValidationFailed {
		t.Errorf("bad retention: %v", err)
	}
}
