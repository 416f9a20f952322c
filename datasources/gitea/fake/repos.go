package fake

import (
	"cmp"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

type apiUser struct {
	ID                int64  `json:"id"`
	Login             string `json:"login"`
	LoginName         string `json:"login_name"`
	SourceID          int64  `json:"source_id"`
	FullName          string `json:"full_name"`
	Email             string `json:"email"`
	AvatarURL         string `json:"avatar_url"`
	HTMLURL           string `json:"html_url"`
	Language          string `json:"language"`
	IsAdmin           bool   `json:"is_admin"`
	LastLogin         string `json:"last_login"`
	Created           string `json:"created"`
	Restricted        bool   `json:"restricted"`
	Active            bool   `json:"active"`
	ProhibitLogin     bool   `json:"prohibit_login"`
	Location          string `json:"location"`
	Website           string `json:"website"`
	Description       string `json:"description"`
	Visibility        string `json:"visibility"`
	Followers         int    `json:"followers_count"`
	Following         int    `json:"following_count"`
	StarredReposCount int    `json:"starred_repos_count"`
}

type apiOrg struct {
	ID                        int64  `json:"id"`
	Name                      string `json:"name"`
	UserName                  string `json:"username"`
	FullName                  string `json:"full_name"`
	Email                     string `json:"email"`
	AvatarURL                 string `json:"avatar_url"`
	Description               string `json:"description"`
	Website                   string `json:"website"`
	Location                  string `json:"location"`
	Visibility                string `json:"visibility"`
	RepoAdminChangeTeamAccess bool   `json:"repo_admin_change_team_access"`
}

type apiPermission struct {
	Admin bool `json:"admin"`
	Push  bool `json:"push"`
	Pull  bool `json:"pull"`
}

type apiInternalTracker struct {
	EnableTimeTracker                bool `json:"enable_time_tracker"`
	AllowOnlyContributorsToTrackTime bool `json:"allow_only_contributors_to_track_time"`
	EnableIssueDependencies          bool `json:"enable_issue_dependencies"`
}

type apiRepo struct {
	ID                            int64               `json:"id"`
	Owner                         apiUser             `json:"owner"`
	Name                          string              `json:"name"`
	FullName                      string              `json:"full_name"`
	Description                   string              `json:"description"`
	Empty                         bool                `json:"empty"`
	Private                       bool                `json:"private"`
	Fork                          bool                `json:"fork"`
	Template                      bool                `json:"template"`
	Mirror                        bool                `json:"mirror"`
	Size                          int                 `json:"size"`
	Language                      string              `json:"language"`
	LanguagesURL                  string              `json:"languages_url"`
	HTMLURL                       string              `json:"html_url"`
	URL                           string              `json:"url"`
	Link                          string              `json:"link"`
	SSHURL                        string              `json:"ssh_url"`
	CloneURL                      string              `json:"clone_url"`
	OriginalURL                   string              `json:"original_url"`
	Website                       string              `json:"website"`
	StarsCount                    int                 `json:"stars_count"`
	ForksCount                    int                 `json:"forks_count"`
	WatchersCount                 int                 `json:"watchers_count"`
	OpenIssuesCount               int                 `json:"open_issues_count"`
	OpenPRCounter                 int                 `json:"open_pr_counter"`
	ReleaseCounter                int                 `json:"release_counter"`
	DefaultBranch                 string              `json:"default_branch"`
	Archived                      bool                `json:"archived"`
	CreatedAt                     string              `json:"created_at"`
	UpdatedAt                     string              `json:"updated_at"`
	ArchivedAt                    string              `json:"archived_at"`
	Permissions                   apiPermission       `json:"permissions"`
	HasIssues                     bool                `json:"has_issues"`
	InternalTracker               *apiInternalTracker `json:"internal_tracker,omitempty"`
	HasWiki                       bool                `json:"has_wiki"`
	HasPullRequests               bool                `json:"has_pull_requests"`
	HasProjects                   bool                `json:"has_projects"`
	HasReleases                   bool                `json:"has_releases"`
	HasPackages                   bool                `json:"has_packages"`
	HasActions                    bool                `json:"has_actions"`
	IgnoreWhitespaceConflicts     bool                `json:"ignore_whitespace_conflicts"`
	AllowMergeCommits             bool                `json:"allow_merge_commits"`
	AllowRebase                   bool                `json:"allow_rebase"`
	AllowRebaseExplicit           bool                `json:"allow_rebase_explicit"`
	AllowSquashMerge              bool                `json:"allow_squash_merge"`
	AllowFastForwardOnlyMerge     bool                `json:"allow_fast_forward_only_merge"`
	AllowRebaseUpdate             bool                `json:"allow_rebase_update"`
	DefaultDeleteBranchAfterMerge bool                `json:"default_delete_branch_after_merge"`
	DefaultMergeStyle             string              `json:"default_merge_style"`
	DefaultAllowMaintainerEdit    bool                `json:"default_allow_maintainer_edit"`
	AvatarURL                     string              `json:"avatar_url"`
	Internal                      bool                `json:"internal"`
	MirrorInterval                string              `json:"mirror_interval"`
	ObjectFormatName              string              `json:"object_format_name"`
	MirrorUpdated                 string              `json:"mirror_updated"`
	Topics                        []string            `json:"topics"`
	Licenses                      []string            `json:"licenses"`
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

const zeroTime = "1970-01-01T00:00:00Z"

func (s *Server) userJSON(u *account) apiUser {
	return apiUser{
		ID: u.ID, Login: u.Login, FullName: u.FullName, Email: u.Email,
		AvatarURL: s.srv.URL + "/avatars/" + u.Login, HTMLURL: s.srv.URL + "/" + u.Login,
		IsAdmin: u.Admin, LastLogin: ts(u.Created), Created: ts(u.Created), Active: true,
		Visibility: "public", Language: "en-US",
	}
}

func (s *Server) ownerJSON(owner string) apiUser {
	if u := s.users[strings.ToLower(owner)]; u != nil {
		return s.userJSON(u)
	}
	if o := s.orgs[strings.ToLower(owner)]; o != nil {
		return apiUser{ID: o.ID, Login: o.Name, Email: "", AvatarURL: s.srv.URL + "/avatars/" + o.Name,
			HTMLURL: s.srv.URL + "/" + o.Name, LastLogin: zeroTime, Created: ts(o.Created), Active: false, Visibility: "public"}
	}
	return apiUser{Login: owner}
}

func (s *Server) repoJSON(r *repo, u *account) apiRepo {
	full := r.Owner + "/" + r.Name
	host := strings.TrimPrefix(strings.TrimPrefix(s.srv.URL, "http://"), "https://")
	if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	write := s.canWrite(u, r)
	return apiRepo{
		ID: r.ID, Owner: s.ownerJSON(r.Owner), Name: r.Name, FullName: full, Description: r.Description,
		Empty: r.empty(), Private: r.Private, Size: len(r.blobs),
		LanguagesURL: s.APIURL() + "/repos/" + full + "/languages",
		HTMLURL:      s.srv.URL + "/" + full, URL: s.APIURL() + "/repos/" + full,
		SSHURL: "git@" + host + ":" + full + ".git", CloneURL: s.srv.URL + "/" + full + ".git",
		DefaultBranch: r.DefaultBranch, CreatedAt: ts(r.Created), UpdatedAt: ts(r.Updated), ArchivedAt: zeroTime,
		Permissions: apiPermission{Admin: write, Push: write, Pull: s.canRead(u, r)},
		HasIssues:   true, InternalTracker: &apiInternalTracker{EnableTimeTracker: true, AllowOnlyContributorsToTrackTime: true, EnableIssueDependencies: true},
		HasWiki: true, HasPullRequests: true, HasProjects: true, HasReleases: true, HasPackages: true, HasActions: true,
		AllowMergeCommits: true, AllowRebase: true, AllowRebaseExplicit: true, AllowSquashMerge: true,
		AllowFastForwardOnlyMerge: true, AllowRebaseUpdate: true, DefaultMergeStyle: "merge",
		ObjectFormatName: "sha1", MirrorUpdated: zeroTime, Topics: []string{}, Licenses: []string{},
		Mirror: r.mirror, OriginalURL: r.originalURL,
	}
}

func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]string{"version": s.version})
}

