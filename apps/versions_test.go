package apps

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/library/dotenv"
	"github.com/appmanage/appmanage/ops"
)

// A library app like 16 of Websoft9's: its .env default version is not in
// variables.json, and its .env leaves W9_ID for the install to fill in.
func envDefaultLibrary(t *testing.T) *library.Library {
	t.Helper()
	fsys := fstest.MapFS{
		"envdef/.env": {Data: []byte("W9_ID=\nW9_VERSION=1.25\nW9_DIST=community\nW9_HTTP_PORT=80\nW9_HTTP_PORT_SET=9311\nW9_URL=\nW9_NETWORK=websoft9\n")},
		"envdef/docker-compose.yml": {Data: []byte(`services:
  app:
    image: nginx:${W9_VERSION}
    container_name: ${W9_ID:?W9_ID is set by the install}
    env_file: .env
    ports:
      - ${W9_HTTP_PORT_SET}:80
networks:
  default:
    name: ${W9_NETWORK}
    external: true
`)},
		"envdef/variables.json": {Data: []byte(`{"name":"envdef","edition":[{"dist":"community","version":["1.26","latest"]},{"dist":"enterprise","version":["1.26-ee","latest"]}]}`)},
	}
	lib, err := library.Load(fsys, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if p := lib.Problems(); len(p) != 0 {
		t.Fatalf("library problems: %+v", p)
	}
	return lib
}

func TestInstallDefaultVersionOnlyInEnv(t *testing.T) {
	e := newEnv(t, withLibrary(envDefaultLibrary(t)))

	_, err := e.Svc.Install(t.Context(), InstallRequest{AppName: "envdef", AppID: "envdef1", Version: "9.9"})
	if apperr.CodeOf(err) != apperr.ValidationFailed || !strings.Contains(err.Error(), "listed: 1.25, 1.26, latest, 1.26-ee") {
		t.Fatalf("unknown version: %v (want the versions listed once each, default first)", err)
	}

	op := e.install(InstallRequest{AppName: "envdef", AppID: "envdef1"})
	if op.Status != ops.StatusSucceeded {
		t.Fatalf("install without a version: %s %s", op.Status, op.Error)
	}
	env, err := dotenv.Parse(e.Gitea.Files(e.Owner, "envdef1", "main")[".env"])
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"W9_VERSION": "1.25", "W9_ID": "envdef1", "W9_DIST": "community"} {
		if got, _ := env.Get(k); got != want {
			t.Errorf("committed .env %s = %q, want %q", k, got, want)
		}
	}
}
