package portainer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/appmanage/appmanage/datasources/upstream"
)

// envOrEmpty sends [] rather than null: Portainer stores what it gets, and an
// explicit empty list says "no variables" in every version.
func envOrEmpty(env []EnvVar) []EnvVar {
	if env == nil {
		return []EnvVar{}
	}
	return env
}

// deployCall marks a call that runs compose synchronously: long timeout, and
// never repeated blindly (a repeat after a timeout could run a second deploy
// alongside the first, or report "not found" for a delete that succeeded).
func (c *Client) deployCall(call upstream.Call) upstream.Call {
	call.Timeout = c.deployTimeout
	call.NoRetry = true
	return call
}

// CreateStackFromRepository clones the repository and deploys it as a
// compose stack on endpointID. It is never retried: after a timeout or a
// dropped connection, look the stack up by name before trying again.
func (c *Client) CreateStackFromRepository(ctx context.Context, endpointID int, req CreateRepositoryStackRequest) (*Stack, error) {
	req.Env = envOrEmpty(req.Env)
	if req.ComposeFile == "" {
		req.ComposeFile = "docker-compose.yml"
	}
	var out Stack
	_, err := c.do(ctx, c.deployCall(upstream.Call{
		Method: http.MethodPost, Path: "/stacks/create/standalone/repository",
		Query: endpointQuery(endpointID), Body: req, Result: &out,
		Idempotent: upstream.Bool(false),
	}))
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateStackFromString deploys a compose file given inline. Never retried.
func (c *Client) CreateStackFromString(ctx context.Context, endpointID int, req CreateStringStackRequest) (*Stack, error) {
	req.Env = envOrEmpty(req.Env)
	var out Stack
	_, err := c.do(ctx, c.deployCall(upstream.Call{
		Method: http.MethodPost, Path: "/stacks/create/standalone/string",
		Query: endpointQuery(endpointID), Body: req, Result: &out,
		Idempotent: upstream.Bool(false),
	}))
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListStacks returns the stacks of endpointID, or every stack when it is 0.
// The list is shared with other callers that got the same answer: do not
// modify it.
func (c *Client) ListStacks(ctx context.Context, endpointID int) ([]Stack, error) {
	q := url.Values{}
	if endpointID > 0 {
		f, _ := json.Marshal(map[string]int{"EndpointID": endpointID})
		q.Set("filters", string(f))
	}
	var out []Stack
	if _, err := c.do(ctx, upstream.Call{Method: http.MethodGet, Path: "/stacks", Query: q, Result: &out, Memo: &c.lists}); err != nil {
		return nil, err
	}
	if out == nil {
		out = []Stack{}
	}
	return out, nil
}

// GetStack returns one stack; ErrNotFound when it does not exist.
func (c *Client) GetStack(ctx context.Context, id int) (*Stack, error) {
	var out Stack
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/stacks/{id}", Path: fmt.Sprintf("/stacks/%d", id), Result: &out,
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// FindStackByName returns the stack of endpointID whose name matches name
// after Portainer's normalization; an error matching ErrNotFound when none.
func (c *Client) FindStackByName(ctx context.Context, endpointID int, name string) (*Stack, error) {
	stacks, err := c.ListStacks(ctx, endpointID)
	if err != nil {
		return nil, err
	}
	want := NormalizeStackName(name)
	for _, s := range stacks {
		if (endpointID == 0 || s.EndpointID == endpointID) && strings.EqualFold(s.Name, want) {
			return &s, nil // a copy: the list is shared
		}
	}
	return nil, fmt.Errorf("portainer: stack %q on endpoint %d: %w", want, endpointID, ErrNotFound)
}

// UpdateStackGit stores new git settings without redeploying. The request
// replaces every stored field; build it with GitUpdateFromStack. endpointID
// must be the stack's own environment (Portainer moves the stack otherwise).
func (c *Client) UpdateStackGit(ctx context.Context, id, endpointID int, req GitUpdateRequest) (*Stack, error) {
	req.Env = envOrEmpty(req.Env)
	var out Stack
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodPost, Route: "/stacks/{id}/git", Path: fmt.Sprintf("/stacks/%d/git", id),
		Query: endpointQuery(endpointID), Body: req, Result: &out,
		Timeout: c.deployTimeout, // it runs a remote ls-remote when credentials change
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// RedeployStackGit pulls the repository and recreates every container. The
// ref and Env in req replace the stored ones; build it with
// GitRedeployFromStack.
func (c *Client) RedeployStackGit(ctx context.Context, id, endpointID int, req GitRedeployRequest) (*Stack, error) {
	req.Env = envOrEmpty(req.Env)
	var out Stack
	_, err := c.do(ctx, c.deployCall(upstream.Call{
		Method: http.MethodPut, Route: "/stacks/{id}/git/redeploy", Path: fmt.Sprintf("/stacks/%d/git/redeploy", id),
		Query: endpointQuery(endpointID), Body: req, Result: &out,
	}))
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// StartStack runs compose up for a stopped stack.
func (c *Client) StartStack(ctx context.Context, id, endpointID int) (*Stack, error) {
	return c.stackAction(ctx, id, endpointID, "start")
}

// StopStack runs compose down (containers removed, named volumes kept).
func (c *Client) StopStack(ctx context.Context, id, endpointID int) (*Stack, error) {
	return c.stackAction(ctx, id, endpointID, "stop")
}

func (c *Client) stackAction(ctx context.Context, id, endpointID int, action string) (*Stack, error) {
	var out Stack
	_, err := c.do(ctx, c.deployCall(upstream.Call{
		Method: http.MethodPost, Route: "/stacks/{id}/" + action, Path: fmt.Sprintf("/stacks/%d/%s", id, action),
		Query: endpointQuery(endpointID), Result: &out,
	}))
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteStack runs compose down and removes the stack. endpointID must be
// the stack's environment: Portainer otherwise treats the stack as orphaned.
// Named volumes stay; remove them with DeleteVolume.
func (c *Client) DeleteStack(ctx context.Context, id, endpointID int) error {
	_, err := c.do(ctx, c.deployCall(upstream.Call{
		Method: http.MethodDelete, Route: "/stacks/{id}", Path: fmt.Sprintf("/stacks/%d", id),
		Query: endpointQuery(endpointID),
	}))
	return err
}

// MigrateStack moves a stack from endpointID to req.EndpointID (deploying
// there first, then removing it from the source).
func (c *Client) MigrateStack(ctx context.Context, id, endpointID int, req MigrateRequest) (*Stack, error) {
	var out Stack
	_, err := c.do(ctx, c.deployCall(upstream.Call{
		Method: http.MethodPost, Route: "/stacks/{id}/migrate", Path: fmt.Sprintf("/stacks/%d/migrate", id),
		Query: endpointQuery(endpointID), Body: req, Result: &out,
	}))
	if err != nil {
		return nil, err
	}
	return &out, nil
}
