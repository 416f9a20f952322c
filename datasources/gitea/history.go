package gitea

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/appmanage/appmanage/datasources/upstream"
)

// HistoryCommit is one commit of a repository's history with the files it
// changed (compared with its first parent).
type HistoryCommit struct {
	SHA         string
	Message     string
	Author      string // author name as recorded in the commit
	AuthorEmail string
	Committed   time.Time // committer date
	Parents     []string
	Files       []AffectedFile
}

// AffectedFile is a file a commit changed; Status is Gitea's: added,
// modified, removed (or renamed, copied).
type AffectedFile struct {
	Path   string
	Status string
}

// HistoryPage is one page of ListHistory.
type HistoryPage struct {
	Commits []HistoryCommit
	// Total is the number of commits on the ref (X-Total-Count), -1 when
	// Gitea did not say.
	Total   int
	HasMore bool
}

// MaxHistoryPage is the largest page Gitea serves (its MAX_RESPONSE_ITEMS
// default).
const MaxHistoryPage = 50

// The JSON of a commit as the commits and compare routes answer it (the
// SDK's CommitAffectedFiles lacks the status).
type apiCommit struct {
	SHA     string `json:"sha"`
	Created string `json:"created"`
	Commit  *struct {
		Message string `json:"message"`
		Author  *struct {
			Name  string `json:"name"`
			Email string `json:"email"`
			Date  string `json:"date"`
		} `json:"author"`
		Committer *struct {
			Date string `json:"date"`
		} `json:"committer"`
	} `json:"commit"`
	Parents []struct {
		SHA string `json:"sha"`
	} `json:"parents"`
	Files []struct {
		Filename string `json:"filename"`
		Status   string `json:"status"`
	} `json:"files"`
}

func (a apiCommit) history() HistoryCommit {
	h := HistoryCommit{SHA: a.SHA}
	h.Committed, _ = time.Parse(time.RFC3339, a.Created)
	if rc := a.Commit; rc != nil {
		h.Message = rc.Message
		if rc.Author != nil {
			h.Author, h.AuthorEmail = rc.Author.Name, rc.Author.Email
		}
		if rc.Committer != nil && h.Committed.IsZero() {
			h.Committed, _ = time.Parse(time.RFC3339, rc.Committer.Date)
		}
	}
	for _, p := range a.Parents {
		h.Parents = append(h.Parents, p.SHA)
	}
	h.Files = make([]AffectedFile, 0, len(a.Files))
	for _, f := range a.Files {
		h.Files = append(h.Files, AffectedFile{Path: f.Filename, Status: f.Status})
	}
	return h
}

// ListHistory returns one page (1-based) of the commits on ref ("" = the
// default branch), newest first, each with its changed files (GET
// /repos/{owner}/{repo}/commits?files=true; no stats, no verification). An
// empty repository gives an empty page.
func (c *Client) ListHistory(ctx context.Context, name, ref string, page, limit int) (*HistoryPage, error) {
	p, err := c.repoPath(ctx, name)
	if err != nil {
		return nil, err
	}
	page = max(page, 1)
	if limit <= 0 || limit > MaxHistoryPage {
		limit = MaxHistoryPage
	}
	q := url.Values{"stat": {"false"}, "verification": {"false"}, "files": {"true"},
		"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(limit)}}
	if ref != "" {
		q.Set("sha", ref)
	}
	var list []apiCommit
	resp, err := c.do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/repos/{owner}/{repo}/commits", Path: p + "/commits", Query: q, Result: &list,
	})
	if errors.Is(err, upstream.ErrConflict) {
		return &HistoryPage{Commits: []HistoryCommit{}}, nil
	}
	if err != nil {
		return nil, err
	}
	out := &HistoryPage{Commits: make([]HistoryCommit, 0, len(list)), Total: -1}
	for _, a := range list {
		out.Commits = append(out.Commits, a.history())
	}
	if n, err := strconv.Atoi(resp.Header.Get("X-Total-Count")); err == nil {
		out.Total = n
		out.HasMore = page*limit < n
	} else if v := resp.Header.Get("X-HasMore"); v != "" {
		out.HasMore = v == "true"
	} else {
		out.HasMore = len(list) == limit
	}
	return out, nil
}

