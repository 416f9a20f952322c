package gitea

import (
	"context"
	"net/http"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/appmanage/appmanage/datasources/upstream"
)

// MigrateOptions imports a remote git repository (POST /repos/migrate,
// schema MigrateRepoOptions) as a plain repository: no mirror, no issues,
// wiki, releases or LFS, service "git".
type MigrateOptions struct {
	CloneAddr   string // http(s):// or git:// URL, without credentials
	Description string
	Public      bool // private by default
	// AuthUsername and AuthPassword (a token works as the password) are
	// what Gitea clones with; never logged, never part of an error.
	AuthUsername string
	AuthPassword string
}

type migrateBody struct {
	CloneAddr    string `json:"clone_addr"`
	RepoName     string `json:"repo_name"`
	RepoOwner    string `json:"repo_owner,omitempty"`
	Service      string `json:"service"`
	Mirror       bool   `json:"mirror"`
	Private      bool   `json:"private"`
	Description  string `json:"description,omitempty"`
	AuthUsername string `json:"auth_username,omitempty"`
	AuthPassword string `json:"auth_password,omitempty"`
	Wiki         bool   `json:"wiki"`
	Issues       bool   `json:"issues"`
	Labels       bool   `json:"labels"`
	Milestones   bool   `json:"milestones"`
	Releases     bool   `json:"releases"`
	PullRequests bool   `json:"pull_requests"`
	LFS          bool   `json:"lfs"`
}

// MigrateRepo has Gitea clone opts.CloneAddr into name under the owner and
// answers once the clone is done (Gitea migrates synchronously on this
// route). It is never retried: after a lost answer, look the repository up
// with GetRepo. An existing name gives an error matching
// upstream.ErrConflict; a clone Gitea could not make is a 422 whose
// message is Gitea's ("Migration failed: ...", "Authentication failed:
// ..."), with credentials already removed from URLs by Gitea.
func (c *Client) MigrateRepo(ctx context.Context, name string, opts MigrateOptions) (*Repository, error) {
	owner, _, err := c.resolveOwner(ctx)
	if err != nil {
		return nil, err
	}
	body := migrateBody{
		CloneAddr: opts.CloneAddr, RepoName: name, RepoOwner: owner, Service: "git",
		Private: !opts.Public, Description: opts.Description,
		AuthUsername: opts.AuthUsername, AuthPassword: opts.AuthPassword,
	}
	var r sdk.Repository
	if _, err := c.do(ctx, upstream.Call{Method: http.MethodPost, Route: "/repos/migrate", Path: "/repos/migrate", Body: body, Result: &r}); err != nil {
		return nil, err
	}
	return repoFrom(&r), nil
}
