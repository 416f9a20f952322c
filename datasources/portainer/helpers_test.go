package portainer_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"sync"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/gitea"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/suite"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newClient(t *testing.T, cfg portainer.Config) *portainer.Client {
	t.Helper()
	c, err := portainer.New(cfg)
	if err != nil {
		t.Fatalf("portainer.New: %v", err)
	}
	return c
}

// gitSource is a private repository in a Gitea fake, with the basic-auth
// credentials Portainer clones with.
type gitSource struct {
	gitea    *giteafake.Server
	client   *gitea.Client
	name     string
	cloneURL string
	creds    portainer.GitCredentials
}

// newGitSource creates a private repository holding files in one commit.
func newGitSource(t *testing.T, name string, files map[string]string) *gitSource {
	t.Helper()
	cfg, tgt := suite.Gitea(t)
	gf := tgt.RequireFake(t)
	gc, err := gitea.New(cfg)
	if err != nil {
		t.Fatalf("gitea.New: %v", err)
	}
	ctx := ctxT(t)
	repo, err := gc.CreateRepo(ctx, name, gitea.CreateRepoOptions{})
	if err != nil {
		t.Fatalf("create repo: %v", err)
	}
	src := &gitSource{gitea: gf, client: gc, name: name, cloneURL: repo.CloneURL,
		creds: portainer.GitCredentials{Username: giteafake.AdminUser, Password: gf.Token(giteafake.AdminUser)}}
	src.commit(t, files)
	return src
}

// commit writes files (create or overwrite) in one commit and returns its sha.
func (g *gitSource) commit(t *testing.T, files map[string]string) string {
	t.Helper()
	var c gitea.Commit
	for p, content := range files {
		c.Files = append(c.Files, gitea.FileChange{Operation: gitea.OpUpload, Path: p, Content: []byte(content)})
	}
	res, err := g.client.CommitFiles(ctxT(t), g.name, c)
	if err != nil {
		t.Fatalf("commit files: %v", err)
	}
	return res.SHA
}

func (g *gitSource) request(stack string, env ...portainer.EnvVar) portainer.CreateRepositoryStackRequest {
	return portainer.CreateRepositoryStackRequest{
		Name: stack, RepositoryURL: g.cloneURL, RepositoryReferenceName: "refs/heads/main",
		ComposeFile: "docker-compose.yml", RepositoryAuthentication: true,
		RepositoryUsername: g.creds.Username, RepositoryPassword: g.creds.Password, Env: env,
	}
}

const appCompose = `services:
  web:
    image: nginx:${NGINX_VERSION}
    container_name: ${APP_ID}
    restart: unless-stopped
    ports:
      - "${HTTP_PORT}:80"
    env_file: .env
    environment:
      GREETING: hello-${APP_ID}
    labels:
      com.docker.compose.http.port: "80"
    volumes:
      - data:/usr/share/nginx/html
    depends_on:
      - db
  db:
    image: mariadb:11
    environment:
      MARIADB_PASSWORD: ${DB_PASSWORD}
    volumes:
      - db_data:/var/lib/mysql
volumes:
  data:
  db_data:
`

func appEnv(appID string, port string) string {
	return "# app settings\nAPP_ID=" + appID + "\nNGINX_VERSION=1.27\nHTTP_PORT=" + port + "\nDB_PASSWORD=s3cret\n"
}

// headerLog records the auth headers of every request the fake receives.
type headerLog struct {
	mu   sync.Mutex
	reqs []http.Header
}

func (l *headerLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Header.Clone())
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// transport records the headers a client sends (for real servers).
func (l *headerLog) transport(next http.RoundTripper) http.RoundTripper {
	return roundTrip(func(r *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Header.Clone())
		l.mu.Unlock()
		return next.RoundTrip(r)
	})
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (l *headerLog) all() []http.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]http.Header(nil), l.reqs...)
}

func newJar(t *testing.T) http.CookieJar {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return jar
}
