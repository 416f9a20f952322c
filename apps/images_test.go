package apps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/faults"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/ops"
)

// testRegistry is go-containerregistry's in-memory registry on loopback,
// counting the manifest requests it answers.
type testRegistry struct {
	srv       *httptest.Server
	host      string
	manifests atomic.Int32
}

func newTestRegistry(t *testing.T, refs ...string) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.Contains(req.URL.Path, "/manifests/") {
			r.manifests.Add(1)
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "http://")
	for _, ref := range refs {
		r.push(t, ref)
	}
	return r
}

// push stores a small random image as repo:tag.
func (r *testRegistry) push(t *testing.T, repoTag string) {
	t.Helper()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(r.host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
}

// hubTransport sends Docker Hub's hosts to hub (an in-memory registry
// standing in for docker.io) and loopback calls through; any other host is
// refused, so no test reaches the network.
type hubTransport struct{ hub string }

func (h hubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch host := r.URL.Hostname(); {
	case host == "index.docker.io" || host == "registry-1.docker.io":
		r2 := r.Clone(r.Context())
		r2.URL.Scheme, r2.URL.Host, r2.Host = "http", h.hub, h.hub
		return http.DefaultTransport.RoundTrip(r2)
	case host == "127.0.0.1" || host == "localhost":
		return http.DefaultTransport.RoundTrip(r)
	default:
		return nil, fmt.Errorf("test transport: no network (refused %s)", r.URL.Host)
	}
}

// imageEnv is a testEnv whose image checks (and whose fake Portainer's
// pulls) ask hub as docker.io, through mirrors.
func imageEnv(t *testing.T, hub *testRegistry, mirrors string, opts ...envOption) *testEnv {
	t.Helper()
	tr := hubTransport{hub: hub.host}
	reg, err := NewRegistries(RegistriesConfig{Mirrors: mirrors, Transport: tr, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	lib := portLibrary(t, map[string]portApp{
		"pair": {compose: "  pair:\n    image: hello:1\n    container_name: $W9_ID\n" +
			"  extra:\n    image: missing:2 # the one the hub lacks\n"},
		"tmpl": {env: "", compose: "  tmpl:\n    image: $W9_REPO:$W9_VERSION\n    container_name: $W9_ID\n"},
	})
	all := append([]envOption{withLibrary(lib), withRegistries(reg), withPortainer(func(o *portainerfake.Options) {
		o.Pullable = portainerfake.RegistryPullable(remote.WithTransport(tr))
	})}, opts...)
	return newEnv(t, all...)
}

// Acceptance (issue 10, line 5), first half: the hub holds library/hello:1
// only; an install of an app needing hello:1 and missing:2 is refused,
// naming missing:2 and what was tried, and nothing is written.
func TestInstallRefusesUnreachableImage(t *testing.T) {
	hub := newTestRegistry(t, "library/hello:1")
	e := imageEnv(t, hub, "")
	_, err := e.Svc.Install(context.Background(), InstallRequest{AppName: "pair", AppID: "pair1"})
	if apperr.CodeOf(err) != apperr.PreconditionFailed {
		t.Fatalf("install = %v, want PRECONDITION_FAILED", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "image missing:2") || !strings.Contains(msg, "index.docker.io/library/missing:2: not found (404)") ||
		!strings.Contains(msg, "service extra") || strings.Contains(msg, "image hello:1") {
		t.Fatalf("message %q: want missing:2 named with what was tried, and hello:1 not refused", msg)
	}
	if got := e.leftovers("pair1"); len(got) > 0 {
		t.Fatalf("a refused install left %v", got)
	}
	// The caller may insist: the install is then submitted (and fails at
	// deploy, where the endpoint cannot pull it either).
	op, err := e.Svc.Install(context.Background(), InstallRequest{AppName: "pair", AppID: "pair2", AllowUnreachableImages: true})
	if err != nil {
		t.Fatalf("install with allowUnreachableImages: %v", err)
	}
	done := e.wait(op)
	if done.Status == ops.StatusSucceeded || !strings.Contains(done.Error, "missing:2") {
		t.Fatalf("operation %s (%s), want a deploy failure naming missing:2", done.Status, done.Error)
	}
}

// Acceptance (issue 10, line 5), second half: with a mirror that has
// missing:2, the install succeeds and the committed compose file names the
// mirror's reference; hello:1 stays as it was (the mirror lacks it).
func TestInstallThroughMirror(t *testing.T) {
	hub := newTestRegistry(t, "library/hello:1")
	mirror := newTestRegistry(t, "library/missing:2")
	e := imageEnv(t, hub, "docker.io="+mirror.host)
	op := e.install(InstallRequest{AppName: "pair", AppID: "pair1"})
	if op.Status != ops.StatusSucceeded {
		t.Fatalf("install %s: %s", op.Status, op.Error)
	}
	compose := string(e.Gitea.Files(e.Owner, "pair1", "main")["docker-compose.yml"])
	want := `image: "` + mirror.host + `/library/missing:2" # the one the hub lacks`
	if !strings.Contains(compose, want) || !strings.Contains(compose, "image: hello:1\n") {
		t.Fatalf("committed compose:\n%s\nwant %q and hello:1 untouched", compose, want)
	}
	var images []string
	for _, c := range e.Portainer.Containers(1) {
		images = append(images, c.Image)
	}
	slices.Sort(images)
	if !slices.Equal(images, []string{mirror.host + "/library/missing:2", "hello:1"}) {
		t.Fatalf("containers run %v", images)
	}
	// App.images: read from the deployed commit; both present now.
	got, err := e.Svc.AppImages(context.Background(), AppRef{ID: "pair1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("images = %+v", got)
	}
	for _, im := range got {
		if im.Present == nil || !*im.Present || !im.Reachable {
			t.Errorf("image %+v: want present and reachable", im)
		}
	}
	if got[0].Ref != mirror.host+"/library/missing:2" || got[0].Via != got[0].Ref || got[1].Ref != "hello:1" || got[1].Via != "hello:1" ||
		!slices.Equal(got[1].Tried, []string{mirror.host + "/library/hello:1: not found (404)", "index.docker.io/library/hello:1: found"}) {
		t.Errorf("images = %+v", got)
	}
}

// The registryMirrors run-time setting overrides the flag's mirrors, and
// a malformed one is refused when set.
func TestRegistryMirrorsSetting(t *testing.T) {
	hub := newTestRegistry(t, "library/hello:1")
	mirror := newTestRegistry(t, "library/missing:2")
	e := imageEnv(t, hub, "docker.io=127.0.0.1:1") // a mirror that is down
	e.Svc.UseSettings(e.DB)
	ctx := context.Background()
	if _, err := e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "registryMirrors", Value: "docker.io"}}); apperr.CodeOf(err) != apperr.ValidationFailed {
		t.Fatalf("malformed setting: %v, want VALIDATION_FAILED", err)
	}
	_, err := e.Svc.Install(ctx, InstallRequest{AppName: "pair", AppID: "pair1"})
	if apperr.CodeOf(err) != apperr.PreconditionFailed || !strings.Contains(err.Error(), "127.0.0.1:1/library/missing:2: unreachable") {
		t.Fatalf("with the flag's dead mirror: %v", err)
	}
	if _, err := e.Svc.UpdateSettings(ctx, []EnvSetting{{Name: "registryMirrors", Value: "docker.io=" + mirror.host}}); err != nil {
		t.Fatal(err)
	}
	if op := e.install(InstallRequest{AppName: "pair", AppID: "pair1"}); op.Status != ops.StatusSucceeded {
		t.Fatalf("install through the setting's mirror: %s %s", op.Status, op.Error)
	}
}

// An image the endpoint already has needs no registry; a templated image
// line is rewritten too when only the mirror has the image.
func TestInstallImagePresentOrTemplated(t *testing.T) {
	hub := newTestRegistry(t) // empty
	mirror := newTestRegistry(t, "traefik/whoami:1.0")
	e := imageEnv(t, hub, "docker.io="+mirror.host)
	if err := e.Portainer.AddImage(1, "hello:1"); err != nil {
		t.Fatal(err)
	}
	if err := e.Portainer.AddImage(1, "docker.io/library/missing:2"); err != nil {
		t.Fatal(err)
	}
	if op := e.install(InstallRequest{AppName: "pair", AppID: "pair1"}); op.Status != ops.StatusSucceeded {
		t.Fatalf("install of present images: %s %s", op.Status, op.Error)
	}
	if c := string(e.Gitea.Files(e.Owner, "pair1", "main")["docker-compose.yml"]); strings.Contains(c, mirror.host) {
		t.Fatalf("present images were rewritten:\n%s", c)
	}
	if op := e.install(InstallRequest{AppName: "tmpl", AppID: "tmpl1"}); op.Status != ops.StatusSucceeded {
		t.Fatalf("install of the templated app: %s %s", op.Status, op.Error)
	}
	c := string(e.Gitea.Files(e.Owner, "tmpl1", "main")["docker-compose.yml"])
	if !strings.Contains(c, `image: "`+mirror.host+`/traefik/whoami:1.0"`+"\n") {
		t.Fatalf("templated image not rewritten:\n%s", c)
	}
}

// A registry outage: the check gives up after its timeout, says so, and
// the answer is cached briefly (a second look asks nothing).
func TestRegistryOutageAndCache(t *testing.T) {
	hub := newTestRegistry(t, "library/hello:1")
	e := imageEnv(t, hub, "")
	ctx := context.Background()
	first, err := e.Svc.CatalogImages(ctx, "pair", "")
	if err != nil {
		t.Fatal(err)
	}
	// In service order: extra (missing:2), pair (hello:1).
	if len(first) != 2 || first[1].Ref != "hello:1" || !first[1].Reachable || first[1].Present != nil || first[1].Via != "hello:1" ||
		first[0].Ref != "missing:2" || first[0].Reachable || !slices.Equal(first[0].Services, []string{"extra"}) {
		t.Fatalf("catalog images = %+v", first)
	}
	asked := hub.manifests.Load()
	if _, err := e.Svc.CatalogImages(ctx, "pair", "1.0"); err != nil {
		t.Fatal(err)
	}
	if n := hub.manifests.Load(); n != asked {
		t.Fatalf("a second look asked the registry %d more times; want the cache", n-asked)
	}
	if _, err := e.Svc.CatalogImages(ctx, "pair", "9.9"); apperr.CodeOf(err) != apperr.ValidationFailed {
		t.Fatalf("unknown version: %v", err)
	}

	// A registry that accepts connections and never answers.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hang.Close)
	reg, err := NewRegistries(RegistriesConfig{Transport: hubTransport{hub: strings.TrimPrefix(hang.URL, "http://")}, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rc := reg.Reachable(ctx, "hello:1")
	if rc.ok || len(rc.tried) != 1 || !strings.Contains(rc.tried[0], "no answer within 200ms") {
		t.Fatalf("hanging registry: %+v", rc)
	}
	// A caller that gives up does not wait for the registry.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if rc := reg.Reachable(cctx, "other:1"); rc.ok || !strings.Contains(rc.tried[0], "not asked to the end") {
		t.Fatalf("cancelled check: %+v", rc)
	}
}

// The default library's images, without a registry checker: listed, with
// reachability unchecked and saying so.
func TestCatalogImagesDefaultLibrary(t *testing.T) {
	e := newEnv(t)
	got, err := e.Svc.CatalogImages(context.Background(), "wordpress", "")
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, im := range got {
		refs = append(refs, im.Ref)
		if im.Reachable || len(im.Tried) == 0 || !strings.Contains(im.Tried[0], "not checked") {
			t.Errorf("image %+v: want unchecked", im)
		}
	}
	lib, _ := e.Lib.Get("wordpress")
	if len(refs) < 2 || !slices.Contains(refs, "wordpress:"+lib.DefaultVersion) {
		t.Fatalf("wordpress images = %v", refs)
	}
	if _, err := e.Svc.CatalogImages(context.Background(), "nope", ""); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("unknown app: %v", err)
	}
}

func TestParseMirrors(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string][]string
		wantErr bool
	}{
		{"", map[string][]string{}, false},
		{"docker.io=mirror.example:5000", map[string][]string{"index.docker.io": {"mirror.example:5000"}}, false},
		{"docker.io=http://10.0.0.5:5000/hub, ghcr.io=ghcr-mirror.example; docker.io=second.example",
			map[string][]string{"index.docker.io": {"http://10.0.0.5:5000/hub", "second.example"}, "ghcr.io": {"ghcr-mirror.example"}}, false},
		{"docker.io", nil, true},
		{"=mirror", nil, true},
		{"docker.io=bad host", nil, true},
		{"docker.io=mirror.example/UPPER", nil, true},
		{"docker.io=http://user:s3cret@mirror.example", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseMirrors(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseMirrors(%q) error = %v", tt.in, err)
			continue
		}
		if err != nil {
			if apperr.CodeOf(err) != apperr.ValidationFailed || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("ParseMirrors(%q): %v, want VALIDATION_FAILED", tt.in, err)
			}
			continue
		}
		flat := map[string][]string{}
		for k, ms := range got {
			for _, m := range ms {
				flat[k] = append(flat[k], m.String())
			}
		}
		if fmt.Sprint(flat) != fmt.Sprint(tt.want) {
			t.Errorf("ParseMirrors(%q) = %v, want %v", tt.in, flat, tt.want)
		}
	}
}

