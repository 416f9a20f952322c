package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Khan/genqlient/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Exit statuses of client commands.
const (
	exitOK          = 0
	exitFailed      = 1 // the operation failed, rolled back or was refused
	exitUsage       = 2 // bad usage, or the server does not offer the command
	exitUnreachable = 3 // the server could not be reached
)

// exitError carries an exit status up to Execute, which prints err.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func failedf(format string, a ...any) error {
	return &exitError{code: exitFailed, err: fmt.Errorf(format, a...)}
}

// conn is a connection to one server: a typed GraphQL client over HTTP and
// the means to open a websocket for subscriptions.
type conn struct {
	endpoint string // http(s)://host/graphql
	apiKey   string
	gql      graphql.Client
	http     *http.Client
}

// keyTransport adds the API key to every request.
type keyTransport struct {
	key  string
	base http.RoundTripper
}

func (t keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if t.key != "" {
		r.Header.Set("X-API-Key", t.key)
	}
	r.Header.Set("User-Agent", "appmanage-cli")
	return t.base.RoundTrip(r)
}

// normalizeServer turns "host:port", "http://host" or ".../graphql" into the
// GraphQL endpoint URL.
func normalizeServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", usageErrorf("no server: give --server URL, set APPMANAGE_SERVER, or run 'appmanage login'")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", usageErrorf("server %q is not an http(s) URL", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/graphql") {
		u.Path += "/graphql"
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

func newConn(server, apiKey string, timeout time.Duration) (*conn, error) {
	endpoint, err := normalizeServer(server)
	if err != nil {
		return nil, err
	}
	if apiKey == "" {
		return nil, usageErrorf("no API key: give --api-key, set APPMANAGE_API_KEY, or run 'appmanage login'")
	}
	hc := &http.Client{Timeout: timeout, Transport: keyTransport{key: apiKey, base: http.DefaultTransport}}
	return &conn{endpoint: endpoint, apiKey: apiKey, gql: graphql.NewClient(endpoint, hc), http: hc}, nil
}

// gqlCode is the extensions.code of a GraphQL error, or "".
func gqlCode(e *gqlerror.Error) string {
	if e == nil || e.Extensions == nil {
		return ""
	}
	c, _ := e.Extensions["code"].(string)
	return c
}

// unreachable reports whether err means no answer came from the server.
func unreachable(err error) bool {
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	var ue *url.Error
	switch {
	case errors.As(err, &oe), errors.As(err, &de):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	case errors.As(err, &ue):
		// A transport failure that is not a net error (e.g. EOF mid-handshake).
		return true
	}
	return false
}

// classify turns an error of a GraphQL call into an exitError naming what
// was refused and why. field is the root field called (e.g. installApp).
func classify(err error, field string) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return &exitError{code: exitFailed, err: fmt.Errorf("%s: interrupted", field)}
	}
	var he *graphql.HTTPError
	var list gqlerror.List
	switch {
	case errors.As(err, &he):
		list = he.Response.Errors
		if len(list) == 0 {
			return failedf("%s: HTTP %d from the server", field, he.StatusCode)
		}
		if he.StatusCode == http.StatusNotFound && gqlCode(list[0]) == "" {
			return failedf("%s: the server answered 404: is --server the appmanage server?", field)
		}
	case errors.As(err, &list):
	case unreachable(err):
		return &exitError{code: exitUnreachable, err: fmt.Errorf("server unreachable: %w", err)}
	default:
		return failedf("%s: %w", field, err)
	}
	if len(list) == 0 {
		return failedf("%s: %w", field, err)
	}
	first := list[0]
	code := gqlCode(first)
	msg := first.Message
	for _, e := range list[1:] {
		msg += "; " + e.Message
	}
	switch code {
	case "NOT_IMPLEMENTED":
		return &exitError{code: exitUsage, err: fmt.Errorf("the server does not offer %s yet: %s", field, msg)}
	case "GRAPHQL_VALIDATION_FAILED":
		// The CLI was built from a newer schema than the server runs.
		return &exitError{code: exitUsage, err: fmt.Errorf("the server does not offer %s (it refused the request: %s); is it older than this CLI?", field, msg)}
	case "":
		return failedf("%s refused: %s", field, msg)
	}
	detail := ""
	if f, ok := first.Extensions["field"].(string); ok && f != "" && !strings.HasPrefix(msg, f+":") {
		detail = " (field " + f + ")"
	}
	if u, ok := first.Extensions["upstream"].(string); ok && u != "" {
		detail += " (upstream " + u + ")"
	}
	return failedf("%s refused (%s): %s%s", field, code, msg, detail)
}
