// Package fake is a stateful, in-process Gitea: users, organisations and
// tokens, private repositories with real git object ids and per-branch
// history, the REST routes our client uses (with Gitea's status codes and
// error bodies) and the two git smart-HTTP routes the fake Portainer clones
// through. Every route goes through a faults.Injector.
package fake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/appmanage/appmanage/datasources/faults"
)

// Route patterns, exactly as registered, for faults.Injector.Fail and Calls.
const (
	RouteVersion        = "GET /api/v1/version"
	RouteUser           = "GET /api/v1/user"
	RouteOrg            = "GET /api/v1/orgs/{org}"
	RouteCreateUserRepo = "POST /api/v1/user/repos"
	RouteCreateOrgRepo  = "POST /api/v1/orgs/{org}/repos"
	RouteListUserRepos  = "GET /api/v1/user/repos"
	RouteListOrgRepos   = "GET /api/v1/orgs/{org}/repos"
	RouteGetRepo        = "GET /api/v1/repos/{owner}/{repo}"
	RouteDeleteRepo     = "DELETE /api/v1/repos/{owner}/{repo}"
	RouteChangeFiles    = "POST /api/v1/repos/{owner}/{repo}/contents"
	RouteGetContents    = "GET /api/v1/repos/{owner}/{repo}/contents/{filepath...}"
	RouteCreateFile     = "POST /api/v1/repos/{owner}/{repo}/contents/{filepath...}"
	RouteUpdateFile     = "PUT /api/v1/repos/{owner}/{repo}/contents/{filepath...}"
	RouteDeleteFile     = "DELETE /api/v1/repos/{owner}/{repo}/contents/{filepath...}"
	RouteRaw            = "GET /api/v1/repos/{owner}/{repo}/raw/{filepath...}"
	RouteCommits        = "GET /api/v1/repos/{owner}/{repo}/commits"
	RouteCompare        = "GET /api/v1/repos/{owner}/{repo}/compare/{basehead}"
	RouteCreateHook     = "POST /api/v1/repos/{owner}/{repo}/hooks"
	RouteListHooks      = "GET /api/v1/repos/{owner}/{repo}/hooks"
	RouteDeleteHook     = "DELETE /api/v1/repos/{owner}/{repo}/hooks/{id}"
	// Git smart HTTP ref discovery and the web raw routes (outside /api/v1).
	RouteInfoRefs     = "GET /{owner}/{repo}/info/refs"
	RouteWebRawCommit = "GET /{owner}/{repo}/raw/commit/{sha}/{path...}"
	RouteWebRawBranch = "GET /{owner}/{repo}/raw/branch/{branch}/{path...}"
)

// Seeded admin account, unless Options.Users says otherwise.
const (
	AdminUser     = "admin"
	AdminPassword = "admin-password"
)

// DefaultVersion is what GET /version reports.
const DefaultVersion = "1.26.3"

// User seeds an account. An empty Token or Password is generated.
type User struct {
	Login    string
	Password string
	Token    string
	Email    string
	FullName string
	Admin    bool
}

// Org seeds an organisation with its member logins (members may write to
// the organisation's repositories).
type Org struct {
	Name    string
	Members []string
}

// Options configures a fake. The zero value seeds one admin.
type Options struct {
	Users   []User
	Orgs    []Org
	Version string
	// Wrap wraps the whole handler, e.g. with contract.Middleware.
	Wrap func(http.Handler) http.Handler
	// Now is the clock for commit and repository dates (default time.Now).
	Now func() time.Time
}

type account struct {
	ID       int64
	Login    string
	Password string
	Tokens   []string
	Email    string
	FullName string
	Admin    bool
	Created  time.Time
}

type organization struct {
	ID      int64
	Name    string
	Members map[string]bool // lower-case logins
	Created time.Time
}

// Server is the fake Gitea.
type Server struct {
	Faults *faults.Injector

	srv     *httptest.Server
	version string
	now     func() time.Time

	mu     sync.Mutex
	nextID int64
	users  map[string]*account      // lower-case login
	orgs   map[string]*organization // lower-case name
	tokens map[string]string        // token -> lower-case login
	repos  map[string]*repo         // lower-case "owner/name"

	remotes    map[remoteKey]*Remote // what a migration can clone (AddRemote)
	migrations []Migration
}

