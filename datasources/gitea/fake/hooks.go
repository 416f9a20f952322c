package fake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// --- compare ----------------------------------------------------------------

// ancestors returns every commit reachable from c (all parents), c included.
func (r *repo) ancestors(c *commit) map[string]bool {
	seen := map[string]bool{}
	stack := []*commit{c}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if x == nil || seen[x.SHA] {
			continue
		}
		seen[x.SHA] = true
		for _, p := range x.Parents {
			stack = append(stack, r.commits[p])
		}
	}
	return seen
}

// handleCompare answers GET .../compare/{base}...{head} like Gitea's
// repoCompareDiff: the commits reachable from head and not from base
// (git log base..head, newest first), each with its files and stats.
func (s *Server) handleCompare(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.apiAuth(w, r, false)
	if !ok {
		return
	}
	rp := s.lookupRepo(w, r, u)
	if rp == nil {
		return
	}
	bh := r.PathValue("basehead")
	base, head, found := strings.Cut(bh, "...")
	if !found {
		base, head, found = strings.Cut(bh, "..")
	}
	if !found || base == "" || head == "" {
		s.notFound(w, "")
		return
	}
	bc, hc := rp.resolve(base), rp.resolve(head)
	if bc == nil || hc == nil {
		s.notFound(w, "")
		return
	}
	exclude := rp.ancestors(bc)
	var list []*commit
	seen := map[string]bool{}
	stack := []*commit{hc}
	for len(stack) > 0 {
		x := stack[0]
		stack = stack[1:]
		if x == nil || seen[x.SHA] || exclude[x.SHA] {
			continue
		}
		seen[x.SHA] = true
		list = append(list, x)
		for _, p := range x.Parents {
			stack = append(stack, rp.commits[p])
		}
	}
	slices.SortStableFunc(list, func(a, b *commit) int { return b.Committer.When.Compare(a.Committer.When) })
	out := struct {
		Commits      []apiCommit `json:"commits"`
		TotalCommits int         `json:"total_commits"`
	}{Commits: make([]apiCommit, 0, len(list)), TotalCommits: len(list)}
	for _, c := range list {
		out.Commits = append(out.Commits, s.commitJSON(rp, c, true, true))
	}
	s.writeJSON(w, http.StatusOK, out)
}

// --- webhooks ---------------------------------------------------------------

type hook struct {
	ID           int64
	Type         string
	URL          string
	ContentType  string
	Secret       string
	Events       []string
	BranchFilter string
	Active       bool
	Created      time.Time
	Updated      time.Time
}

// HookInfo is a webhook as the fake holds it, secret included (what an
// admin sees in Gitea's settings page).
type HookInfo struct {
	ID           int64
	URL          string
	Secret       string
	Events       []string
	BranchFilter string
	Active       bool
}

// Hooks returns owner/repo's webhooks, oldest first (nil when the
// repository does not exist).
func (s *Server) Hooks(owner, name string) []HookInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[repoKey(owner, name)]
	if rp == nil {
		return nil
	}
	out := []HookInfo{}
	for _, h := range rp.hooks {
		out = append(out, HookInfo{ID: h.ID, URL: h.URL, Secret: h.Secret, Events: slices.Clone(h.Events), BranchFilter: h.BranchFilter, Active: h.Active})
	}
	return out
}

// PushPayload is the body Gitea posts to a push webhook after branch moved
// from before to its current head (the fields appmanage reads, in Gitea's
// PushPayload shape). Nil when the repository or branch does not exist.
func (s *Server) PushPayload(owner, name, branch, before string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[repoKey(owner, name)]
	if rp == nil || rp.branches[branch] == "" {
		return nil
	}
	c := rp.commits[rp.branches[branch]]
	full := rp.Owner + "/" + rp.Name
	type payloadUser struct {
		Name     string `json:"name"`
		Email    string `json:"email"`
		UserName string `json:"username"`
	}
	commitJSON := map[string]any{
		"id": c.SHA, "message": c.Message, "url": s.srv.URL + "/" + full + "/commit/" + c.SHA,
		"author":    payloadUser{Name: c.Author.Name, Email: c.Author.Email},
		"committer": payloadUser{Name: c.Committer.Name, Email: c.Committer.Email},
		"timestamp": ts(c.Committer.When),
	}
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/" + branch, "before": before, "after": c.SHA,
		"compare_url": s.srv.URL + "/" + full + "/compare/" + before + "..." + c.SHA,
		"commits":     []any{commitJSON}, "total_commits": 1, "head_commit": commitJSON,
		"repository": s.repoJSON(rp, nil),
		"pusher":     s.ownerJSON(rp.Owner), "sender": s.ownerJSON(rp.Owner),
	})
	return body
}