func (s *Server) handleUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.apiAuth(w, r, true)
	if !ok {
		return
	}
	s.writeJSON(w, http.StatusOK, s.userJSON(u))
}

func (s *Server) handleOrg(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apiAuth(w, r, false); !ok {
		return
	}
	o := s.orgs[strings.ToLower(r.PathValue("org"))]
	if o == nil {
		s.notFound(w, fmt.Sprintf("user redirect does not exist [name: %s]", strings.ToLower(r.PathValue("org"))))
		return
	}
	s.writeJSON(w, http.StatusOK, apiOrg{ID: o.ID, Name: o.Name, UserName: o.Name, AvatarURL: s.srv.URL + "/avatars/" + o.Name, Visibility: "public"})
}

type createRepoOption struct {
	Name          string `json:"name"`
	Description   string `json:"description"`
	Private       bool   `json:"private"`
	AutoInit      bool   `json:"auto_init"`
	DefaultBranch string `json:"default_branch"`
	Readme        string `json:"readme"`
	Template      bool   `json:"template"`
}

var alphaDashDot = regexp.MustCompile(`^[-.\w]+$`)

// validateRepoName mirrors Gitea's binding (AlphaDashDot, MaxSize(100)) and
// its reserved names and patterns.
func validateRepoName(name string) (string, bool) {
	switch {
	case strings.TrimSpace(name) == "":
		return "[Name]: Required", false
	case !alphaDashDot.MatchString(name) || strings.Contains(name, ".."):
		return "[Name]: AlphaDashDot", false
	case len(name) > 100:
		return "[Name]: MaxSize", false
	}
	switch strings.ToLower(name) {
	case ".", "..", "-", "assets", "api", "swagger.v1.json":
		return fmt.Sprintf("name is reserved [name: %s]", name), false
	}
	for _, suffix := range []string{".git", ".wiki", ".rss", ".atom"} {
		if strings.HasSuffix(strings.ToLower(name), suffix) {
			return fmt.Sprintf("name pattern is not allowed [pattern: *%s]", suffix), false
		}
	}
	return "", true
}

