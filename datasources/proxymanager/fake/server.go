// Package fake is a stateful, in-process Nginx Proxy Manager (v2.15.1) for
// tests and the sandbox: token login and refresh with expiry, proxy hosts
// with NPM's validation, normalisation, duplicate-domain rule and soft
// delete, enable/disable, certificates, and meta.nginx_online driven by a
// tiny "nginx -t". Every route goes through a faults.Injector.
package fake

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/appmanage/appmanage/datasources/encache"
	"github.com/appmanage/appmanage/datasources/faults"
)

// Routes, exactly as registered with the fault injector.
const (
	RouteHealth       = "GET /api/{$}"
	RouteLogin        = "POST /api/tokens"
	RouteRefresh      = "GET /api/tokens"
	RouteList         = "GET /api/nginx/proxy-hosts"
	RouteCreate       = "POST /api/nginx/proxy-hosts"
	RouteGet          = "GET /api/nginx/proxy-hosts/{id}"
	RouteUpdate       = "PUT /api/nginx/proxy-hosts/{id}"
	RouteDelete       = "DELETE /api/nginx/proxy-hosts/{id}"
	RouteEnable       = "POST /api/nginx/proxy-hosts/{id}/enable"
	RouteDisable      = "POST /api/nginx/proxy-hosts/{id}/disable"
	RouteCertificates = "GET /api/nginx/certificates"
	RouteRedirections = "GET /api/nginx/redirection-hosts"
	RouteDeadHosts    = "GET /api/nginx/dead-hosts"
)

// Options configures a Server. Zero values take the defaults.
type Options struct {
	Email         string        // admin login; default admin@example.com
	Password      string        // default changeme
	TokenLifetime time.Duration // default 24h, as NPM
	// MissingTokenStatus is the answer to a call without a token: 404 as
	// NPM ≤2.15.1 (the default), or 403 as after NPM PR #5796.
	MissingTokenStatus int
	Version            [3]int // default 2.15.1
	// Now is the clock; SetNow overrides it. Default time.Now.
	Now func() time.Time
	// Middleware wraps the whole server, e.g. a contract validator.
	Middleware func(http.Handler) http.Handler
	Logger     *slog.Logger
	// Resolve says whether nginx can resolve a name (a container name or
	// network alias) when it loads a host's config; nil resolves every
	// name. A host with a custom location whose forward host does not
	// resolve fails nginx -t as the real one does (`[emerg] host not found
	// in upstream "name"`, issue 19), so meta.nginx_online goes false
	// (contracts §3.4.1). The host's own forward_host is resolved per
	// request by the real nginx (NPM sets it through variables), so it
	// never fails the test. Tests and the sandbox wire Resolve to the fake
	// Portainer's running containers (sandbox.RunningContainers). IP
	// literals and localhost always resolve.
	Resolve func(host string) bool
	// ReloadDelay is how long nginx keeps serving the previous config after
	// NPM answered a change (real: 50–150 ms while it reloads); Serving
	// shows what nginx serves. Zero applies changes at once.
	ReloadDelay time.Duration
}

// ProxyHost is a stored proxy host, in NPM's field names.
type ProxyHost struct {
	ID                    int              `json:"id"`
	CreatedOn             string           `json:"created_on"`
	ModifiedOn            string           `json:"modified_on"`
	OwnerUserID           int              `json:"owner_user_id"`
	DomainNames           []string         `json:"domain_names"`
	ForwardHost           string           `json:"forward_host"`
	ForwardPort           int              `json:"forward_port"`
	AccessListID          int              `json:"access_list_id"`
	CertificateID         int              `json:"certificate_id"`
	SSLForced             bool             `json:"ssl_forced"`
	CachingEnabled        bool             `json:"caching_enabled"`
	BlockExploits         bool             `json:"block_exploits"`
	AdvancedConfig        string           `json:"advanced_config"`
	Meta                  map[string]any   `json:"meta"`
	AllowWebsocketUpgrade bool             `json:"allow_websocket_upgrade"`
	HTTP2Support          bool             `json:"http2_support"`
	ForwardScheme         string           `json:"forward_scheme"`
	Enabled               bool             `json:"enabled"`
	Locations             []map[string]any `json:"locations"`
	HSTSEnabled           bool             `json:"hsts_enabled"`
	HSTSSubdomains        bool             `json:"hsts_subdomains"`
	TrustForwardedProto   bool             `json:"trust_forwarded_proto"`
}

