package proxymanager

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/appmanage/appmanage/datasources/upstream"
)

// NginxError says NPM saved a host but nginx rejected its config
// (meta.nginx_online false, contracts §3.4.1). The host exists and serves
// nothing; fix or delete it.
type NginxError struct {
	HostID int
	Err    string // nginx's own output (meta.nginx_err)
}

func (e *NginxError) Error() string {
	if e.Err == "" {
		return fmt.Sprintf("npm: nginx rejected the config of proxy host %d", e.HostID)
	}
	return fmt.Sprintf("npm: nginx rejected the config of proxy host %d: %s", e.HostID, e.Err)
}

var expandCertificate = url.Values{"expand": {"certificate"}}

func hostPath(id int) string { return "/nginx/proxy-hosts/" + strconv.Itoa(id) }

// ListProxyHosts returns every proxy host (NPM has no pagination), with its
// certificate expanded.
// The list is shared with other callers that got the same answer: do not
// modify it.
func (c *Client) ListProxyHosts(ctx context.Context) ([]ProxyHost, error) {
	var out []ProxyHost
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/nginx/proxy-hosts", Path: "/nginx/proxy-hosts",
		Query: expandCertificate, Result: &out, Memo: &c.hosts,
	}, true)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetProxyHost returns one host; a missing one is an error matching
// upstream.ErrNotFound.
func (c *Client) GetProxyHost(ctx context.Context, id int) (*ProxyHost, error) {
	var out ProxyHost
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/nginx/proxy-hosts/{id}", Path: hostPath(id),
		Query: expandCertificate, Result: &out,
	}, false)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateProxyHost creates a host. It is never retried on a lost answer or a
// gateway error: the host may exist. Look it up by domain before trying
// again. The answer never carries meta.nginx_online; call CheckOnline.
func (c *Client) CreateProxyHost(ctx context.Context, req ProxyHostRequest) (*ProxyHost, error) {
	if err := checkConfText(&req.AdvancedConfig, &req.Locations); err != nil {
		return nil, err
	}
	var out ProxyHost
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodPost, Route: "/nginx/proxy-hosts", Path: "/nginx/proxy-hosts",
		Body: req, Result: &out,
	}, true)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateProxyHost applies a partial update. The answer carries the new
// meta, so a false nginx_online in it is returned as an *NginxError along
// with the host.
func (c *Client) UpdateProxyHost(ctx context.Context, id int, req ProxyHostUpdate) (*ProxyHost, error) {
	if req.Empty() {
		return nil, errors.New("npm: update proxy host: nothing to update")
	}
	if err := checkConfText(req.AdvancedConfig, req.Locations); err != nil {
		return nil, err
	}
	var out ProxyHost
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodPut, Route: "/nginx/proxy-hosts/{id}", Path: hostPath(id),
		Body: req, Result: &out,
	}, false)
	if err != nil {
		return nil, err
	}
	if o := out.Meta.NginxOnline; o != nil && !*o {
		return &out, nginxError(&out)
	}
	return &out, nil
}

// ErrConfNotText: an advanced_config that is not UTF-8. JSON carries text,
// so it would reach nginx with every invalid byte replaced by U+FFFD: not
// the configuration the app's file holds. It is refused before any call.
var ErrConfNotText = errors.New("npm: advanced_config is not UTF-8 text")

func checkConfText(conf *string, locs *[]Location) error {
	if conf != nil && !utf8.ValidString(*conf) {
		return ErrConfNotText
	}
	if locs != nil {
		for _, l := range *locs {
			if !utf8.ValidString(l.AdvancedConfig) {
				return fmt.Errorf("location %s: %w", l.Path, ErrConfNotText)
			}
		}
	}
	return nil
}

// DeleteProxyHost deletes a host (NPM soft-deletes; its domains become
// free). A host that is already gone is an error matching
// upstream.ErrNotFound, which callers undoing their own work may ignore.
func (c *Client) DeleteProxyHost(ctx context.Context, id int) error {
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodDelete, Route: "/nginx/proxy-hosts/{id}", Path: hostPath(id),
	}, false)
	return err
}

// EnableProxyHost enables a host through NPM's dedicated route (which
// regenerates its nginx config). A host that is already enabled is not an
// error.
func (c *Client) EnableProxyHost(ctx context.Context, id int) error {
	return c.toggle(ctx, id, "enable", "host is already enabled")
}