type apiHook struct {
	ID                  int64             `json:"id"`
	Type                string            `json:"type"`
	BranchFilter        string            `json:"branch_filter"`
	Config              map[string]string `json:"config"`
	Events              []string          `json:"events"`
	AuthorizationHeader string            `json:"authorization_header"`
	Active              bool              `json:"active"`
	UpdatedAt           string            `json:"updated_at"`
	CreatedAt           string            `json:"created_at"`
}

// hookJSON is Gitea's convert.ToHook: the config shows url and content
// type, never the secret.
func hookJSON(h *hook) apiHook {
	return apiHook{ID: h.ID, Type: h.Type, BranchFilter: h.BranchFilter,
		Config: map[string]string{"url": h.URL, "content_type": h.ContentType},
		Events: slices.Clone(h.Events), Active: h.Active, UpdatedAt: ts(h.Updated), CreatedAt: ts(h.Created)}
}

var hookTypes = []string{"dingtalk", "discord", "gitea", "gogs", "msteams", "slack", "telegram", "feishu", "wechatwork", "packagist"}

// adminRepo authenticates a repository-settings call (webhooks need admin
// rights on the repository: the owner, an org member, or a site admin).
func (s *Server) adminRepo(w http.ResponseWriter, r *http.Request) (*repo, bool) {
	u, ok := s.apiAuth(w, r, true)
	if !ok {
		return nil, false
	}
	rp := s.lookupRepo(w, r, u)
	if rp == nil {
		return nil, false
	}
	if !s.canWrite(u, rp) {
		s.apiError(w, http.StatusForbidden, "Must have admin permission to access this resource")
		return nil, false
	}
	return rp, true
}

func (s *Server) handleCreateHook(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, ok := s.adminRepo(w, r)
	if !ok {
		return
	}
	var opt struct {
		Type                string            `json:"type"`
		Config              map[string]string `json:"config"`
		Events              []string          `json:"events"`
		BranchFilter        string            `json:"branch_filter"`
		AuthorizationHeader string            `json:"authorization_header"`
		Active              bool              `json:"active"`
		Name                string            `json:"name"`
	}
	if err := decodeBody(r, &opt); err != nil {
		s.apiError(w, http.StatusUnprocessableEntity, "[]: "+err.Error())
		return
	}
	switch {
	case opt.Type == "":
		s.apiError(w, http.StatusUnprocessableEntity, "[Type]: Required")
		return
	case !slices.Contains(hookTypes, opt.Type):
		s.apiError(w, http.StatusUnprocessableEntity, "Invalid hook type")
		return
	case opt.Config == nil:
		s.apiError(w, http.StatusUnprocessableEntity, "[Config]: Required")
		return
	}
	for _, k := range []string{"url", "content_type"} {
		if opt.Config[k] == "" {
			s.apiError(w, http.StatusUnprocessableEntity, "Missing config option: "+k)
			return
		}
	}
	if ct := opt.Config["content_type"]; ct != "json" && ct != "form" {
		s.apiError(w, http.StatusUnprocessableEntity, "Invalid content type")
		return
	}
	if len(opt.Events) == 0 {
		opt.Events = []string{"push"}
	}
	now := s.now().UTC().Truncate(time.Second)
	s.nextID++
	h := &hook{ID: s.nextID, Type: opt.Type, URL: opt.Config["url"], ContentType: opt.Config["content_type"],
		Secret: opt.Config["secret"], Events: opt.Events, BranchFilter: opt.BranchFilter, Active: opt.Active,
		Created: now, Updated: now}
	rp.hooks = append(rp.hooks, h)
	s.writeJSON(w, http.StatusCreated, hookJSON(h))
}

func (s *Server) handleListHooks(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, ok := s.adminRepo(w, r)
	if !ok {
		return
	}
	out := make([]apiHook, 0, len(rp.hooks))
	for _, h := range rp.hooks {
		out = append(out, hookJSON(h))
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(len(out)))
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleDeleteHook(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, ok := s.adminRepo(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.notFound(w, "")
		return
	}
	for i, h := range rp.hooks {
		if h.ID == id {
			rp.hooks = slices.Delete(rp.hooks, i, i+1)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	s.notFound(w, fmt.Sprintf("webhook does not exist [id: %d]", id))
}