func (s *Server) handleCreateUserRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.apiAuth(w, r, true)
	if !ok {
		return
	}
	s.createRepo(w, r, u, u.Login)
}

func (s *Server) handleCreateOrgRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.apiAuth(w, r, true)
	if !ok {
		return
	}
	o := s.orgs[strings.ToLower(r.PathValue("org"))]
	if o == nil {
		s.notFound(w, fmt.Sprintf("user redirect does not exist [name: %s]", strings.ToLower(r.PathValue("org"))))
		return
	}
	if !u.Admin && !o.Members[strings.ToLower(u.Login)] {
		s.apiError(w, http.StatusForbidden, "Given user is not owner of organization.")
		return
	}
	s.createRepo(w, r, u, o.Name)
}

func (s *Server) createRepo(w http.ResponseWriter, r *http.Request, u *account, owner string) {
	var opt createRepoOption
	if err := decodeBody(r, &opt); err != nil {
		s.apiError(w, http.StatusUnprocessableEntity, "[]: "+err.Error())
		return
	}
	if msg, ok := validateRepoName(opt.Name); !ok {
		s.apiError(w, http.StatusUnprocessableEntity, msg)
		return
	}
	if opt.AutoInit && opt.Readme != "" && opt.Readme != "Default" {
		s.apiError(w, http.StatusBadRequest, fmt.Sprintf("GetRepoInitFile[%s]: file does not exist", opt.Readme))
		return
	}
	key := repoKey(owner, opt.Name)
	if s.repos[key] != nil {
		s.apiError(w, http.StatusConflict, "The repository with the same name already exists.")
		return
	}
	now := s.now().UTC().Truncate(time.Second)
	s.nextID++
	rp := &repo{
		ID: s.nextID, Owner: owner, Name: opt.Name, Description: opt.Description, Private: opt.Private,
		DefaultBranch: opt.DefaultBranch, Created: now, Updated: now,
		branches: map[string]string{}, commits: map[string]*commit{}, blobs: map[string][]byte{},
	}
	if rp.DefaultBranch == "" {
		rp.DefaultBranch = "main"
	}
	if opt.AutoInit {
		readme := []byte("# " + opt.Name + "\n")
		if opt.Description != "" {
			readme = append(readme, "\n"+opt.Description+"\n"...)
		}
		id := blobSHA(readme)
		rp.blobs[id] = readme
		sig := signature{Name: u.Login, Email: u.Email, When: now}
		c := newCommit(map[string]string{"README.md": id}, nil, sig, sig, "Initial commit")
		rp.commits[c.SHA] = c
		rp.branches[rp.DefaultBranch] = c.SHA
	}
	s.repos[key] = rp
	s.writeJSON(w, http.StatusCreated, s.repoJSON(rp, u))
}

