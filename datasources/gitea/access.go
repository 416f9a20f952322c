package gitea

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/appmanage/appmanage/datasources/upstream"
)

// CurrentUser is the account the client's credentials belong to.
type CurrentUser struct {
	Login string
	Admin bool
}

// CurrentUser reads GET /user. A scoped token without read:user gets a 403
// (status 403); a wrong token a 401.
func (c *Client) CurrentUser(ctx context.Context) (*CurrentUser, error) {
	var me struct {
		Login   string `json:"login"`
		IsAdmin bool   `json:"is_admin"`
	}
	if _, err := c.do(ctx, upstream.Call{Method: http.MethodGet, Path: "/user", Result: &me}); err != nil {
		return nil, err
	}
	if me.Login == "" {
		return nil, &upstream.APIError{Upstream: Upstream, Method: http.MethodGet, Path: "/user", Status: http.StatusOK, Message: "no login in response"}
	}
	return &CurrentUser{Login: me.Login, Admin: me.IsAdmin}, nil
}

// ErrCannotCreateRepos means the credentials may not create repositories
// under the owner.
var ErrCannotCreateRepos = errors.New("gitea: the credentials may not create repositories under the owner")

// CheckCreateRepo tells, without creating anything, whether CreateRepo can
// work: it sends CreateRepo's request with an empty name. Gitea checks the
// token and its scope (write:repository, write:organization for an
// organisation) before it validates the body; the fake also checks an
// organisation's membership first (not verified against a real Gitea). So
// a 422 (name required) means the checks before passed, and 401/403/404
// say which one did not. Anything else is returned as it came.
func (c *Client) CheckCreateRepo(ctx context.Context) error {
	owner, isOrg, err := c.resolveOwner(ctx)
	if err != nil {
		return err
	}
	if !isOrg && c.cfg.Owner != "" {
		// POST /user/repos creates for the authenticated user: the owner
		// must be that user. (A token that may not read its user is let
		// through; the request below still tests it.)
		me, err := c.CurrentUser(ctx)
		if err == nil && !strings.EqualFold(me.Login, owner) {
			return fmt.Errorf("%w %s: it is not an organisation, and repositories would be created for %s", ErrCannotCreateRepos, owner, me.Login)
		}
		if err != nil && upstream.StatusOf(err) != http.StatusForbidden {
			return err
		}
	}
	call := upstream.Call{Method: http.MethodPost, Route: "/user/repos", Path: "/user/repos",
		Body: createRepoBody{Name: "", Private: true, DefaultBranch: "main"}, NoRetry: true}
	if isOrg {
		call.Route, call.Path = "/orgs/{org}/repos", "/orgs/"+url.PathEscape(owner)+"/repos"
	}
	_, err = c.do(ctx, call)
	var ae *upstream.APIError
	switch {
	case err == nil:
		// Impossible with an empty name; say so rather than succeed.
		return fmt.Errorf("gitea: a repository with an empty name was accepted by %s", call.Path)
	case errors.As(err, &ae) && ae.Status == http.StatusUnprocessableEntity:
		return nil
	case errors.As(err, &ae) && (ae.Status == http.StatusForbidden || ae.Status == http.StatusNotFound):
		return fmt.Errorf("%w %s (%s): %w", ErrCannotCreateRepos, owner, strings.TrimSpace(ae.Message), err)
	}
	return err
}