// Compare returns the commits reachable from head but not from base (GET
// /repos/{owner}/{repo}/compare/{base}...{head}), each with its changed
// files. A ref or commit that does not exist gives an error matching
// upstream.ErrNotFound.
func (c *Client) Compare(ctx context.Context, name, base, head string) ([]HistoryCommit, error) {
	p, err := c.repoPath(ctx, name)
	if err != nil {
		return nil, err
	}
	if base == "" || head == "" || strings.Contains(base, "...") || strings.Contains(head, "...") {
		return nil, errors.New("gitea: Compare needs a base and a head")
	}
	var cmp struct {
		Commits      []apiCommit `json:"commits"`
		TotalCommits int         `json:"total_commits"`
	}
	if _, err := c.do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/repos/{owner}/{repo}/compare/{basehead}",
		Path: p + "/compare/" + url.PathEscape(base) + "..." + url.PathEscape(head), Result: &cmp,
	}); err != nil {
		return nil, err
	}
	out := make([]HistoryCommit, 0, len(cmp.Commits))
	for _, a := range cmp.Commits {
		out = append(out, a.history())
	}
	return out, nil
}

// HookOptions describe a Gitea push webhook.
type HookOptions struct {
	URL          string // where Gitea posts
	Secret       string // signs each delivery (X-Gitea-Signature: hex HMAC-SHA256 of the body)
	BranchFilter string // glob of branches that trigger it; "" = all
}

// Hook is a repository webhook as Gitea shows it (Gitea never returns the
// secret).
type Hook struct {
	ID     int64
	Type   string
	URL    string
	Events []string
	Active bool
}

type apiHook struct {
	ID     int64             `json:"id"`
	Type   string            `json:"type"`
	Config map[string]string `json:"config"`
	Events []string          `json:"events"`
	Active bool              `json:"active"`
}

func (h apiHook) hook() Hook {
	return Hook{ID: h.ID, Type: h.Type, URL: h.Config["url"], Events: h.Events, Active: h.Active}
}

// CreateHook adds an active "gitea"-type webhook for push events, posting
// JSON (POST /repos/{owner}/{repo}/hooks). It is never retried: after a
// lost answer, look for it with ListHooks.
func (c *Client) CreateHook(ctx context.Context, name string, opts HookOptions) (*Hook, error) {
	p, err := c.repoPath(ctx, name)
	if err != nil {
		return nil, err
	}
	if opts.URL == "" {
		return nil, errors.New("gitea: CreateHook needs a URL")
	}
	body := struct {
		Type         string            `json:"type"`
		Config       map[string]string `json:"config"`
		Events       []string          `json:"events"`
		BranchFilter string            `json:"branch_filter,omitempty"`
		Active       bool              `json:"active"`
	}{Type: "gitea", Events: []string{"push"}, BranchFilter: opts.BranchFilter, Active: true,
		Config: map[string]string{"url": opts.URL, "content_type": "json", "http_method": "post"}}
	if opts.Secret != "" {
		body.Config["secret"] = opts.Secret
	}
	var h apiHook
	if _, err := c.do(ctx, upstream.Call{
		Method: http.MethodPost, Route: "/repos/{owner}/{repo}/hooks", Path: p + "/hooks", Body: body, Result: &h,
	}); err != nil {
		return nil, err
	}
	out := h.hook()
	return &out, nil
}

// ListHooks returns the repository's webhooks (the first 50: an app
// repository has one).
func (c *Client) ListHooks(ctx context.Context, name string) ([]Hook, error) {
	p, err := c.repoPath(ctx, name)
	if err != nil {
		return nil, err
	}
	var list []apiHook
	if _, err := c.do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/repos/{owner}/{repo}/hooks", Path: p + "/hooks",
		Query: url.Values{"limit": {"50"}}, Result: &list,
	}); err != nil {
		return nil, err
	}
	out := make([]Hook, 0, len(list))
	for _, h := range list {
		out = append(out, h.hook())
	}
	return out, nil
}

// DeleteHook removes a webhook; a missing one (or repository) gives an
// error matching upstream.ErrNotFound, which callers treat as done.
func (c *Client) DeleteHook(ctx context.Context, name string, id int64) error {
	p, err := c.repoPath(ctx, name)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, upstream.Call{
		Method: http.MethodDelete, Route: "/repos/{owner}/{repo}/hooks/{id}", Path: p + "/hooks/" + strconv.FormatInt(id, 10),
	})
	return err
}
