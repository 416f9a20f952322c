package gitea

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/appmanage/appmanage/datasources/upstream"
)

// Repository is the part of Gitea's repository we use.
type Repository struct {
	ID            int64
	Name          string
	FullName      string
	Description   string
	Owner         string
	Private       bool
	Empty         bool // true until the first commit
	DefaultBranch string
	CloneURL      string // <ROOT_URL>/<owner>/<repo>.git, what Portainer clones
	HTMLURL       string
	URL           string // API URL
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func repoFrom(r *sdk.Repository) *Repository {
	out := &Repository{
		ID: r.ID, Name: r.Name, FullName: r.FullName, Description: r.Description, Private: r.Private, Empty: r.Empty,
		DefaultBranch: r.DefaultBranch, CloneURL: r.CloneURL, HTMLURL: r.HTMLURL, URL: r.URL,
		CreatedAt: r.Created, UpdatedAt: r.Updated,
	}
	if r.Owner != nil {
		out.Owner = r.Owner.UserName
	}
	return out
}

// CreateRepoOptions tunes CreateRepo. The zero value makes a private, empty
// repository whose default branch is main.
type CreateRepoOptions struct {
	Description   string
	DefaultBranch string // "" means main
	// AutoInit makes Gitea commit a README; leave it off and put the first
	// files in with one CommitFiles call.
	AutoInit bool
	// Public makes the repository public (repositories are private by default).
	Public bool
}

type createRepoBody struct {
	Name          string `json:"name"`
	Description   string `json:"description,omitempty"`
	Private       bool   `json:"private"`
	AutoInit      bool   `json:"auto_init"`
	DefaultBranch string `json:"default_branch"`
}

// CreateRepo creates name under the owner (POST /orgs/{org}/repos for an
// organisation, POST /user/repos for the authenticated user). It is never
// retried: after a lost answer, look the repository up with GetRepo. An
// existing name gives an error matching upstream.ErrConflict.
func (c *Client) CreateRepo(ctx context.Context, name string, opts CreateRepoOptions) (*Repository, error) {
	owner, isOrg, err := c.resolveOwner(ctx)
	if err != nil {
		return nil, err
	}
	body := createRepoBody{
		Name: name, Description: opts.Description, Private: !opts.Public,
		AutoInit: opts.AutoInit, DefaultBranch: opts.DefaultBranch,
	}
	if body.DefaultBranch == "" {
		body.DefaultBranch = "main"
	}
	call := upstream.Call{Method: http.MethodPost, Route: "/user/repos", Path: "/user/repos", Body: body}
	if isOrg {
		call.Route, call.Path = "/orgs/{org}/repos", "/orgs/"+url.PathEscape(owner)+"/repos"
	}
	var r sdk.Repository
	call.Result = &r
	if _, err := c.do(ctx, call); err != nil {
		return nil, err
	}
	return repoFrom(&r), nil
}

// GetRepo returns the repository; a missing one gives an error matching
// upstream.ErrNotFound.
func (c *Client) GetRepo(ctx context.Context, name string) (*Repository, error) {
	p, err := c.repoPath(ctx, name)
	if err != nil {
		return nil, err
	}
	var r sdk.Repository
	if _, err := c.do(ctx, upstream.Call{Method: http.MethodGet, Route: "/repos/{owner}/{repo}", Path: p, Result: &r}); err != nil {
		return nil, err
	}
	return repoFrom(&r), nil
}

// DeleteRepo deletes the repository. A missing one gives an error matching
// upstream.ErrNotFound, which callers treat as done. DELETE is idempotent,
// so transient failures are retried.
func (c *Client) DeleteRepo(ctx context.Context, name string) error {
	p, err := c.repoPath(ctx, name)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, upstream.Call{Method: http.MethodDelete, Route: "/repos/{owner}/{repo}", Path: p})
	return err
}

// ListRepos returns every repository of the owner (GET /orgs/{org}/repos
// for an organisation, GET /user/repos for the authenticated user, keeping
// only the owner's own), reading pages of 50 until one comes back short.
func (c *Client) ListRepos(ctx context.Context) ([]Repository, error) {
	owner, isOrg, err := c.resolveOwner(ctx)
	if err != nil {
		return nil, err
	}
	const limit = 50
	var out []Repository
	for page := 1; page <= 1000; page++ {
		call := upstream.Call{Method: http.MethodGet, Route: "/user/repos", Path: "/user/repos",
			Query: url.Values{"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(limit)}}}
		if isOrg {
			call.Route, call.Path = "/orgs/{org}/repos", "/orgs/"+url.PathEscape(owner)+"/repos"
		}
		var list []sdk.Repository
		call.Result = &list
		if _, err := c.do(ctx, call); err != nil {
			return nil, err
		}
		for i := range list {
			r := repoFrom(&list[i])
			if isOrg || strings.EqualFold(r.Owner, owner) {
				out = append(out, *r)
			}
		}
		if len(list) < limit {
			break
		}
	}
	return out, nil
}