// Certificate is a stored certificate.
type Certificate struct {
	ID          int            `json:"id"`
	CreatedOn   string         `json:"created_on"`
	ModifiedOn  string         `json:"modified_on"`
	OwnerUserID int            `json:"owner_user_id"`
	Provider    string         `json:"provider"`
	NiceName    string         `json:"nice_name"`
	DomainNames []string       `json:"domain_names"`
	ExpiresOn   string         `json:"expires_on"`
	Meta        map[string]any `json:"meta"`
}

// otherHost is a redirection or 404 host: only its domains matter here
// (the rest of what the list shows is NPM's defaults).
type otherHost struct {
	id      int
	created string
	domains []string
	deleted bool
}

type storedHost struct {
	ProxyHost
	deleted bool
}

// Server is the fake NPM.
type Server struct {
	Faults *faults.Injector

	opts Options
	srv  *httptest.Server
	log  *slog.Logger

	mu           sync.Mutex
	now          time.Time // zero: use opts.Now
	tokens       map[string]time.Time
	hosts        []*storedHost // index = id-1; ids are never reused
	certs        []*Certificate
	redirections []*otherHost
	dead         []*otherHost
	nginxFail    string
	served       map[int][]servedConfig // by host id, oldest first

	// rev counts changes of the state above; encodedHosts holds list
	// entries encoded at one rev.
	rev          uint64
	encodedHosts encache.Cache[hostKey, []byte]
	hostLists    encache.Lists[string] // list answers by query
}

type hostKey struct {
	id     int
	expand string
}

// lockState takes the lock to change (or possibly change) the hosts or
// certificates; read-only handlers take s.mu itself.
func (s *Server) lockState() {
	s.mu.Lock()
	s.rev++
}

// New starts a fake NPM on a loopback port.
func New(opts Options) *Server {
	if opts.Email == "" {
		opts.Email = "admin@example.com"
	}
	if opts.Password == "" {
		opts.Password = "changeme"
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = 24 * time.Hour
	}
	if opts.MissingTokenStatus == 0 {
		opts.MissingTokenStatus = http.StatusNotFound
	}
	if opts.Version == ([3]int{}) {
		opts.Version = [3]int{2, 15, 1}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{Faults: faults.New(), opts: opts, log: opts.Logger, tokens: map[string]time.Time{}}
	mux := http.NewServeMux()
	in := s.Faults
	in.Handle(mux, RouteHealth, http.HandlerFunc(s.health))
	in.Handle(mux, RouteLogin, http.HandlerFunc(s.login))
	in.Handle(mux, RouteRefresh, s.authed(s.refresh))
	in.Handle(mux, RouteList, s.authed(s.list))
	in.Handle(mux, RouteCreate, s.authed(s.create))
	in.Handle(mux, RouteGet, s.authed(s.get))
	in.Handle(mux, RouteUpdate, s.authed(s.update))
	in.Handle(mux, RouteDelete, s.authed(s.delete))
	in.Handle(mux, RouteEnable, s.authed(s.enable))
	in.Handle(mux, RouteDisable, s.authed(s.disable))
	in.Handle(mux, RouteCertificates, s.authed(s.certificates))
	in.Handle(mux, RouteRedirections, s.authed(s.listOther(func(s *Server) []*otherHost { return s.redirections }, true)))
	in.Handle(mux, RouteDeadHosts, s.authed(s.listOther(func(s *Server) []*otherHost { return s.dead }, false)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "Not Found - "+strings.TrimPrefix(r.URL.Path, "/api"))
	})
	var h http.Handler = mux
	if opts.Middleware != nil {
		h = opts.Middleware(h)
	}
	s.srv = httptest.NewServer(h)
	return s
}