// DisableProxyHost disables a host through NPM's dedicated route; a PUT of
// enabled:false would leave the old config serving (NPM #4656). A host that
// is already disabled is not an error.
func (c *Client) DisableProxyHost(ctx context.Context, id int) error {
	return c.toggle(ctx, id, "disable", "host is already disabled")
}

func (c *Client) toggle(ctx context.Context, id int, action, already string) error {
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodPost, Route: "/nginx/proxy-hosts/{id}/" + action, Path: hostPath(id) + "/" + action,
		// Setting a state is idempotent: a retry after a lost answer meets
		// the "already" answer handled below.
		Idempotent: upstream.Bool(true),
	}, false)
	var ae *upstream.APIError
	if errors.As(err, &ae) && ae.Status == 400 && strings.EqualFold(strings.TrimSpace(ae.Message), already) {
		return nil
	}
	return err
}

// CheckOnline reads the host back and reports whether nginx accepted its
// config. When NPM says it did not, it returns the host together with an
// *NginxError. A nil nginx_online (not tested yet) is not an error.
func (c *Client) CheckOnline(ctx context.Context, id int) (*ProxyHost, error) {
	h, err := c.GetProxyHost(ctx, id)
	if err != nil {
		return nil, err
	}
	if o := h.Meta.NginxOnline; o != nil && !*o {
		return h, nginxError(h)
	}
	return h, nil
}

func nginxError(h *ProxyHost) *NginxError {
	e := &NginxError{HostID: h.ID}
	if h.Meta.NginxErr != nil {
		e.Err = *h.Meta.NginxErr
	}
	return e
}

// ListRedirectionHosts returns every redirection host, disabled ones
// included (NPM refuses their domains for any other host).
func (c *Client) ListRedirectionHosts(ctx context.Context) ([]OtherHost, error) {
	return c.listOtherHosts(ctx, "/nginx/redirection-hosts", "redirection host")
}

// ListDeadHosts returns every 404 host, disabled ones included (NPM refuses
// their domains for any other host).
func (c *Client) ListDeadHosts(ctx context.Context) ([]OtherHost, error) {
	return c.listOtherHosts(ctx, "/nginx/dead-hosts", "404 host")
}

func (c *Client) listOtherHosts(ctx context.Context, path, kind string) ([]OtherHost, error) {
	var out []OtherHost
	_, err := c.do(ctx, upstream.Call{Method: http.MethodGet, Route: path, Path: path, Result: &out}, true)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Kind = kind
	}
	return out, nil
}

// ListCertificates returns every certificate NPM holds.
func (c *Client) ListCertificates(ctx context.Context) ([]Certificate, error) {
	var out []Certificate
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/nginx/certificates", Path: "/nginx/certificates", Result: &out,
	}, true)
	if err != nil {
		return nil, err
	}
	return out, nil
}

type healthResponse struct {
	Status  string `json:"status"`
	Version struct {
		Major    flexInt `json:"major"`
		Minor    flexInt `json:"minor"`
		Revision flexInt `json:"revision"`
	} `json:"version"`
}

func (c *Client) health(ctx context.Context) (*healthResponse, error) {
	var out healthResponse
	// Public route: no token.
	if _, err := c.c.Do(ctx, upstream.Call{Method: http.MethodGet, Route: "/", Path: "/", Result: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Version returns NPM's version, e.g. "2.15.1".
func (c *Client) Version(ctx context.Context) (string, error) {
	h, err := c.health(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d.%d.%d", h.Version.Major, h.Version.Minor, h.Version.Revision), nil
}

// Health returns NPM's status string ("OK" when healthy). A reachable NPM
// reporting anything else is an error.
func (c *Client) Health(ctx context.Context) (string, error) {
	h, err := c.health(ctx)
	if err != nil {
		return "", err
	}
	if h.Status != "OK" {
		return h.Status, fmt.Errorf("npm: unhealthy: status %q", h.Status)
	}
	return h.Status, nil
}

// DomainInUse reports whether err is NPM's duplicate-domain refusal (400
// "<domain> is already in use") and returns the domain it names. NPM checks
// proxy, redirection and 404 hosts, disabled ones included.
func DomainInUse(err error) (string, bool) {
	var ae *upstream.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		return "", false
	}
	d, ok := strings.CutSuffix(ae.Message, " is already in use")
	if !ok || d == "" {
		return "", false
	}
	return d, true
}
