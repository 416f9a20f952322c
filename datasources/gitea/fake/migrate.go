package fake

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// RouteMigrate is Gitea's import of a remote repository.
const RouteMigrate = "POST /api/v1/repos/migrate"

// A fake cannot clone from the internet: the repositories a migration may
// import are registered by URL (AddRemote). Any other URL fails the clone
// as git fails it inside Gitea.

// Remote is a repository served at a URL the fake can "clone".
type Remote struct {
	// DefaultBranch is the remote HEAD (default "main").
	DefaultBranch string
	// Files is the tree of the branch's one commit.
	Files map[string][]byte
	// Message is that commit's message (default "Initial commit").
	Message string
	// Username and Password, when set, are required to clone (a token
	// works as the password, as on GitHub or Gitea).
	Username, Password string
}

// Migration is one POST /repos/migrate the fake answered, as tests may see
// it: the credentials sent are recorded but never shown (see
// MigrationUsedCredentials).
type Migration struct {
	CloneAddr     string
	Repo          string // owner/name
	Service       string
	Mirror        bool
	Private       bool
	Authenticated bool // credentials were sent
	Status        int
	authUser      string
	authSecret    [32]byte // sha256 of the password or token
}

type remoteKey string

func normRemote(raw string) remoteKey {
	s := strings.TrimSuffix(strings.TrimRight(raw, "/"), ".git")
	return remoteKey(strings.ToLower(s))
}

// AddRemote registers a repository at rawURL (a trailing ".git" or "/"
// does not matter).
func (s *Server) AddRemote(rawURL string, r Remote) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.remotes == nil {
		s.remotes = map[remoteKey]*Remote{}
	}
	r.Files = maps.Clone(r.Files)
	s.remotes[normRemote(rawURL)] = &r
}

// Migrations lists the migrations answered so far, oldest first.
func (s *Server) Migrations() []Migration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Migration, len(s.migrations))
	for i, m := range s.migrations {
		out[i] = m
		out[i].authUser, out[i].authSecret = "", [32]byte{}
	}
	return out
}

// MigrationUsedCredentials reports whether the newest migration into repo
// (owner/name) was sent exactly these credentials.
func (s *Server) MigrationUsedCredentials(repo, user, password string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := sha256.Sum256([]byte(password))
	for i := len(s.migrations) - 1; i >= 0; i-- {
		m := s.migrations[i]
		if strings.EqualFold(m.Repo, repo) {
			return m.Authenticated && m.authUser == user && subtle.ConstantTimeCompare(m.authSecret[:], sum[:]) == 1
		}
	}
	return false
}

type migrateRepoOption struct {
	CloneAddr      string `json:"clone_addr"`
	RepoName       string `json:"repo_name"`
	RepoOwner      string `json:"repo_owner"`
	UID            int64  `json:"uid"`
	Service        string `json:"service"`
	Mirror         bool   `json:"mirror"`
	MirrorInterval string `json:"mirror_interval"`
	Private        bool   `json:"private"`
	Description    string `json:"description"`
	AuthUsername   string `json:"auth_username"`
	AuthPassword   string `json:"auth_password"`
	AuthToken      string `json:"auth_token"`
	Wiki           bool   `json:"wiki"`
	Issues         bool   `json:"issues"`
	Labels         bool   `json:"labels"`
	Milestones     bool   `json:"milestones"`
	Releases       bool   `json:"releases"`
	PullRequests   bool   `json:"pull_requests"`
	LFS            bool   `json:"lfs"`
	LFSEndpoint    string `json:"lfs_endpoint"`
}