// URL is the NPM base URL, without /api.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Email and Password are the admin's credentials.
func (s *Server) Email() string    { return s.opts.Email }
func (s *Server) Password() string { return s.opts.Password }

// CallCount returns how many calls route (one of the Route constants) got.
func (s *Server) CallCount(route string) int { return s.Faults.Calls(route) }

// SetNow freezes the fake's clock at t (token expiry, timestamps).
func (s *Server) SetNow(t time.Time) {
	s.lockState()
	defer s.mu.Unlock()
	s.now = t
}

// Advance moves a clock frozen by SetNow forward.
func (s *Server) Advance(d time.Duration) {
	s.lockState()
	defer s.mu.Unlock()
	if s.now.IsZero() {
		s.now = s.opts.Now()
	}
	s.now = s.now.Add(d)
}

// FailNginx makes every following nginx test fail with reason, as when the
// real nginx rejects a config; "" restores normal behaviour.
func (s *Server) FailNginx(reason string) {
	s.lockState()
	defer s.mu.Unlock()
	s.nginxFail = reason
}

// Hosts returns copies of the proxy hosts that are not deleted, by id.
func (s *Server) Hosts() []ProxyHost {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ProxyHost
	for _, h := range s.hosts {
		if !h.deleted {
			out = append(out, cloneHost(h.ProxyHost))
		}
	}
	return out
}

// AddCertificate stores a certificate for domains and returns its id.
func (s *Server) AddCertificate(niceName string, domains ...string) int {
	s.lockState()
	defer s.mu.Unlock()
	return s.addCertLocked("other", niceName, domains)
}

func (s *Server) addCertLocked(provider, niceName string, domains []string) int {
	now := s.clockLocked()
	c := &Certificate{ID: len(s.certs) + 1, CreatedOn: dbStamp(now), ModifiedOn: dbStamp(now), OwnerUserID: 1,
		Provider: provider, NiceName: niceName, DomainNames: slices.Clone(domains),
		ExpiresOn: dbStamp(now.Add(90 * 24 * time.Hour)), Meta: map[string]any{}}
	s.certs = append(s.certs, c)
	return c.ID
}

// AddRedirectionHost stores a redirection host (only its domains are
// modelled, for the duplicate-domain rule) and returns its id.
func (s *Server) AddRedirectionHost(domains ...string) int {
	s.lockState()
	defer s.mu.Unlock()
	s.redirections = append(s.redirections, &otherHost{id: len(s.redirections) + 1, created: dbStamp(s.clockLocked()), domains: slices.Clone(domains)})
	return len(s.redirections)
}

// AddDeadHost stores a 404 host, like AddRedirectionHost.
func (s *Server) AddDeadHost(domains ...string) int {
	s.lockState()
	defer s.mu.Unlock()
	s.dead = append(s.dead, &otherHost{id: len(s.dead) + 1, created: dbStamp(s.clockLocked()), domains: slices.Clone(domains)})
	return len(s.dead)
}

// DeleteRedirectionHost soft-deletes a redirection host, freeing its domains.
func (s *Server) DeleteRedirectionHost(id int) {
	s.lockState()
	defer s.mu.Unlock()
	if id >= 1 && id <= len(s.redirections) {
		s.redirections[id-1].deleted = true
	}
}

func (s *Server) clockLocked() time.Time {
	if !s.now.IsZero() {
		return s.now
	}
	return s.opts.Now()
}

// stamp formats a time as NPM does in a token's expiry
// ("2025-10-30T01:12:05.000Z": the JWT library's ISO string).
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// dbStamp formats a row's timestamp (created_on, modified_on, expires_on)
// as NPM answers it with its default SQLite database: the column's text as
// datetime('now') stored it, "2025-10-30 01:12:05" (models/now_helper.js).
// With MySQL it would be the ISO form of stamp; both are strings to the
// schema and to the client.
func dbStamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// writeRawJSON answers with an encoded body, as writeJSON would write it.
func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'}) // json.Encoder ends with a newline
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeErr answers in NPM's error shape.
func writeErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg}})
}