// New starts a fake on a loopback port. Close it when done.
func New(opts Options) *Server {
	s := &Server{
		Faults:  faults.New(),
		version: opts.Version,
		now:     opts.Now,
		users:   map[string]*account{},
		orgs:    map[string]*organization{},
		tokens:  map[string]string{},
		repos:   map[string]*repo{},
	}
	if s.version == "" {
		s.version = DefaultVersion
	}
	if s.now == nil {
		s.now = time.Now
	}
	users := opts.Users
	if len(users) == 0 {
		users = []User{{Login: AdminUser, Password: AdminPassword, Admin: true}}
	}
	for _, u := range users {
		s.AddUser(u)
	}
	for _, o := range opts.Orgs {
		s.AddOrg(o.Name, o.Members...)
	}
	h := s.apiFallback(s.routes())
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	s.srv = httptest.NewServer(h)
	return s
}

// URL is the server's root URL (Gitea's ROOT_URL, without a trailing slash).
func (s *Server) URL() string { return s.srv.URL }

// APIURL is URL() + "/api/v1".
func (s *Server) APIURL() string { return s.srv.URL + "/api/v1" }

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// AddUser creates an account and returns it with generated secrets filled in.
func (s *Server) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.Password == "" {
		u.Password = randomHex(12)
	}
	if u.Token == "" {
		u.Token = randomHex(20) // Gitea tokens are 40 hex digits
	}
	if u.Email == "" {
		u.Email = strings.ToLower(u.Login) + "@example.com"
	}
	s.nextID++
	s.users[strings.ToLower(u.Login)] = &account{
		ID: s.nextID, Login: u.Login, Password: u.Password, Tokens: []string{u.Token},
		Email: u.Email, FullName: u.FullName, Admin: u.Admin, Created: s.now().UTC().Truncate(time.Second),
	}
	s.tokens[u.Token] = strings.ToLower(u.Login)
	return u
}

// AddOrg creates an organisation with the given member logins.
func (s *Server) AddOrg(name string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	o := &organization{ID: s.nextID, Name: name, Members: map[string]bool{}, Created: s.now().UTC().Truncate(time.Second)}
	for _, m := range members {
		o.Members[strings.ToLower(m)] = true
	}
	s.orgs[strings.ToLower(name)] = o
}

// Token returns the first API token of login, or "".
func (s *Server) Token(login string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[strings.ToLower(login)]; u != nil && len(u.Tokens) > 0 {
		return u.Tokens[0]
	}
	return ""
}

// AddToken gives login another API token and returns it ("" for an
// unknown login). Gitea users may hold several tokens at once.
func (s *Server) AddToken(login string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(login)]
	if u == nil {
		return ""
	}
	tok := randomHex(20)
	u.Tokens = append(u.Tokens, tok)
	s.tokens[tok] = strings.ToLower(u.Login)
	return tok
}

// RevokeToken deletes an API token; requests with it get 401 from then on.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	login, ok := s.tokens[token]
	if !ok {
		return
	}
	delete(s.tokens, token)
	if u := s.users[login]; u != nil {
		u.Tokens = slices.DeleteFunc(u.Tokens, func(t string) bool { return t == token })
	}
}

// Password returns login's password, or "".
func (s *Server) Password(login string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[strings.ToLower(login)]; u != nil {
		return u.Password
	}
	return ""
}

// RepoNames returns every repository as "owner/name", sorted.
func (s *Server) RepoNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.repos))
	for _, r := range s.repos {
		out = append(out, r.Owner+"/"+r.Name)
	}
	sort.Strings(out)
	return out
}

// Files returns the files of owner/repo at ref ("" = default branch), or nil
// when the repository or ref does not exist or the repository is empty.
func (s *Server) Files(owner, name, ref string) map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repoKey(owner, name)]
	if r == nil {
		return nil
	}
	c := r.resolve(ref)
	if c == nil {
		return nil
	}
	out := make(map[string][]byte, len(c.Files))
	for p, id := range c.Files {
		out[p] = slices.Clone(r.blobs[id])
	}
	return out
}

// Commits returns how many commits owner/repo holds (all branches), or -1
// when it does not exist.
func (s *Server) Commits(owner, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repoKey(owner, name)]
	if r == nil {
		return -1
	}
	return len(r.commits)
}

// Branch returns the commit id owner/repo's branch points at, or "".
func (s *Server) Branch(owner, name, branch string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repos[repoKey(owner, name)]; r != nil {
		return r.branches[branch]
	}
	return ""
}