// handleMigrate follows routers/api/v1/repo/migrate.go (1.2x): the owner
// (repo_owner, else uid, else the caller; unknown: 422), the form's
// binding errors (422), the caller's right to create there (403), the
// clone address (forms.ParseRemoteAddr, migrations.IsMigrateURLAllowed:
// 422), the name (409 when taken), then the clone itself, synchronously:
// on failure the half-made repository is deleted and git's error comes
// back as 422 "Migration failed: ..." or "Authentication failed: ...".
func (s *Server) handleMigrate(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.apiAuth(w, r, true)
	if !ok {
		return
	}
	var opt migrateRepoOption
	if err := decodeBody(r, &opt); err != nil {
		s.apiError(w, http.StatusUnprocessableEntity, "[]: "+err.Error())
		return
	}
	rec := Migration{CloneAddr: opt.CloneAddr, Service: opt.Service, Mirror: opt.Mirror, Private: opt.Private}
	pass := opt.AuthPassword
	if pass == "" {
		pass = opt.AuthToken
	}
	if opt.AuthUsername != "" || pass != "" {
		rec.Authenticated, rec.authUser, rec.authSecret = true, opt.AuthUsername, sha256.Sum256([]byte(pass))
	}
	answer := func(status int, msg string) {
		rec.Status = status
		s.migrations = append(s.migrations, rec)
		if status >= 300 {
			s.apiError(w, status, msg)
		}
	}

	owner := u.Login
	switch {
	case opt.RepoOwner != "":
		owner = opt.RepoOwner
	case opt.UID != 0:
		owner = ""
		for _, a := range s.users {
			if a.ID == opt.UID {
				owner = a.Login
			}
		}
		for _, o := range s.orgs {
			if o.ID == opt.UID {
				owner = o.Name
			}
		}
		if owner == "" {
			answer(http.StatusUnprocessableEntity, fmt.Sprintf("user does not exist [uid: %d, name: ]", opt.UID))
			return
		}
	}
	ownerUser, ownerOrg := s.users[strings.ToLower(owner)], s.orgs[strings.ToLower(owner)]
	if ownerUser == nil && ownerOrg == nil {
		answer(http.StatusUnprocessableEntity, fmt.Sprintf("user does not exist [uid: 0, name: %s]", owner))
		return
	}
	rec.Repo = owner + "/" + opt.RepoName
	// Binding: CloneAddr Required; RepoName Required, AlphaDashDot, MaxSize(100).
	switch {
	case strings.TrimSpace(opt.CloneAddr) == "":
		answer(http.StatusUnprocessableEntity, "[CloneAddr]: Required")
		return
	case strings.TrimSpace(opt.RepoName) == "":
		answer(http.StatusUnprocessableEntity, "[RepoName]: Required")
		return
	case !alphaDashDot.MatchString(opt.RepoName) || strings.Contains(opt.RepoName, ".."):
		answer(http.StatusUnprocessableEntity, "[RepoName]: AlphaDashDot")
		return
	case len(opt.RepoName) > 100:
		answer(http.StatusUnprocessableEntity, "[RepoName]: MaxSize")
		return
	}
	if !u.Admin {
		if ownerOrg == nil && !strings.EqualFold(u.Login, owner) {
			answer(http.StatusForbidden, "Given user is not an organization.")
			return
		}
		if ownerOrg != nil && !ownerOrg.Members[strings.ToLower(u.Login)] {
			answer(http.StatusForbidden, "Given user is not owner of organization.")
			return
		}
	}
	remote, err := url.Parse(opt.CloneAddr)
	if err != nil || remote.Host == "" {
		answer(http.StatusUnprocessableEntity, fmt.Sprintf("migration/cloning from '%s' is not allowed: the provided url is invalid", opt.CloneAddr))
		return
	}
	switch remote.Scheme {
	case "http", "https", "git":
	default:
		answer(http.StatusUnprocessableEntity, fmt.Sprintf("migration/cloning from '%s' is not allowed: the provided url protocol is not allowed", remote.Host))
		return
	}
	// [migrations] ALLOW_LOCALNETWORKS = false (the default): a host on
	// the local network is refused.
	if localHost(remote.Hostname()) {
		answer(http.StatusUnprocessableEntity, "You can not import from disallowed hosts.")
		return
	}
	if msg, ok := validateRepoName(opt.RepoName); !ok {
		answer(http.StatusUnprocessableEntity, msg)
		return
	}
	key := repoKey(owner, opt.RepoName)
	if s.repos[key] != nil {
		answer(http.StatusConflict, "The repository with the same name already exists.")
		return
	}
	// The clone. git's errors as Gitea reports them (credentials are
	// removed from URLs: util.SanitizeErrorCredentialURLs).
	shown := remote.Scheme + "://" + remote.Host + remote.EscapedPath()
	src := s.remotes[normRemote(shown)]
	if src == nil {
		answer(http.StatusUnprocessableEntity, fmt.Sprintf("Migration failed: Clone: exit status 128 - fatal: repository '%s/' not found.", strings.TrimRight(shown, "/")))
		return
	}
	if src.Password != "" {
		if !rec.Authenticated {
			answer(http.StatusUnprocessableEntity, fmt.Sprintf("Authentication failed: Clone: exit status 128 - fatal: could not read Username for '%s://%s': terminal prompts disabled.", remote.Scheme, remote.Host))
			return
		}
		want := sha256.Sum256([]byte(src.Password))
		if rec.authUser != src.Username && src.Username != "" || subtle.ConstantTimeCompare(rec.authSecret[:], want[:]) != 1 {
			answer(http.StatusUnprocessableEntity, fmt.Sprintf("Authentication failed: Clone: exit status 128 - fatal: Authentication failed for '%s/'.", strings.TrimRight(shown, "/")))
			return
		}
	}
	now := s.now().UTC().Truncate(time.Second)
	s.nextID++
	rp := &repo{
		ID: s.nextID, Owner: owner, Name: opt.RepoName, Description: opt.Description, Private: opt.Private,
		DefaultBranch: src.DefaultBranch, Created: now, Updated: now,
		branches: map[string]string{}, commits: map[string]*commit{}, blobs: map[string][]byte{},
		mirror: opt.Mirror, originalURL: shown,
	}
	if rp.DefaultBranch == "" {
		rp.DefaultBranch = "main"
	}
	if len(src.Files) > 0 {
		tree := map[string]string{}
		for p, b := range src.Files {
			id := blobSHA(b)
			rp.blobs[id] = append([]byte(nil), b...)
			tree[p] = id
		}
		msg := src.Message
		if msg == "" {
			msg = "Initial commit"
		}
		sig := signature{Name: "upstream", Email: "upstream@example.com", When: now}
		c := newCommit(tree, nil, sig, sig, msg)
		rp.commits[c.SHA] = c
		rp.branches[rp.DefaultBranch] = c.SHA
	}
	s.repos[key] = rp
	answer(http.StatusCreated, "")
	out := s.repoJSON(rp, u)
	if rp.mirror {
		out.MirrorInterval = "8h0m0s"
		out.MirrorUpdated = ts(now)
	}
	s.writeJSON(w, http.StatusCreated, out)
}

// localHost is Gitea's "local network" for migrations: loopback, private,
// link-local and unspecified addresses, and localhost.
func localHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		ip := net.ParseIP(host)
		if ip == nil {
			return false
		}
		a, _ = netip.AddrFromSlice(ip)
	}
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified()
}
