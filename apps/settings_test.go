package apps

import (
	"context"
	"testing"

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
