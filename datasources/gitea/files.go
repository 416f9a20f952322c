package gitea

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/appmanage/appmanage/datasources/upstream"
)

// File operations of a Commit.
const (
	OpCreate = "create" // fails if the file exists
	OpUpdate = "update" // needs the current blob SHA
	OpDelete = "delete" // needs the current blob SHA
	OpUpload = "upload" // create or overwrite, no SHA (Gitea 1.25+)
)

// FileChange is one file of a Commit.
type FileChange struct {
	Operation string // OpCreate, OpUpdate, OpDelete, OpUpload
	Path      string
	Content   []byte // ignored for OpDelete
	SHA       string // blob SHA of the current file, for OpUpdate and OpDelete
}

// Commit is a set of file changes applied as one commit.
type Commit struct {
	Branch  string // "" means the default branch
	Message string // "" lets Gitea write one
	Files   []FileChange
	// Author is recorded as the commit's author (the committer stays the
	// authenticated user); nil lets Gitea use the authenticated user.
	Author *Identity
}

// Identity is a commit author.
type Identity struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// CommitResult describes the commit a write made.
type CommitResult struct {
	SHA     string // commit id
	Message string
	Created time.Time
	// Files maps each written path to its new blob SHA (deleted paths are
	// absent).
	Files map[string]string
}

// FileOptions tunes a single-file write.
type FileOptions struct {
	Branch  string // "" means the default branch
	Message string
}

// File is a file's content at some ref.
type File struct {
	Path          string
	SHA           string // blob SHA, what UpdateFile and DeleteFile need
	Content       []byte
	LastCommitSHA string
}

type fileOp struct {
	Operation string `json:"operation"`
	Path      string `json:"path"`
	Content   string `json:"content,omitempty"`
	SHA       string `json:"sha,omitempty"`
}

type writeOptions struct {
	Message string `json:"message,omitempty"`
	Branch  string `json:"branch,omitempty"`
}

type filesResponse struct {
	Files  []*sdk.ContentsResponse `json:"files"`
	Commit *sdk.FileCommitResponse `json:"commit"`
}

func commitResult(commit *sdk.FileCommitResponse, files ...*sdk.ContentsResponse) *CommitResult {
	out := &CommitResult{Files: map[string]string{}}
	if commit != nil {
		out.SHA, out.Message, out.Created = commit.SHA, commit.Message, commit.Created
		if out.Created.IsZero() && commit.Committer != nil {
			out.Created, _ = time.Parse(time.RFC3339, commit.Committer.Date)
		}
	}
	for _, f := range files {
		if f != nil {
			out.Files[f.Path] = f.SHA
		}
	}
	return out
}

// CommitFiles applies every change in one commit (POST
// /repos/{owner}/{repo}/contents, all or nothing). It works on an empty
// repository, where Branch becomes the first branch. It is never retried: a
// lost answer may hide a commit that happened, so check with ListCommits.
func (c *Client) CommitFiles(ctx context.Context, name string, commit Commit) (*CommitResult, error) {
	if len(commit.Files) == 0 {
		return nil, errors.New("gitea: commit has no files")
	}
	p, err := c.repoPath(ctx, name)
	if err != nil {
		return nil, err
	}
	body := struct {
		writeOptions
		Author *Identity `json:"author,omitempty"`
		Files  []fileOp  `json:"files"`
	}{writeOptions: writeOptions{Message: commit.Message, Branch: commit.Branch}, Author: commit.Author}
	for _, f := range commit.Files {
		switch f.Operation {
		case OpCreate, OpUpdate, OpDelete, OpUpload:
		default:
			return nil, fmt.Errorf("gitea: unknown file operation %q for %s", f.Operation, f.Path)
		}
		op := fileOp{Operation: f.Operation, Path: f.Path, SHA: f.SHA}
		if f.Operation != OpDelete {
			op.Content = base64.StdEncoding.EncodeToString(f.Content)
		}
		body.Files = append(body.Files, op)
	}
	var resp filesResponse
	if _, err := c.do(ctx, upstream.Call{
		Method: http.MethodPost, Route: "/repos/{owner}/{repo}/contents", Path: p + "/contents",
		Body: body, Result: &resp,
	}); err != nil {
		return nil, err
	}
	return commitResult(resp.Commit, resp.Files...), nil
}

// CreateFile adds one file in its own commit; an existing file gives a 422.
// Never retried.
func (c *Client) CreateFile(ctx context.Context, name, path string, content []byte, opts FileOptions) (*CommitResult, error) {
	body := struct {
		writeOptions
		Content string `json:"content"`
	}{writeOptions{opts.Message, opts.Branch}, base64.StdEncoding.EncodeToString(content)}
	return c.fileWrite(ctx, http.MethodPost, name, path, body)
}

