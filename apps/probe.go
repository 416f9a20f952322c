package apps

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// probeTimeout bounds one HTTP request of the health gate.
const probeTimeout = 10 * time.Second

// NPMProbe is the health gate's HTTP check as NPM serves the app: a GET of
// "/" sent to NPM's proxy at base (e.g. http://npm.internal:80, the port
// nginx listens on for the proxy hosts, not the admin port 81) with the
// app's domain as the Host header, so nginx picks the app's proxy host and
// forwards to its container. Redirects are not followed: a 301 to https
// is an answer below 500. client nil uses a plain http.Client.
func NPMProbe(base string, client *http.Client) HTTPProbe {
	c := &http.Client{}
	if client != nil {
		cc := *client
		c = &cc
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	base = strings.TrimRight(base, "/")
	return func(ctx context.Context, domain string) (int, error) {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
		if err != nil {
			return 0, fmt.Errorf("probe %s: %w", domain, err)
		}
		req.Host = domain
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}
}

// NPMProxyBase is where NPM's nginx serves the proxy hosts, derived from
// its admin URL: the same host, plain HTTP on port 80.
func NPMProxyBase(adminURL string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("NPM URL %q has no host", adminURL)
	}
	return "http://" + net.JoinHostPort(u.Hostname(), "80"), nil
}