func repoKey(owner, name string) string {
	return strings.ToLower(owner) + "/" + strings.ToLower(name)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	h := func(pattern string, f http.HandlerFunc) { s.Faults.Handle(mux, pattern, f) }
	h(RouteVersion, s.handleVersion)
	h(RouteUser, s.handleUser)
	h(RouteOrg, s.handleOrg)
	h(RouteCreateUserRepo, s.handleCreateUserRepo)
	h(RouteCreateOrgRepo, s.handleCreateOrgRepo)
	h(RouteListUserRepos, s.handleListUserRepos)
	h(RouteListOrgRepos, s.handleListOrgRepos)
	h(RouteGetRepo, s.handleGetRepo)
	h(RouteDeleteRepo, s.handleDeleteRepo)
	h(RouteChangeFiles, s.handleChangeFiles)
	h(RouteGetContents, s.handleGetContents)
	h(RouteCreateFile, s.handleCreateFile)
	h(RouteUpdateFile, s.handleUpdateFile)
	h(RouteDeleteFile, s.handleDeleteFile)
	h(RouteRaw, s.handleRaw)
	h(RouteCommits, s.handleCommits)
	h(RouteCompare, s.handleCompare)
	h(RouteCreateHook, s.handleCreateHook)
	h(RouteListHooks, s.handleListHooks)
	h(RouteDeleteHook, s.handleDeleteHook)
	h(RouteMigrate, s.handleMigrate)
	h(RouteInfoRefs, s.handleInfoRefs)
	h(RouteWebRawCommit, s.handleWebRaw)
	h(RouteWebRawBranch, s.handleWebRaw)
	return mux
}

// apiFallback answers unknown API routes like Gitea, in JSON. (A catch-all
// mux pattern would conflict with the wildcard web routes.)
func (s *Server) apiFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" && strings.HasPrefix(r.URL.Path, "/api/") {
			s.notFound(w, "")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// --- auth -------------------------------------------------------------

type authResult struct {
	user *account // nil: anonymous
	bad  bool     // credentials were sent but are invalid
}

// authenticate reads a token ("token" or "bearer" scheme) or basic auth
// (password, or a token as password or as user name). Callers hold s.mu.
func (s *Server) authenticate(r *http.Request) authResult {
	h := r.Header.Get("Authorization")
	if h == "" {
		return authResult{}
	}
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "token", "bearer":
		if login, ok := s.tokens[cred]; ok {
			return authResult{user: s.users[login]}
		}
		return authResult{bad: true}
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return authResult{bad: true}
		}
		user, pass, _ := strings.Cut(string(raw), ":")
		if pass == "" || pass == "x-oauth-basic" {
			if login, ok := s.tokens[user]; ok {
				return authResult{user: s.users[login]}
			}
			return authResult{bad: true}
		}
		u := s.users[strings.ToLower(user)]
		if u == nil {
			return authResult{bad: true}
		}
		if slices.Contains(u.Tokens, pass) || u.Password == pass {
			return authResult{user: u}
		}
		return authResult{bad: true}
	}
	return authResult{bad: true}
}

// apiAuth resolves the caller of an API route; with required set, an
// anonymous caller gets 401. It writes the error itself and returns ok=false.
func (s *Server) apiAuth(w http.ResponseWriter, r *http.Request, required bool) (*account, bool) {
	a := s.authenticate(r)
	if a.bad {
		s.apiError(w, http.StatusUnauthorized, "invalid username, password or token")
		return nil, false
	}
	if a.user == nil && required {
		s.apiError(w, http.StatusUnauthorized, "token is required")
		return nil, false
	}
	return a.user, true
}

func (s *Server) isMember(u *account, owner string) bool {
	if u == nil {
		return false
	}
	if strings.EqualFold(u.Login, owner) {
		return true
	}
	o := s.orgs[strings.ToLower(owner)]
	return o != nil && o.Members[strings.ToLower(u.Login)]
}

func (s *Server) canRead(u *account, r *repo) bool {
	return !r.Private || s.canWrite(u, r)
}

func (s *Server) canWrite(u *account, r *repo) bool {
	return u != nil && (u.Admin || s.isMember(u, r.Owner))
}

// --- responses --------------------------------------------------------

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) swaggerURL() string { return s.srv.URL + "/api/swagger" }

// apiError writes Gitea's {"message","url"} error body.
func (s *Server) apiError(w http.ResponseWriter, status int, msg string) {
	s.writeJSON(w, status, map[string]any{"message": msg, "url": s.swaggerURL()})
}

// notFound writes Gitea's APIErrorNotFound body.
func (s *Server) notFound(w http.ResponseWriter, detail string) {
	errs := []string{}
	if detail != "" {
		errs = append(errs, detail)
	}
	s.writeJSON(w, http.StatusNotFound, map[string]any{"message": "not found", "url": s.swaggerURL(), "errors": errs})
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	return dec.Decode(v)
}
