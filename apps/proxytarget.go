package apps

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/library/dotenv"
)

// Labels an app's containers may carry to name the port NPM forwards to.
const (
	httpPortLabel  = "com.docker.compose.http.port"
	httpsPortLabel = "com.docker.compose.https.port"
)

// proxyConfPaths are the app's extra nginx configuration files, by
// precedence.
var proxyConfPaths = []string{"src/nginx_proxy.conf", "src/nginx-proxy.conf"}

// proxyTarget is where NPM forwards an app's domains, and where each value
// came from (shown to users in App.proxies).
type proxyTarget struct {
	Scheme     string
	Port       int
	PortSource string
	Conf       string
	ConfSource string
}

// proxyTarget resolves the forward port and scheme (containers' labels,
// else the repository's .env W9_HTTP_PORT / W9_HTTPS_PORT) and the extra
// nginx configuration (src/nginx_proxy.conf, else src/nginx-proxy.conf),
// reading the app's containers and its repository's main branch now.
func (s *Service) proxyTarget(ctx context.Context, endpoint int, appID string, app *library.App) (proxyTarget, error) {
	cs, err := s.stacks.ListContainers(ctx, endpoint, portainer.ContainerFilter{All: true, Labels: []string{projectLabel + "=" + appID}})
	if err != nil {
		return proxyTarget{}, upstreamErr("portainer", err, "list the app's containers")
	}
	return resolveTarget(ctx, cs, appID, app, s.repoFileReader(appID))
}

// repoFileReader reads files of the app's repository's main branch.
func (s *Service) repoFileReader(appID string) repoReader {
	return func(ctx context.Context, path string) ([]byte, bool, error) {
		b, err := s.repos.GetRawFile(ctx, appID, path, "main")
		if notFound(err) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, upstreamErr("gitea", err, "read "+path)
		}
		return b, true, nil
	}
}

// repoReader reads a file of an app's repository; found is false when the
// file does not exist.
type repoReader func(ctx context.Context, path string) (data []byte, found bool, err error)

// resolveTarget is proxyTarget from the app's containers and a way to read
// its repository.
func resolveTarget(ctx context.Context, cs []portainer.Container, appID string, app *library.App, read repoReader) (proxyTarget, error) {
	var t proxyTarget
	ordered := cs
	if m := mainContainer(cs, appID); m != nil {
		ordered = append([]portainer.Container{*m}, cs...)
	}
	for _, c := range ordered {
		if p, ok := labelPort(c.Labels[httpPortLabel]); ok {
			t.Scheme, t.Port, t.PortSource = "http", p, "label "+httpPortLabel
			break
		}
		if p, ok := labelPort(c.Labels[httpsPortLabel]); ok {
			t.Scheme, t.Port, t.PortSource = "https", p, "label "+httpsPortLabel
			break
		}
	}
	if t.Port == 0 {
		env, src, err := repoEnv(ctx, appID, app, read)
		if err != nil {
			return t, err
		}
		if p, ok := envPort(env, "W9_HTTP_PORT"); ok {
			t.Scheme, t.Port, t.PortSource = "http", p, src+" W9_HTTP_PORT"
		} else if p, ok := envPort(env, "W9_HTTPS_PORT"); ok {
			t.Scheme, t.Port, t.PortSource = "https", p, src+" W9_HTTPS_PORT"
		}
	}
	if t.Port == 0 {
		return t, apperr.Precondition("domains", "cannot tell which port of %s to publish: no %s label and no W9_HTTP_PORT or W9_HTTPS_PORT in its .env", appID, httpPortLabel)
	}
	// Both candidates are read at once (two round trips in the time of
	// one); the first in this order that exists wins.
	paths := proxyConfPaths
	type result struct {
		b     []byte
		found bool
		err   error
	}
	res := make([]result, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() { res[i].b, res[i].found, res[i].err = read(ctx, p) })
	}
	wg.Wait()
	for i, p := range paths {
		if res[i].err != nil {
			return t, res[i].err
		}
		if res[i].found {
			t.Conf, t.ConfSource = string(res[i].b), p
			break
		}
	}
	if t.ConfSource == "" {
		t.ConfSource = "none"
	}
	return t, nil
}

// repoEnv reads the app's .env from its repository, falling back to the
// library template for apps whose repository has none.
func repoEnv(ctx context.Context, appID string, app *library.App, read repoReader) (*dotenv.File, string, error) {
	b, found, err := read(ctx, ".env")
	if err != nil {
		return nil, "", err
	}
	if found {
		f, perr := dotenv.Parse(b)
		if perr != nil {
			return nil, "", apperr.Precondition("env", "the repository's .env cannot be read: %v", perr)
		}
		return f, ".env", nil
	}
	if app == nil || app.Env == nil {
		return nil, "", apperr.Precondition("env", "the repository of %s has no .env", appID)
	}
	return app.Env, "library .env", nil
}

func labelPort(v string) (int, bool) {
	p, err := strconv.Atoi(strings.TrimSpace(v))
	return p, err == nil && p > 0 && p < 65536
}

func envPort(env *dotenv.File, key string) (int, bool) {
	if !env.Has(key) {
		return 0, false
	}
	v, err := env.Expand(key)
	if err != nil {
		return 0, false
	}
	return labelPort(v)
}