// readBody decodes a JSON body with numbers kept exact (integer checks).
func readBody(r *http.Request) (any, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	return v, true
}

// readObject reads a JSON body and checks it against sc, answering 400 as
// NPM does (a parse error, or the schema violation) when it does not hold.
func readObject(w http.ResponseWriter, r *http.Request, sc *schema) (map[string]any, bool) {
	body, ok := readBody(r)
	if !ok {
		writeErr(w, http.StatusBadRequest, "Unexpected token in JSON")
		return nil, false
	}
	if msg := sc.validate("data", body); msg != "" {
		writeErr(w, http.StatusBadRequest, msg)
		return nil, false
	}
	return body.(map[string]any), true
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	v := s.opts.Version
	writeJSON(w, http.StatusOK, map[string]any{"status": "OK", "setup": true,
		"version": map[string]int{"major": v[0], "minor": v[1], "revision": v[2]}})
}

// --- tokens ---

func (s *Server) newTokenLocked(lifetime time.Duration) (string, time.Time) {
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := "fake-npm." + hex.EncodeToString(b[:])
	exp := s.clockLocked().Add(lifetime)
	s.tokens[tok] = exp
	return tok, exp
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	m, ok := readObject(w, r, tokenSchema)
	if !ok {
		return
	}
	if !strings.EqualFold(m["identity"].(string), s.opts.Email) || m["secret"].(string) != s.opts.Password {
		writeErr(w, http.StatusBadRequest, "Invalid email or password")
		return
	}
	s.lockState()
	tok, exp := s.newTokenLocked(s.opts.TokenLifetime)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"token": tok, "expires": stamp(exp)})
}

var expiryRe = regexp.MustCompile(`^(\d+)(y|Q|M|w|d|h|m|s|ms)$`)

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	lifetime := s.opts.TokenLifetime
	if e := r.URL.Query().Get("expiry"); e != "" {
		m := expiryRe.FindStringSubmatch(e)
		if m == nil {
			writeErr(w, http.StatusBadRequest, "Invalid expiry")
			return
		}
		n, _ := strconv.Atoi(m[1])
		unit := map[string]time.Duration{"y": 365 * 24 * time.Hour, "Q": 91 * 24 * time.Hour, "M": 30 * 24 * time.Hour,
			"w": 7 * 24 * time.Hour, "d": 24 * time.Hour, "h": time.Hour, "m": time.Minute, "s": time.Second, "ms": time.Millisecond}
		lifetime = time.Duration(n) * unit[m[2]]
	}
	s.lockState()
	tok, exp := s.newTokenLocked(lifetime)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"token": tok, "expires": stamp(exp)})
}

// authed checks the bearer token as NPM does: expired → 400, missing →
// 404 (≤2.15.1) or 403, unverifiable → 500.
func (s *Server) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			if s.opts.MissingTokenStatus == http.StatusForbidden {
				writeErr(w, http.StatusForbidden, "Permission Denied")
			} else {
				writeErr(w, http.StatusNotFound, "Not Found - "+strings.TrimPrefix(r.URL.Path, "/api"))
			}
			return
		}
		s.mu.Lock()
		exp, known := s.tokens[tok]
		now := s.clockLocked()
		s.mu.Unlock()
		switch {
		case !known:
			writeErr(w, http.StatusInternalServerError, "Internal Error")
		case !now.Before(exp):
			writeErr(w, http.StatusBadRequest, "Token has expired")
		default:
			h(w, r)
		}
	})
}

// --- proxy hosts ---

func cloneHost(h ProxyHost) ProxyHost {
	h.DomainNames = slices.Clone(h.DomainNames)
	h.Meta = maps.Clone(h.Meta)
	if h.Locations == nil {
		return h // null stays null
	}
	locs := make([]map[string]any, len(h.Locations))
	for i, l := range h.Locations {
		locs[i] = maps.Clone(l)
	}
	h.Locations = locs
	return h
}