// lookupRepo finds a repository the caller may read; otherwise it writes the
// 404 (private repositories are invisible to strangers) and returns nil.
func (s *Server) lookupRepo(w http.ResponseWriter, r *http.Request, u *account) *repo {
	rp := s.repos[repoKey(r.PathValue("owner"), r.PathValue("repo"))]
	if rp == nil || !s.canRead(u, rp) {
		s.notFound(w, "")
		return nil
	}
	return rp
}

func (s *Server) handleGetRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.apiAuth(w, r, false)
	if !ok {
		return
	}
	if rp := s.lookupRepo(w, r, u); rp != nil {
		s.writeJSON(w, http.StatusOK, s.repoJSON(rp, u))
	}
}

func (s *Server) handleDeleteRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.apiAuth(w, r, true)
	if !ok {
		return
	}
	rp := s.lookupRepo(w, r, u)
	if rp == nil {
		return
	}
	if !s.canWrite(u, rp) {
		s.apiError(w, http.StatusForbidden, "Given user is not owner of organization.")
		return
	}
	delete(s.repos, repoKey(rp.Owner, rp.Name))
	w.WriteHeader(http.StatusNoContent)
}

// handleListUserRepos answers GET /user/repos: the repositories the
// authenticated user owns or, as a member of their organisation, may
// write, by id, one page (?page=, ?limit= up to 50) with X-Total-Count.
func (s *Server) handleListUserRepos(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.apiAuth(w, r, true)
	if !ok {
		return
	}
	s.writeRepoPage(w, r, u, func(rp *repo) bool { return s.isMember(u, rp.Owner) })
}

// handleListOrgRepos answers GET /orgs/{org}/repos: the organisation's
// repositories the caller may read (404 for an unknown organisation).
func (s *Server) handleListOrgRepos(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.apiAuth(w, r, false)
	if !ok {
		return
	}
	org := r.PathValue("org")
	if _, ok := s.orgs[strings.ToLower(org)]; !ok {
		s.notFound(w, "")
		return
	}
	s.writeRepoPage(w, r, u, func(rp *repo) bool { return strings.EqualFold(rp.Owner, org) && s.canRead(u, rp) })
}

func (s *Server) writeRepoPage(w http.ResponseWriter, r *http.Request, u *account, keep func(*repo) bool) {
	var all []*repo
	for _, rp := range s.repos {
		if keep(rp) {
			all = append(all, rp)
		}
	}
	slices.SortFunc(all, func(a, b *repo) int { return cmp.Compare(a.ID, b.ID) })
	page, limit := 1, 30 // Gitea's DEFAULT_PAGING_NUM
	if n, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && n > 0 {
		page = n
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 {
		limit = min(n, 50) // MAX_RESPONSE_ITEMS
	}
	start := min((page-1)*limit, len(all))
	end := min(start+limit, len(all))
	out := make([]apiRepo, 0, end-start)
	for _, rp := range all[start:end] {
		out = append(out, s.repoJSON(rp, u))
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(len(all)))
	s.writeJSON(w, http.StatusOK, out)
}
