// Package portainer is the typed client for the Portainer CE API (stacks,
// environments, and the Docker proxy for containers and volumes), following
// shared/specs/portainer-contract.md.
package portainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/appmanage/appmanage/datasources/upstream"
)

// Re-exported sentinels, so callers need not import upstream to branch.
var (
	ErrNotFound     = upstream.ErrNotFound
	ErrConflict     = upstream.ErrConflict
	ErrUnauthorized = upstream.ErrUnauthorized
	ErrUnavailable  = upstream.ErrUnavailable
)

// Defaults for Config.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultDeployTimeout = 10 * time.Minute
)

// Config configures a Client. Either APIKey or Username and Password must be
// set; the API key wins when both are.
type Config struct {
	URL        string // Portainer root, e.g. https://portainer:9443 (the client adds /api)
	APIKey     string
	Username   string
	Password   string
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Timeout bounds ordinary calls (default 30s).
	Timeout time.Duration
	// DeployTimeout bounds calls that run compose synchronously: create,
	// redeploy, start, stop, delete, migrate (default 10 min).
	DeployTimeout time.Duration
	Observer      upstream.Observer
	// MaxRetries of idempotent calls; 0 means the upstream default, <0 none.
	MaxRetries int
	// RetryWait is the first backoff step (tests shorten it).
	RetryWait time.Duration
}

// Client talks to one Portainer instance. It is safe for concurrent use.
type Client struct {
	c             *upstream.Caller
	apiKey        string
	user, pass    string
	deployTimeout time.Duration
	log           *slog.Logger
	lists         upstream.DecodeMemo // the polled lists: stacks, endpoints, containers

	mu  sync.Mutex // guards jwt; held during login so only one runs
	jwt string
}

// New validates cfg and builds a Client. It makes no call.
func New(cfg Config) (*Client, error) {
	u, err := upstream.ParseBaseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("portainer: %w", err)
	}
	if cfg.APIKey == "" && (cfg.Username == "" || cfg.Password == "") {
		return nil, errors.New("portainer: an API key or a username and password is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.DeployTimeout <= 0 {
		cfg.DeployTimeout = DefaultDeployTimeout
	}
	base := strings.TrimRight(u.String(), "/")
	if !strings.HasSuffix(base, "/api") {
		base += "/api"
	}
	c := &Client{
		c: upstream.NewCaller(upstream.Config{
			Upstream:     "portainer",
			BaseURL:      base,
			HTTPClient:   cfg.HTTPClient,
			Logger:       cfg.Logger,
			Timeout:      cfg.Timeout,
			MaxRetries:   cfg.MaxRetries,
			RetryWait:    cfg.RetryWait,
			Observer:     cfg.Observer,
			ErrorMessage: errorMessage,
		}),
		apiKey:        cfg.APIKey,
		user:          cfg.Username,
		pass:          cfg.Password,
		deployTimeout: cfg.DeployTimeout,
		log:           cfg.Logger.With("upstream", "portainer"),
	}
	return c, nil
}

// errorMessage turns Portainer's {"message","details"} (or Docker's
// {"message"}) into one line. Portainer's details are the cause with its
// first letter capitalized (libhttp's writeErrorResponse), and a deploy
// failure puts the same text in both ("failed to deploy a stack: X" and
// "Failed to deploy a stack: X"), so a text the other one already holds is
// said once. Compose output is reordered by composeOutput.
func errorMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
		Details string `json:"details"`
	}
	trimmed := bytes.TrimSpace(body)
	if err := json.Unmarshal(trimmed, &e); err != nil {
		// Plain-text answers (gorilla/csrf's 403, proxies) are short and
		// carry no request data.
		if len(trimmed) > 0 && len(trimmed) <= 300 && !bytes.ContainsAny(trimmed, "<{") {
			return string(trimmed)
		}
		return ""
	}
	msg, det := strings.TrimSpace(e.Message), strings.TrimSpace(e.Details)
	var text string
	switch lm, ld := strings.ToLower(msg), strings.ToLower(det); {
	case msg == "":
		text = det
	case det == "" || strings.Contains(lm, ld):
		text = msg
	case strings.Contains(ld, lm):
		text = det
	default:
		text = msg + ": " + det
	}
	return composeOutput(text)
}

// maxComposeLines bounds the compose output kept in an error.
const maxComposeLines = 12