func (s *Server) hostLocked(r *http.Request) (*storedHost, string) {
	raw := r.PathValue("id")
	id, err := strconv.Atoi(raw)
	if err != nil || id < 1 || id > len(s.hosts) || s.hosts[id-1].deleted {
		return nil, "Not Found - " + raw
	}
	return s.hosts[id-1], ""
}

// domainTakenLocked applies NPM's rule: a domain may live on one
// non-deleted proxy, redirection or 404 host, enabled or not, compared
// case-insensitively; selfID is skipped on update.
func (s *Server) domainTakenLocked(domains []string, selfID int) string {
	used := func(d string, ds []string) bool {
		return slices.ContainsFunc(ds, func(x string) bool { return strings.EqualFold(x, d) })
	}
	for _, d := range domains {
		for _, h := range s.hosts {
			if !h.deleted && h.ID != selfID && used(d, h.DomainNames) {
				return d
			}
		}
		for _, hs := range [][]*otherHost{s.redirections, s.dead} {
			for _, h := range hs {
				if !h.deleted && used(d, h.domains) {
					return d
				}
			}
		}
	}
	return ""
}

// expand renders a host with the expansions asked for.
// expandLocked is a host's JSON with the expansions asked for appended as
// keys. It is serialized here, under the lock, so an answer is a snapshot.
func (s *Server) expandLocked(h ProxyHost, expand []string) json.RawMessage {
	b, _ := json.Marshal(h)
	add := func(key string, v any) {
		vb, _ := json.Marshal(v)
		b = append(b[:len(b)-1], `,"`+key+`":`...)
		b = append(append(b, vb...), '}')
	}
	if slices.Contains(expand, "owner") {
		add("owner", s.ownerLocked())
	}
	if slices.Contains(expand, "certificate") {
		add("certificate", s.certLocked(h.CertificateID)) // null when there is none
	}
	if slices.Contains(expand, "access_list") {
		add("access_list", nil) // access lists are not modelled
	}
	return b
}

func (s *Server) ownerLocked() map[string]any {
	// The user row without is_deleted, which NPM omits ("owner.is_deleted").
	return map[string]any{"id": 1, "created_on": "2026-01-01 00:00:00", "modified_on": "2026-01-01 00:00:00",
		"is_disabled": false, "email": s.opts.Email, "name": "Administrator", "nickname": "Admin",
		"avatar": "//www.gravatar.com/avatar/" + gravatar(s.opts.Email) + "?default=mm", "roles": []string{"admin"}}
}

func (s *Server) certLocked(id int) *Certificate {
	if id < 1 || id > len(s.certs) {
		return nil
	}
	return s.certs[id-1]
}

func expansions(r *http.Request) []string {
	var out []string
	for _, e := range r.URL.Query()["expand"] {
		out = append(out, strings.Split(e, ",")...)
	}
	return out
}

var allExpansions = []string{"owner", "certificate", "access_list"}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(r.URL.Query().Get("query"))
	s.mu.Lock()
	defer s.mu.Unlock()
	type sorted struct {
		h   *storedHost
		key string // NPM orders by the domain_names column
	}
	var hs []sorted
	for _, h := range s.hosts {
		if h.deleted {
			continue
		}
		if q != "" && !slices.ContainsFunc(h.DomainNames, func(d string) bool { return strings.Contains(strings.ToLower(d), q) }) {
			continue
		}
		hs = append(hs, sorted{h, strings.Join(h.DomainNames, ",")})
	}
	slices.SortStableFunc(hs, func(a, b sorted) int { return strings.Compare(a.key, b.key) })
	expand := expansions(r)
	key := hostKey{expand: strings.Join(expand, ",")}
	entries := make([][]byte, 0, len(hs))
	for _, sh := range hs {
		h := sh.h.ProxyHost
		key.id = h.ID
		b, ok := s.encodedHosts.Get(s.rev, key)
		if !ok {
			b = s.expandLocked(h, expand)
			s.encodedHosts.Put(s.rev, key, b)
		}
		entries = append(entries, b)
	}
	writeRawJSON(w, http.StatusOK, s.hostLists.Join(s.rev, r.URL.RawQuery, entries))
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, msg := s.hostLocked(r)
	if h == nil {
		writeErr(w, http.StatusNotFound, msg)
		return
	}
	writeJSON(w, http.StatusOK, s.expandLocked(h.ProxyHost, expansions(r)))
}

