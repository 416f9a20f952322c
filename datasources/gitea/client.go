// Package gitea is our client for the Gitea REST API (/api/v1): the app
// repositories, their files (one commit per change set) and their history.
//
// Transport goes through upstream.Caller (per-call ctx and timeout, retries
// only for idempotent calls, typed *upstream.APIError). The Gitea SDK's
// client is not used for transport: its context is client-wide (SetContext
// is not safe per call) and its errors are untyped. Its structs are used to
// decode Gitea's JSON, so field names follow the SDK that tracks Gitea.
package gitea

import (
	"context"
	"encoding/base64"
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

// Upstream is the name used in errors, logs and metrics.
const Upstream = "gitea"

// Config configures a Client.
type Config struct {
	// BaseURL is Gitea's root URL (ROOT_URL), e.g. http://gitea:3000; the API
	// lives under /api/v1. A trailing /api/v1 is accepted too.
	BaseURL string
	// Token is an access token (sent as "Authorization: token <t>"); it wins
	// over Username/Password (basic auth).
	Token    string
	Username string
	Password string
	// Owner is the user or organisation that owns the app repositories. Empty
	// means the authenticated user.
	Owner      string
	HTTPClient *http.Client
	Logger     *slog.Logger
	Timeout    time.Duration // per attempt; 0 means 30s
	Observer   upstream.Observer
	// MaxRetries and RetryWait tune retries of idempotent calls (0 = the
	// upstream package's defaults; MaxRetries < 0 disables them).
	MaxRetries int
	RetryWait  time.Duration
}

// Client talks to one Gitea instance on behalf of one owner.
type Client struct {
	call *upstream.Caller
	auth string
	cfg  Config

	mu       sync.Mutex
	owner    string
	resolved bool // owner and isOrg are known
	isOrg    bool
}

// ErrNotFile is returned by GetFile when the path is a directory (or another
// non-file entry).
var ErrNotFile = errors.New("gitea: path is not a file")

// New validates cfg and builds a Client. It makes no request.
func New(cfg Config) (*Client, error) {
	base := strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/")
	base = strings.TrimSuffix(base, "/api/v1")
	if _, err := upstream.ParseBaseURL(base); err != nil {
		return nil, fmt.Errorf("gitea: base URL: %w", err)
	}
	cfg.BaseURL = base
	var auth string
	switch {
	case cfg.Token != "":
		auth = "token " + cfg.Token
	case cfg.Username != "" && cfg.Password != "":
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password))
	default:
		return nil, errors.New("gitea: a token or a username and password are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	owner := cfg.Owner
	if owner == "" && cfg.Token == "" {
		owner = cfg.Username
	}
	c := &Client{
		cfg:   cfg,
		auth:  auth,
		owner: owner,
		call: upstream.NewCaller(upstream.Config{
			Upstream:     Upstream,
			BaseURL:      base + "/api/v1",
			HTTPClient:   cfg.HTTPClient,
			Logger:       cfg.Logger,
			Timeout:      cfg.Timeout,
			MaxRetries:   cfg.MaxRetries,
			RetryWait:    cfg.RetryWait,
			Observer:     cfg.Observer,
			ErrorMessage: errorMessage,
		}),
	}
	return c, nil
}

// errorMessage extracts Gitea's {"message", "errors"} error text.
func errorMessage(body []byte) string {
	var e struct {
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	msg := e.Message
	if len(e.Errors) > 0 {
		if msg == "" {
			msg = strings.Join(e.Errors, "; ")
		} else {
			msg += ": " + strings.Join(e.Errors, "; ")
		}
	}
	return msg
}

// Owner returns the repositories' owner: the configured one, or the
// authenticated user once a call has looked it up ("" before that).
func (c *Client) Owner() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owner
}

// BaseURL returns Gitea's root URL as configured.
func (c *Client) BaseURL() string { return c.cfg.BaseURL }

func (c *Client) do(ctx context.Context, call upstream.Call) (*upstream.Response, error) {
	if call.Header == nil {
		call.Header = http.Header{}
	}
	call.Header.Set("Authorization", c.auth)
	return c.call.Do(ctx, call)
}

// resolveOwner finds the owner and whether it is an organisation, once:
// GET /user when no owner is configured, else GET /orgs/{owner} (404 means a
// user). Failures are not cached.
func (c *Client) resolveOwner(ctx context.Context) (string, bool, error) {
	c.mu.Lock()
	owner, resolved, isOrg := c.owner, c.resolved, c.isOrg
	c.mu.Unlock()
	if resolved {
		return owner, isOrg, nil
	}
	if owner == "" {
		var me struct {
			Login string `json:"login"`
		}
		if _, err := c.do(ctx, upstream.Call{Method: http.MethodGet, Path: "/user", Result: &me}); err != nil {
			return "", false, err
		}
		if me.Login == "" {
			return "", false, &upstream.APIError{Upstream: Upstream, Method: http.MethodGet, Path: "/user", Status: http.StatusOK, Message: "no login in response"}
		}
		owner, isOrg = me.Login, false
	} else {
		_, err := c.do(ctx, upstream.Call{
			Method: http.MethodGet, Route: "/orgs/{org}", Path: "/orgs/" + url.PathEscape(owner),
		})
		switch {
		case err == nil:
			isOrg = true
		case errors.Is(err, upstream.ErrNotFound):
			isOrg = false
		default:
			return "", false, err
		}
	}
	c.mu.Lock()
	c.owner, c.isOrg, c.resolved = owner, isOrg, true
	c.mu.Unlock()
	return owner, isOrg, nil
}

// repoPath returns /repos/{owner}/{name}, resolving the owner if needed.
func (c *Client) repoPath(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", errors.New("gitea: repository name is empty")
	}
	c.mu.Lock()
	owner := c.owner
	c.mu.Unlock()
	if owner == "" {
		o, _, err := c.resolveOwner(ctx)
		if err != nil {
			return "", err
		}
		owner = o
	}
	return "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name), nil
}

// escapeFilePath escapes each segment of a repository path.
func escapeFilePath(p string) string {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// Version returns the server's version string.
func (c *Client) Version(ctx context.Context) (string, error) {
	var v struct {
		Version string `json:"version"`
	}
	if _, err := c.do(ctx, upstream.Call{Method: http.MethodGet, Path: "/version", Result: &v}); err != nil {
		return "", err
	}
	return v.Version, nil
}