// Mirror references keep the repository path, a mirror's prefix, and a
// digest.
func TestMirrorCandidates(t *testing.T) {
	reg, err := NewRegistries(RegistriesConfig{Mirrors: "docker.io=m.example:5000/hub,quay.io=q.example"})
	if err != nil {
		t.Fatal(err)
	}
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for in, want := range map[string][]string{
		"nginx:1.27":                {"m.example:5000/hub/library/nginx:1.27", "index.docker.io/library/nginx:1.27"},
		"louislam/uptime-kuma:1":    {"m.example:5000/hub/louislam/uptime-kuma:1", "index.docker.io/louislam/uptime-kuma:1"},
		"quay.io/org/app@" + digest: {"q.example/org/app@" + digest, "quay.io/org/app@" + digest},
		"ghcr.io/o/a:2":             {"ghcr.io/o/a:2"},
	} {
		ref, err := name.ParseReference(in)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range reg.candidates(ref) {
			got = append(got, c.text)
		}
		if !slices.Equal(got, want) {
			t.Errorf("candidates(%s) = %v, want %v", in, got, want)
		}
	}
}

func TestRewriteImages(t *testing.T) {
	const compose = `# top comment
services:
  web:
    image: $W9_REPO:$W9_VERSION   # main
    ports: ["80:80"]
  db:
    image: "mariadb:11"
  cache: {image: 'redis:7', restart: always}
  built:
    build: .
volumes:
  data:
`
	out, err := rewriteImages([]byte(compose), map[string]string{"web": "m:5000/library/wp:6", "db": "m:5000/library/mariadb:11", "cache": "m:5000/library/redis:7"})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(
		"image: $W9_REPO:$W9_VERSION   # main", `image: "m:5000/library/wp:6"   # main`,
		`image: "mariadb:11"`, `image: "m:5000/library/mariadb:11"`,
		`{image: 'redis:7', restart`, `{image: "m:5000/library/redis:7", restart`,
	).Replace(compose)
	if string(out) != want {
		t.Fatalf("rewritten:\n%s\nwant:\n%s", out, want)
	}
	p, err := loadProject(context.Background(), "x", out, nil)
	if err != nil {
		t.Fatalf("rewritten file does not load: %v", err)
	}
	if p.Services["web"].Image != "m:5000/library/wp:6" || p.Services["cache"].Image != "m:5000/library/redis:7" {
		t.Fatalf("loaded images: web %q cache %q", p.Services["web"].Image, p.Services["cache"].Image)
	}
	if _, err := rewriteImages([]byte(compose), map[string]string{"built": "x:1"}); err == nil {
		t.Fatal("a service without an image line was rewritten")
	}
	if got, err := rewriteImages([]byte(compose), nil); err != nil || string(got) != compose {
		t.Fatal("no rewrites changed the file")
	}
	if _, err := rewriteImages([]byte("services: [\n"), map[string]string{"a": "b"}); err == nil || errors.Is(err, context.Canceled) {
		t.Fatal("an unparsable file was rewritten")
	}
}