// apply copies the validated fields of body onto h.
func apply(h *ProxyHost, body map[string]any) {
	for k, v := range body {
		switch k {
		case "domain_names":
			h.DomainNames = nil
			for _, d := range v.([]any) {
				h.DomainNames = append(h.DomainNames, d.(string))
			}
			slices.Sort(h.DomainNames)
		case "forward_scheme":
			h.ForwardScheme = v.(string)
		case "forward_host":
			h.ForwardHost = v.(string)
		case "forward_port":
			h.ForwardPort = intOf(v)
		case "certificate_id":
			if _, isNew := v.(string); !isNew {
				h.CertificateID = intOf(v)
			}
		case "access_list_id":
			h.AccessListID = intOf(v)
		case "advanced_config":
			h.AdvancedConfig = v.(string)
		case "meta":
			h.Meta = v.(map[string]any)
		case "locations":
			h.Locations = []map[string]any{}
			for _, l := range v.([]any) {
				h.Locations = append(h.Locations, l.(map[string]any))
			}
		case "ssl_forced":
			h.SSLForced = v.(bool)
		case "hsts_enabled":
			h.HSTSEnabled = v.(bool)
		case "hsts_subdomains":
			h.HSTSSubdomains = v.(bool)
		case "trust_forwarded_proto":
			h.TrustForwardedProto = v.(bool)
		case "http2_support":
			h.HTTP2Support = v.(bool)
		case "block_exploits":
			h.BlockExploits = v.(bool)
		case "caching_enabled":
			h.CachingEnabled = v.(bool)
		case "allow_websocket_upgrade":
			h.AllowWebsocketUpgrade = v.(bool)
		case "enabled":
			h.Enabled = v.(bool)
		}
	}
	// NPM's SSL/HSTS clean-up.
	if h.CertificateID == 0 {
		h.SSLForced, h.HTTP2Support = false, false
	}
	if !h.SSLForced {
		h.HSTSEnabled = false
	}
	if !h.HSTSEnabled {
		h.HSTSSubdomains = false
	}
}

