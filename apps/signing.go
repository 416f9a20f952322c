package apps

import (
	"context"
	"fmt"
	"strings"

	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/ops"
)

// Every commit appmanage writes names the operation that wrote it and the
// API key behind that operation (in the message, and as the commit's
// author where the key is known), so the repository's history answers "who
// changed what". Steps run with their operation in ctx (see invalidating);
// signingRepos adds the trailer to every CommitFiles.

// operationTrailer starts the line that names the operation.
const operationTrailer = "\n\nOperation: "

type runInfo struct {
	kind, id, actor string
}

type runInfoKey struct{}

// withRunInfo returns ctx carrying the operation of r: its kind, id and
// the API key's name when its input recorded one ("actor").
func withRunInfo(ctx context.Context, r *ops.Run) context.Context {
	var in struct {
		Actor string `json:"actor"`
	}
	_ = r.Input(&in)
	return context.WithValue(ctx, runInfoKey{}, runInfo{kind: r.Kind(), id: r.OperationID(), actor: in.Actor})
}

// signCommit adds the operation trailer to c's message and the API key as
// its author (unless c names one).
func signCommit(ctx context.Context, c gitea.Commit) gitea.Commit {
	ri, ok := ctx.Value(runInfoKey{}).(runInfo)
	if !ok {
		return c
	}
	var b strings.Builder
	b.WriteString(strings.TrimSpace(c.Message))
	fmt.Fprintf(&b, "%s%s %s", operationTrailer, ri.kind, ri.id)
	if ri.actor != "" {
		fmt.Fprintf(&b, "\nAPI key: %s", ri.actor)
		if c.Author == nil {
			c.Author = &gitea.Identity{Name: ri.actor + " (appmanage)", Email: "appmanage@noreply.invalid"}
		}
	}
	c.Message = b.String()
	return c
}

// signingRepos signs every commit with the operation in ctx.
type signingRepos struct{ Repos }

func (r signingRepos) CommitFiles(ctx context.Context, name string, c gitea.Commit) (*gitea.CommitResult, error) {
	return r.Repos.CommitFiles(ctx, name, signCommit(ctx, c))
}

// BaseURL forwards Gitea's root URL when the wrapped client tells it.
func (r signingRepos) BaseURL() string {
	if b, ok := r.Repos.(interface{ BaseURL() string }); ok {
		return b.BaseURL()
	}
	return ""
}