// Portainer's image inspect failing is not "absent": the image is then
// judged by the registries alone, and a refusal says the inspect failed.
func TestInstallImagesWhenInspectFails(t *testing.T) {
	hub := newTestRegistry(t, "library/hello:1")
	e := imageEnv(t, hub, "")
	e.Portainer.Faults.Fail("GET /api/endpoints/{id}/docker/images/{rest...}", faults.Fault{Status: 500, Body: `{"message":"boom"}`, Times: 100})
	_, err := e.Svc.Install(context.Background(), InstallRequest{AppName: "pair", AppID: "pair1"})
	if apperr.CodeOf(err) != apperr.PreconditionFailed || !strings.Contains(err.Error(), "endpoint 1: image inspect failed") ||
		!strings.Contains(err.Error(), "image missing:2") {
		t.Fatalf("install = %v", err)
	}
	hub.push(t, "library/missing:2")
	// The negative answer for missing:2 is cached for a minute: a fresh
	// checker sees the push.
	reg, err := NewRegistries(RegistriesConfig{Transport: hubTransport{hub: hub.host}})
	if err != nil {
		t.Fatal(err)
	}
	e.Svc.cfg.Registries = reg
	if op := e.install(InstallRequest{AppName: "pair", AppID: "pair1"}); op.Status != ops.StatusSucceeded {
		t.Fatalf("install with inspect failing but registries answering: %s %s", op.Status, op.Error)
	}
}