func intOf(v any) int {
	n, _ := v.(json.Number).Int64()
	return int(n)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	m, ok := readObject(w, r, createHostSchema)
	if !ok {
		return
	}
	s.lockState()
	defer s.mu.Unlock()
	var domains []string
	for _, d := range m["domain_names"].([]any) {
		domains = append(domains, d.(string))
	}
	if d := s.domainTakenLocked(domains, 0); d != "" {
		writeErr(w, http.StatusBadRequest, d+" is already in use")
		return
	}
	now := dbStamp(s.clockLocked())
	// locations stays null unless the body sets it: a nullable column
	// without a default, answered as stored (as meta would be, but the
	// model defaults meta to {}).
	h := ProxyHost{ID: len(s.hosts) + 1, CreatedOn: now, ModifiedOn: now, OwnerUserID: 1,
		Enabled: true, Meta: map[string]any{}}
	if c, _ := m["certificate_id"].(string); c == "new" {
		// The sandbox grants the Let's Encrypt request at once.
		slices.Sort(domains)
		m["certificate_id"] = json.Number(strconv.Itoa(s.addCertLocked("letsencrypt", domains[0], domains)))
	}
	apply(&h, m)
	s.hosts = append(s.hosts, &storedHost{ProxyHost: h})
	// NPM builds the answer before it runs nginx -t: no nginx_online yet.
	resp := s.expandLocked(cloneHost(h), allExpansions)
	s.configureLocked(s.hosts[h.ID-1])
	s.noteServingLocked(s.hosts[h.ID-1])
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	m, ok := readObject(w, r, updateHostSchema)
	if !ok {
		return
	}
	s.lockState()
	defer s.mu.Unlock()
	h, msg := s.hostLocked(r)
	if h == nil {
		writeErr(w, http.StatusNotFound, msg)
		return
	}
	if ds, ok := m["domain_names"].([]any); ok {
		var domains []string
		for _, d := range ds {
			domains = append(domains, d.(string))
		}
		if d := s.domainTakenLocked(domains, h.ID); d != "" {
			writeErr(w, http.StatusBadRequest, d+" is already in use")
			return
		}
	}
	if c, _ := m["certificate_id"].(string); c == "new" {
		m["certificate_id"] = json.Number(strconv.Itoa(s.addCertLocked("letsencrypt", h.DomainNames[0], h.DomainNames)))
	}
	apply(&h.ProxyHost, m)
	h.ModifiedOn = dbStamp(s.clockLocked())
	// A disabled host's config is not regenerated (NPM #4656), so its
	// meta stays as it was.
	if h.Enabled {
		s.configureLocked(h)
		s.noteServingLocked(h)
	}
	writeJSON(w, http.StatusOK, s.expandLocked(cloneHost(h.ProxyHost), allExpansions))
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	s.lockState()
	defer s.mu.Unlock()
	h, msg := s.hostLocked(r)
	if h == nil {
		writeErr(w, http.StatusNotFound, msg)
		return
	}
	h.deleted = true
	s.noteServingLocked(h)
	writeJSON(w, http.StatusOK, true)
}

func (s *Server) enable(w http.ResponseWriter, r *http.Request) {
	s.toggle(w, r, true)
}

func (s *Server) disable(w http.ResponseWriter, r *http.Request) {
	s.toggle(w, r, false)
}

func (s *Server) toggle(w http.ResponseWriter, r *http.Request, enable bool) {
	s.lockState()
	defer s.mu.Unlock()
	h, msg := s.hostLocked(r)
	if h == nil {
		writeErr(w, http.StatusNotFound, msg)
		return
	}
	if h.Enabled == enable {
		if enable {
			writeErr(w, http.StatusBadRequest, "Host is already enabled")
		} else {
			writeErr(w, http.StatusBadRequest, "Host is already disabled")
		}
		return
	}
	h.Enabled = enable
	h.ModifiedOn = dbStamp(s.clockLocked())
	if enable {
		s.configureLocked(h)
	}
	s.noteServingLocked(h)
	writeJSON(w, http.StatusOK, true)
}

// listOther answers GET /nginx/redirection-hosts or /nginx/dead-hosts:
// the hosts not deleted, by id, with NPM's defaults for what is not
// modelled.
func (s *Server) listOther(hosts func(*Server) []*otherHost, redirection bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		out := []map[string]any{}
		for _, h := range hosts(s) {
			if h.deleted {
				continue
			}
			m := map[string]any{
				"id": h.id, "created_on": h.created, "modified_on": h.created, "owner_user_id": 1,
				"domain_names": h.domains, "certificate_id": 0, "ssl_forced": false, "hsts_enabled": false,
				"hsts_subdomains": false, "http2_support": false, "advanced_config": "", "enabled": true,
				"meta": map[string]any{"nginx_online": true, "nginx_err": nil},
			}
			if redirection {
				maps.Copy(m, map[string]any{"forward_http_code": 301, "forward_scheme": "auto",
					"forward_domain_name": "example.org", "preserve_path": true, "block_exploits": false})
			}
			out = append(out, m)
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (s *Server) certificates(w http.ResponseWriter, r *http.Request) {
	s.lockState()
	defer s.mu.Unlock()
	withOwner := slices.Contains(expansions(r), "owner")
	out := make([]map[string]any, 0, len(s.certs))
	for _, c := range s.certs {
		b, _ := json.Marshal(c)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		if withOwner {
			m["owner"] = s.ownerLocked()
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, out)
}