// composeOutput rewrites a failed compose run's stderr, which Portainer
// 2.19-2.23 return whole after their own prefix ("failed to deploy a
// stack:  Container x  Creating\n...\nError response from daemon: ..."),
// as one line with the last line, the daemon's error, first: "failed to
// deploy a stack: Error response from daemon: ... (compose output:
// Container x Creating; ...)". A one-line text is returned as it is.
func composeOutput(text string) string {
	if !strings.Contains(text, "\n") {
		return text
	}
	lines := strings.Split(text, "\n")
	lead := ""
	// Compose's progress lines start with a space, so the prefix ends in
	// a colon and two spaces.
	if i := strings.Index(lines[0], ":  "); i >= 0 {
		lead, lines[0] = lines[0][:i+1], lines[0][i+1:]
	}
	var out []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 {
			out = append(out, strings.Join(f, " "))
		}
	}
	if len(out) == 0 {
		return strings.TrimSpace(lead)
	}
	last, rest := out[len(out)-1], out[:len(out)-1]
	// Compose also prints the daemon's message on the failing service's
	// line (" app Error <message>"): said once, in the last line.
	if msg := strings.TrimPrefix(last, "Error response from daemon: "); len(msg) > 10 {
		for i, l := range rest {
			rest[i] = strings.TrimSpace(strings.Replace(l, msg, "", 1))
		}
	}
	if lead != "" {
		last = lead + " " + last
	}
	if len(rest) == 0 {
		return last
	}
	if n := len(rest) - maxComposeLines; n > 0 {
		rest = append([]string{fmt.Sprintf("(%d earlier lines)", n)}, rest[n:]...)
	}
	return last + " (compose output: " + strings.Join(rest, "; ") + ")"
}

// do performs an authenticated call. With JWT auth, a 401 triggers one
// re-login and one repeat of the call: Portainer rejected the request before
// doing any work, so even a create is safe to repeat.
func (c *Client) do(ctx context.Context, call upstream.Call) (*upstream.Response, error) {
	if c.apiKey != "" {
		call.Header = withHeader(call.Header, "X-API-Key", c.apiKey)
		return c.c.Do(ctx, call)
	}
	token, err := c.token(ctx, "")
	if err != nil {
		return nil, err
	}
	base := call.Header
	call.Header = withHeader(base, "Authorization", "Bearer "+token)
	resp, err := c.c.Do(ctx, call)
	if upstream.StatusOf(err) != http.StatusUnauthorized {
		return resp, err
	}
	c.log.DebugContext(ctx, "JWT rejected, logging in again", "route", call.Route)
	if token, err = c.token(ctx, token); err != nil {
		return nil, err
	}
	call.Header = withHeader(base, "Authorization", "Bearer "+token)
	return c.c.Do(ctx, call)
}

func withHeader(h http.Header, k, v string) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	out.Set(k, v)
	return out
}

// token returns the cached JWT, logging in when there is none or when the
// cached one equals stale (it was just rejected). Concurrent callers that saw
// the same stale token share one login.
func (c *Client) token(ctx context.Context, stale string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.jwt != "" && c.jwt != stale {
		return c.jwt, nil
	}
	var out struct {
		JWT string `json:"jwt"`
	}
	_, err := c.c.Do(ctx, upstream.Call{
		Method: http.MethodPost, Path: "/auth",
		Body:   map[string]string{"Username": c.user, "Password": c.pass},
		Result: &out,
	})
	if err != nil {
		c.jwt = ""
		return "", fmt.Errorf("portainer: login: %w", err)
	}
	if out.JWT == "" {
		c.jwt = ""
		return "", errors.New("portainer: login: empty token in answer")
	}
	c.jwt = out.JWT
	return c.jwt, nil
}

func endpointQuery(endpointID int) url.Values {
	return url.Values{"endpointId": {fmt.Sprint(endpointID)}}
}

// SystemStatus returns Portainer's version and instance id.
func (c *Client) SystemStatus(ctx context.Context) (*SystemStatus, error) {
	var out SystemStatus
	if _, err := c.do(ctx, upstream.Call{Method: http.MethodGet, Path: "/system/status", Result: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListEndpoints returns every environment the caller may see.
// The list is shared with other callers that got the same answer: do not
// modify it.
func (c *Client) ListEndpoints(ctx context.Context) ([]Endpoint, error) {
	var out []Endpoint
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodGet, Path: "/endpoints",
		Query:  url.Values{"excludeSnapshots": {"true"}},
		Result: &out, Memo: &c.lists,
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetEndpoint returns one environment; ErrNotFound when it does not exist.
func (c *Client) GetEndpoint(ctx context.Context, id int) (*Endpoint, error) {
	var out Endpoint
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/endpoints/{id}", Path: fmt.Sprintf("/endpoints/%d", id),
		Result: &out,
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// MemoHits reports how many stack, endpoint and container lists were
// reused without decoding.
func (c *Client) MemoHits() upstream.MemoHits { return c.lists.Hits() }