// The apps listing asks no registry (and no image inspect), even when
// the registries hang: only App.images does.
func TestAppsListingAsksNoRegistry(t *testing.T) {
	hub := newTestRegistry(t, "library/hello:1")
	mirror := newTestRegistry(t, "library/missing:2")
	e := imageEnv(t, hub, "docker.io="+mirror.host)
	if op := e.install(InstallRequest{AppName: "pair", AppID: "pair1"}); op.Status != ops.StatusSucceeded {
		t.Fatalf("install: %s %s", op.Status, op.Error)
	}
	before := hub.manifests.Load() + mirror.manifests.Load()
	e.Portainer.Faults.ResetCalls()
	v := e.Svc.NewView()
	list, err := v.Apps(context.Background(), ListQuery{})
	if err != nil || len(list.Apps) != 1 {
		t.Fatalf("apps = %+v, %v", list, err)
	}
	if _, errs := v.Env(context.Background(), []AppRef{list.Apps[0].AppRef}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if n := hub.manifests.Load() + mirror.manifests.Load() - before; n != 0 {
		t.Fatalf("the listing asked registries %d times", n)
	}
	if n := e.Portainer.Faults.Calls("GET /api/endpoints/{id}/docker/images/{rest...}"); n != 0 {
		t.Fatalf("the listing inspected images %d times", n)
	}
}
