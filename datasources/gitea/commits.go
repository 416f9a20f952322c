package gitea

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/appmanage/appmanage/datasources/upstream"
)

// ListCommitsOptions filters and pages ListCommits.
type ListCommitsOptions struct {
	Path  string // only commits touching this file or directory
	SHA   string // branch or commit to start from; "" = default branch
	Page  int    // 1-based; 0 means 1
	Limit int    // 0 means Gitea's default (30); Gitea caps it at 50
}

// CommitInfo is one entry of a repository's history.
type CommitInfo struct {
	SHA     string
	Message string
	Created time.Time
	Author  string // author name as recorded in the commit
}

// ListCommits returns history newest first. An empty repository has no
// history: it returns an empty list (Gitea answers 409 there).
func (c *Client) ListCommits(ctx context.Context, name string, opts ListCommitsOptions) ([]CommitInfo, error) {
	p, err := c.repoPath(ctx, name)
	if err != nil {
		return nil, err
	}
	// Stats, verification and file lists cost the server a diff per commit.
	q := url.Values{"stat": {"false"}, "verification": {"false"}, "files": {"false"}}
	if opts.Path != "" {
		q.Set("path", strings.Trim(opts.Path, "/"))
	}
	if opts.SHA != "" {
		q.Set("sha", opts.SHA)
	}
	if opts.Page > 0 {
		q.Set("page", strconv.Itoa(opts.Page))
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var list []sdk.Commit
	_, err = c.do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/repos/{owner}/{repo}/commits", Path: p + "/commits", Query: q, Result: &list,
	})
	if errors.Is(err, upstream.ErrConflict) {
		return []CommitInfo{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]CommitInfo, 0, len(list))
	for _, cm := range list {
		ci := CommitInfo{}
		if cm.CommitMeta != nil {
			ci.SHA, ci.Created = cm.SHA, cm.Created
		}
		if rc := cm.RepoCommit; rc != nil {
			ci.Message = rc.Message
			if rc.Author != nil {
				ci.Author = rc.Author.Name
				if ci.Created.IsZero() {
					ci.Created, _ = time.Parse(time.RFC3339, rc.Author.Date)
				}
			}
		}
		out = append(out, ci)
	}
	return out, nil
}
