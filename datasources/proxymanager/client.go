// Package proxymanager is the Nginx Proxy Manager client: token login with
// refresh and re-login, proxy-host CRUD, enable/disable, the nginx_online
// check NPM needs after every write, and certificates. Calls go through
// upstream.Caller, so only idempotent calls are ever retried.
package proxymanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/appmanage/appmanage/datasources/upstream"
)

// refreshMargin: a token with less than this left is refreshed before use.
// NPM tokens last a day and there are no long-lived keys (contracts §3.4.5).
const refreshMargin = time.Hour

// Config configures a Client.
type Config struct {
	URL        string // NPM admin base, e.g. http://npm:81 (without /api)
	Email      string
	Password   string
	HTTPClient *http.Client
	Logger     *slog.Logger
	Timeout    time.Duration // per call; 0 means upstream's default
	Observer   upstream.Observer
	// Now is the clock used for token expiry; nil means time.Now.
	Now func() time.Time
	// MaxRetries and RetryWait tune upstream.Caller's retries of idempotent
	// calls; zero means its defaults.
	MaxRetries int
	RetryWait  time.Duration
}

// Client talks to one NPM instance. It is safe for concurrent use.
type Client struct {
	c        *upstream.Caller
	email    string
	password string
	now      func() time.Time
	log      *slog.Logger
	hosts    upstream.DecodeMemo // the polled proxy-host list

	mu      sync.Mutex // guards token and expires; held across login so only one runs
	token   string
	expires time.Time
}

// New returns a Client. It does not contact NPM.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("npm: URL is required")
	}
	if _, err := upstream.ParseBaseURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("npm: %w", err)
	}
	if cfg.Email == "" || cfg.Password == "" {
		return nil, errors.New("npm: email and password are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	caller := upstream.NewCaller(upstream.Config{
		Upstream:     "npm",
		BaseURL:      strings.TrimRight(cfg.URL, "/") + "/api",
		HTTPClient:   cfg.HTTPClient,
		Logger:       cfg.Logger,
		Timeout:      cfg.Timeout,
		MaxRetries:   cfg.MaxRetries,
		RetryWait:    cfg.RetryWait,
		Observer:     cfg.Observer,
		ErrorMessage: errorMessage,
	})
	return &Client{c: caller, email: cfg.Email, password: cfg.Password, now: cfg.Now,
		log: cfg.Logger.With("upstream", "npm")}, nil
}

// errorMessage reads NPM's {"error":{"code","message"}} body.
func errorMessage(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error.Message
}

// LoginError is a rejected login (wrong credentials, 2FA account). It
// matches upstream.ErrUnauthorized.
type LoginError struct {
	Reason string
	Err    error
}

func (e *LoginError) Error() string {
	if e.Err != nil {
		return "npm: login rejected: " + e.Reason + ": " + e.Err.Error()
	}
	return "npm: login rejected: " + e.Reason
}

func (e *LoginError) Unwrap() error { return e.Err }

func (e *LoginError) Is(target error) bool { return target == upstream.ErrUnauthorized }

type tokenResponse struct {
	Token        string `json:"token"`
	Expires      string `json:"expires"`
	Requires2FA  bool   `json:"requires_2fa"`
	ChallengeTok string `json:"challenge_token"`
}

// bearer returns a usable token, logging in or refreshing as needed.
func (c *Client) bearer(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.token != "" && c.expires.Sub(now) > refreshMargin {
		return c.token, nil
	}
	if c.token != "" && c.expires.After(now) {
		err := c.refreshLocked(ctx)
		if err == nil {
			return c.token, nil
		}
		c.log.InfoContext(ctx, "npm token refresh failed; logging in again", "error", err)
	}
	if err := c.loginLocked(ctx); err != nil {
		return "", err
	}
	return c.token, nil
}

func (c *Client) loginLocked(ctx context.Context) error {
	var tr tokenResponse
	_, err := c.c.Do(ctx, upstream.Call{
		Method: http.MethodPost, Route: "/tokens", Path: "/tokens",
		Body:   map[string]string{"identity": c.email, "secret": c.password},
		Result: &tr,
		// Getting a token changes nothing on the server: safe to retry.
		Idempotent: upstream.Bool(true),
	})
	if err != nil {
		c.token = ""
		if s := upstream.StatusOf(err); s == 400 || s == 401 || s == 403 {
			return &LoginError{Reason: "credentials not accepted", Err: err}
		}
		return fmt.Errorf("npm: login: %w", err)
	}
	if tr.Requires2FA {
		c.token = ""
		return &LoginError{Reason: "the account requires 2FA; use an account without it"}
	}
	if tr.Token == "" {
		c.token = ""
		return fmt.Errorf("npm: login: %w", &upstream.APIError{Upstream: "npm", Method: http.MethodPost,
			Path: "/tokens", Status: 200, Message: "no token in response"})
	}
	c.setTokenLocked(tr)
	return nil
}

func (c *Client) refreshLocked(ctx context.Context) error {
	var tr tokenResponse
	_, err := c.c.Do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/tokens", Path: "/tokens",
		Header: http.Header{"Authorization": {"Bearer " + c.token}},
		Result: &tr,
	})
	if err != nil {
		return err
	}
	if tr.Token == "" {
		return errors.New("no token in refresh response")
	}
	c.setTokenLocked(tr)
	return nil
}

func (c *Client) setTokenLocked(tr tokenResponse) {
	c.token = tr.Token
	exp, err := time.Parse(time.RFC3339Nano, tr.Expires)
	if err != nil {
		// Unknown expiry: trust it for now, refresh on the next call.
		exp = c.now().Add(refreshMargin)
	}
	c.expires = exp
}

// invalidate drops tok unless another call has already replaced it.
func (c *Client) invalidate(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

// authFailure reports whether err means "our token is no good": NPM answers
// an expired token with 400, and ≤2.15.1 answers a missing token or
// permission with 404 (contracts §3.1).
func authFailure(err error, listOrCreate bool) bool {
	var ae *upstream.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Status {
	case 401, 403:
		return true
	case 400:
		return strings.Contains(strings.ToLower(ae.Message), "token has expired")
	case 404:
		// A missing item reads "Not Found - 12"; the permission bug names
		// the request path instead.
		return listOrCreate || strings.HasPrefix(ae.Message, "Not Found - /")
	}
	return false
}

// do performs an authenticated call, logging in again and retrying once
// when the token is refused. A refused request did nothing on the server,
// so even a create may be sent again.
func (c *Client) do(ctx context.Context, call upstream.Call, listOrCreate bool) (*upstream.Response, error) {
	for attempt := 0; ; attempt++ {
		tok, err := c.bearer(ctx)
		if err != nil {
			return nil, err
		}
		call.Header = http.Header{"Authorization": {"Bearer " + tok}}
		resp, err := c.c.Do(ctx, call)
		if err == nil || attempt > 0 || !authFailure(err, listOrCreate) {
			return resp, err
		}
		c.log.InfoContext(ctx, "npm refused the token; logging in again", "route", call.Route, "status", upstream.StatusOf(err))
		c.invalidate(tok)
	}
}

// MemoHits reports how many proxy-host lists were reused without decoding.
func (c *Client) MemoHits() upstream.MemoHits { return c.hosts.Hits() }