// UpdateFile replaces one file whose current blob SHA is sha; a stale sha
// gives a 422 "sha does not match". Not retried: a repeat after a lost
// answer would fail on the now stale sha.
func (c *Client) UpdateFile(ctx context.Context, name, path string, content []byte, sha string, opts FileOptions) (*CommitResult, error) {
	if sha == "" {
		return nil, errors.New("gitea: UpdateFile needs the file's current blob SHA")
	}
	body := struct {
		writeOptions
		Content string `json:"content"`
		SHA     string `json:"sha"`
	}{writeOptions{opts.Message, opts.Branch}, base64.StdEncoding.EncodeToString(content), sha}
	return c.fileWrite(ctx, http.MethodPut, name, path, body)
}

// DeleteFile removes one file whose current blob SHA is sha. Not retried.
func (c *Client) DeleteFile(ctx context.Context, name, path, sha string, opts FileOptions) (*CommitResult, error) {
	if sha == "" {
		return nil, errors.New("gitea: DeleteFile needs the file's current blob SHA")
	}
	body := struct {
		writeOptions
		SHA string `json:"sha"`
	}{writeOptions{opts.Message, opts.Branch}, sha}
	return c.fileWrite(ctx, http.MethodDelete, name, path, body)
}

func (c *Client) fileWrite(ctx context.Context, method, name, path string, body any) (*CommitResult, error) {
	p, err := c.repoPath(ctx, name)
	if err != nil {
		return nil, err
	}
	// A delete answers "content": null, which leaves Content nil.
	var resp struct {
		Content *sdk.ContentsResponse   `json:"content"`
		Commit  *sdk.FileCommitResponse `json:"commit"`
	}
	if _, err := c.do(ctx, upstream.Call{
		Method: method, Route: "/repos/{owner}/{repo}/contents/{filepath}", Path: p + "/contents/" + escapeFilePath(path),
		Body: body, Result: &resp, Idempotent: upstream.Bool(false),
	}); err != nil {
		return nil, err
	}
	return commitResult(resp.Commit, resp.Content), nil
}

// GetRawFile returns a file's bytes at ref ("" = default branch). A missing
// file, ref or an empty repository gives an error matching
// upstream.ErrNotFound.
func (c *Client) GetRawFile(ctx context.Context, name, path, ref string) ([]byte, error) {
	p, err := c.repoPath(ctx, name)
	if err != nil {
		return nil, err
	}
	call := upstream.Call{
		Method: http.MethodGet, Route: "/repos/{owner}/{repo}/raw/{filepath}", Path: p + "/raw/" + escapeFilePath(path),
		Header: http.Header{"Accept": {"*/*"}},
	}
	if ref != "" {
		call.Query = url.Values{"ref": {ref}}
	}
	resp, err := c.do(ctx, call)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// GetFile returns a file with its blob SHA at ref ("" = default branch). A
// directory gives ErrNotFile; a missing path, ref or an empty repository
// an error matching upstream.ErrNotFound.
func (c *Client) GetFile(ctx context.Context, name, path, ref string) (*File, error) {
	p, err := c.repoPath(ctx, name)
	if err != nil {
		return nil, err
	}
	call := upstream.Call{
		Method: http.MethodGet, Route: "/repos/{owner}/{repo}/contents/{filepath}", Path: p + "/contents/" + escapeFilePath(path),
	}
	if ref != "" {
		call.Query = url.Values{"ref": {ref}}
	}
	resp, err := c.do(ctx, call)
	if err != nil {
		return nil, err
	}
	if b := bytes.TrimSpace(resp.Body); len(b) > 0 && b[0] == '[' {
		// A directory answers with an array.
		return nil, fmt.Errorf("%w: %s is a directory", ErrNotFile, path)
	}
	var cr sdk.ContentsResponse
	if err := json.Unmarshal(resp.Body, &cr); err != nil {
		return nil, &upstream.APIError{Upstream: Upstream, Method: http.MethodGet, Path: call.Path, Status: resp.Status, Message: "undecodable response", Err: err}
	}
	if cr.Type != "file" || cr.Content == nil {
		return nil, fmt.Errorf("%w: %s is a %s", ErrNotFile, path, cr.Type)
	}
	if cr.Encoding != nil && *cr.Encoding != "base64" {
		return nil, &upstream.APIError{Upstream: Upstream, Method: http.MethodGet, Path: call.Path, Status: resp.Status, Message: "unexpected content encoding " + *cr.Encoding}
	}
	content, err := base64.StdEncoding.DecodeString(*cr.Content)
	if err != nil {
		return nil, &upstream.APIError{Upstream: Upstream, Method: http.MethodGet, Path: call.Path, Status: resp.Status, Message: "undecodable content", Err: err}
	}
	f := &File{Path: cr.Path, SHA: cr.SHA, Content: content}
	if cr.LastCommitSha != nil {
		f.LastCommitSHA = *cr.LastCommitSha
	}
	return f, nil
}
