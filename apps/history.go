package apps

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	udiff "github.com/aymanbagabas/go-udiff"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/errgroup"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/gitea"
)

// CommitEntry is one commit of an app's repository.
type CommitEntry struct {
	SHA         string
	Message     string
	Author      string
	CommittedAt time.Time
	Files       []gitea.AffectedFile
	// Deployed: the commit the stack runs (its git ConfigHash).
	Deployed bool
}

// History is one page of an app's history, newest first.
type History struct {
	Commits     []CommitEntry
	TotalCount  int
	HasNextPage bool
}

// HistoryKey asks for a page of an app's history: First commits after the
// commit After ("" = from the head; First 0 = the default page size).
type HistoryKey struct {
	AppRef
	First int
	After string
}

// History page sizes.
const (
	DefaultHistoryPage = 20
	MaxHistoryFirst    = 100
)

// headTTL is how long the head of an app's branch, as the last history
// read found it, is trusted without asking Gitea. Our own operations and
// Gitea's push webhook forget it at once, so a new head is seen
// immediately; the TTL only bounds how stale a push nobody told us about
// can be.
const headTTL = 30 * time.Second

// historyCache keeps, per app, the branch head last seen and, per head
// (immutable: a commit's ancestry never changes), the commits read so far.
type historyCache struct {
	mu    sync.Mutex
	heads map[string]headEntry // app id (lower case) + "\x00" + branch
	logs  *lru.Cache[string, *historyLog]
	now   func() time.Time
}

type headEntry struct {
	sha string
	at  time.Time
}

// historyLog is the first-parent history from one head: a prefix read so
// far (complete when it reaches the root).
type historyLog struct {
	mu       sync.Mutex
	commits  []gitea.HistoryCommit
	total    int // -1: unknown
	complete bool
	pages    int // pages of MaxHistoryPage read
}

func newHistoryCache() *historyCache {
	logs, _ := lru.New[string, *historyLog](4096)
	return &historyCache{heads: map[string]headEntry{}, logs: logs, now: time.Now}
}

// forget drops what is known of an app's heads (every branch).
func (c *historyCache) forget(appID string) {
	prefix := strings.ToLower(appID) + "\x00"
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.heads {
		if strings.HasPrefix(k, prefix) {
			delete(c.heads, k)
		}
	}
}

func (c *historyCache) head(appID, branch string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.heads[strings.ToLower(appID)+"\x00"+branch]
	if !ok || c.now().Sub(e.at) >= headTTL {
		return "", false
	}
	return e.sha, true
}

func (c *historyCache) setHead(appID, branch, sha string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.heads[strings.ToLower(appID)+"\x00"+branch] = headEntry{sha: sha, at: c.now()}
}

// historySource is the repository and branch an app's history is read
// from, and the commit its stack runs; ok=false for an app without a
// repository of ours.
func (v *View) historySource(ctx context.Context, ref AppRef) (repo, branch, deployed string, ok bool, err error) {
	rec, err := v.record(ctx, ref)
	if err != nil {
		return "", "", "", false, err
	}
	if _, name, own := v.s.repoOwnerName(rec.stack); own {
		g := rec.stack.GitConfig
		branch = strings.TrimPrefix(g.ReferenceName, "refs/heads/")
		if branch == "" {
			branch = "main"
		}
		return name, branch, g.ConfigHash, true, nil
	}
	if rec.stack == nil && (rec.install != nil && rec.op != nil && repoStepDone(rec.op) || kubeRepo(rec)) {
		return rec.ID, "main", "", true, nil
	}
	return "", "", "", false, nil
}

// Histories returns a page of each app's history (nil for an app without
// a repository of ours), reading the apps concurrently: one Gitea call per
// app whose head is not known, none for one whose head was read within
// headTTL and has not moved since.
func (v *View) Histories(ctx context.Context, keys []HistoryKey) ([]*History, []error) {
	out := make([]*History, len(keys))
	errs := make([]error, len(keys))
	var g errgroup.Group
	g.SetLimit(fetchLimit)
	for i, k := range keys {
		g.Go(func() error {
			out[i], errs[i] = v.history(ctx, k)
			return nil
		})
	}
	_ = g.Wait()
	return out, errs
}

func (v *View) history(ctx context.Context, k HistoryKey) (*History, error) {
	if k.First < 0 || k.First > MaxHistoryFirst {
		return nil, apperr.Invalid("first", "want 0..%d", MaxHistoryFirst)
	}
	if k.First == 0 {
		k.First = DefaultHistoryPage
	}
	if k.After != "" && !shaPattern.MatchString(k.After) {
		return nil, apperr.Invalid("after", "not a cursor of this history")
	}
	repo, branch, deployed, ok, err := v.historySource(ctx, k.AppRef)
	if err != nil || !ok {
		return nil, err
	}
	log, err := v.s.historyLog(ctx, repo, branch)
	if err != nil {
		return nil, err
	}
	commits, total, more, err := v.s.historyPage(ctx, repo, log, k.After, k.First)
	if err != nil {
		return nil, err
	}
	h := &History{Commits: make([]CommitEntry, 0, len(commits)), TotalCount: total, HasNextPage: more}
	for _, c := range commits {
		h.Commits = append(h.Commits, CommitEntry{SHA: c.SHA, Message: strings.TrimRight(c.Message, "\n"), Author: c.Author,
			CommittedAt: c.Committed, Files: c.Files, Deployed: deployed != "" && strings.EqualFold(c.SHA, deployed)})
	}
	return h, nil
}

// historyLog returns the cached log of the branch's current head, reading
// the first page (and so the head) when the head is not known.
func (s *Service) historyLog(ctx context.Context, repo, branch string) (*historyLog, error) {
	if head, ok := s.history.head(repo, branch); ok {
		if l, ok := s.history.logs.Get(repo + "\x00" + head); ok {
			return l, nil
		}
	}
	page, err := s.repos.ListHistory(ctx, repo, branch, 1, gitea.MaxHistoryPage)
	if notFound(err) {
		return &historyLog{complete: true}, nil // no branch (yet): no history
	}
	if err != nil {
		return nil, upstreamErr("gitea", err, "read the history of "+repo)
	}
	if len(page.Commits) == 0 {
		return &historyLog{complete: true}, nil
	}
	head := page.Commits[0].SHA
	s.history.setHead(repo, branch, head)
	key := repo + "\x00" + head
	if l, ok := s.history.logs.Get(key); ok {
		return l, nil // the same head as before: what was read of it still holds
	}
	l := &historyLog{commits: page.Commits, total: page.Total, complete: !page.HasMore, pages: 1}
	s.history.logs.Add(key, l)
	return l, nil
}

// historyPage returns up to first commits after the commit after, reading
// more pages (at the head's sha, so pages never shift) as needed.
func (s *Service) historyPage(ctx context.Context, repo string, l *historyLog, after string, first int) ([]gitea.HistoryCommit, int, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		start, found := 0, after == ""
		if after != "" {
			if i := slices.IndexFunc(l.commits, func(c gitea.HistoryCommit) bool { return strings.HasPrefix(c.SHA, strings.ToLower(after)) }); i >= 0 {
				start, found = i+1, true
			}
		}
		if !found && l.complete {
			return nil, 0, false, apperr.Invalid("after", "commit %s is not in this history", clip(after))
		}
		if l.complete || found && len(l.commits) >= start+first {
			end := min(start+first, len(l.commits))
			total, more := l.total, end < len(l.commits)
			switch {
			case l.complete:
				total = len(l.commits)
			case total >= 0:
				more = end < total
			default:
				more = true
			}
			return slices.Clone(l.commits[start:end]), total, more, nil
		}
		page, err := s.repos.ListHistory(ctx, repo, l.commits[0].SHA, l.pages+1, gitea.MaxHistoryPage)
		if err != nil {
			return nil, 0, false, upstreamErr("gitea", err, "read the history of "+repo)
		}
		l.commits = append(l.commits, page.Commits...)
		l.pages++
		if page.Total >= 0 {
			l.total = page.Total
		}
		if !page.HasMore || len(page.Commits) == 0 {
			l.complete = true
		}
	}
}

var shaPattern = regexp.MustCompile(`^[0-9a-fA-F]{7,64}$`)

// fullSHA reports whether s is a whole commit id (SHA-1 or SHA-256).
func fullSHA(s string) bool {
	return shaPattern.MatchString(s) && (len(s) == 40 || len(s) == 64)
}

// Diff limits: a diff names at most maxDiffFiles files, and shows the
// lines of files up to maxDiffFileBytes (larger ones, and binary ones, are
// named only).
const (
	maxDiffFiles     = 500
	maxDiffFileBytes = 1 << 20
)

// Diff returns the unified diff (git's format) that turns the app's
// material at commit from into the material at commit to.
func (s *Service) Diff(ctx context.Context, appID, from, to string) (string, error) {
	if !shaPattern.MatchString(from) {
		return "", apperr.Invalid("from", "want a commit id")
	}
	if !shaPattern.MatchString(to) {
		return "", apperr.Invalid("to", "want a commit id")
	}
	repo, err := s.ownRepoName(ctx, appID)
	if err != nil {
		return "", err
	}
	from, to = strings.ToLower(from), strings.ToLower(to)
	if from == to {
		return "", nil
	}
	key := diffKey{repo: strings.ToLower(repo), from: from, to: to}
	if d, ok := s.diffs.Get(key); ok {
		return d, nil
	}
	paths, err := s.changedPaths(ctx, repo, from, to)
	if err != nil {
		return "", err
	}
	if len(paths) > maxDiffFiles {
		return "", apperr.Precondition("to", "the commits differ in %d files; a diff shows at most %d", len(paths), maxDiffFiles)
	}
	var b strings.Builder
	for _, p := range paths {
		oldF, err := s.repoFile(ctx, fileKey{app: repo, sha: from, path: p})
		if err != nil {
			return "", err
		}
		newF, err := s.repoFile(ctx, fileKey{app: repo, sha: to, path: p})
		if err != nil {
			return "", err
		}
		writeFileDiff(&b, p, oldF, newF)
	}
	d := b.String()
	s.diffs.Add(key, d)
	return d, nil
}

type diffKey struct{ repo, from, to string }

// writeFileDiff writes one file's part of a git-style unified diff.
func writeFileDiff(b *strings.Builder, p string, oldF, newF fileEntry) {
	if oldF.missing && newF.missing || !oldF.missing && !newF.missing && string(oldF.data) == string(newF.data) {
		return
	}
	fmt.Fprintf(b, "diff --git a/%s b/%s\n", p, p)
	oldLabel, newLabel := "a/"+p, "b/"+p
	switch {
	case oldF.missing:
		b.WriteString("new file mode 100644\n")
		oldLabel = "/dev/null"
	case newF.missing:
		b.WriteString("deleted file mode 100644\n")
		newLabel = "/dev/null"
	}
	if binary(oldF.data) || binary(newF.data) || len(oldF.data) > maxDiffFileBytes || len(newF.data) > maxDiffFileBytes {
		fmt.Fprintf(b, "Binary files %s and %s differ\n", oldLabel, newLabel)
		return
	}
	b.WriteString(udiff.Unified(oldLabel, newLabel, string(oldF.data), string(newF.data)))
}

func binary(b []byte) bool { return slices.Contains(b, 0) }

// changedPaths lists, sorted, every path whose content may differ between
// two commits: the files changed by the commits on either side of their
// merge base (compare from...to and to...from), so it holds whether or not
// one commit descends from the other.
func (s *Service) changedPaths(ctx context.Context, repo, from, to string) ([]string, error) {
	var fwd, back []gitea.HistoryCommit
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { fwd, err = s.repos.Compare(gctx, repo, from, to); return err })
	g.Go(func() (err error) { back, err = s.repos.Compare(gctx, repo, to, from); return err })
	if err := g.Wait(); err != nil {
		if notFound(err) {
			return nil, apperr.New(apperr.NotFound, "the repository of %s has no commit %s or %s", repo, clip(from), clip(to))
		}
		return nil, upstreamErr("gitea", err, "compare "+shortID(from)+" with "+shortID(to))
	}
	set := map[string]bool{}
	for _, c := range append(fwd, back...) {
		for _, f := range c.Files {
			set[f.Path] = true
		}
	}
	return sortedKeys(set), nil
}

// ownRepoName is the repository of an app deployed from appmanage's Gitea
// (NOT_FOUND without a stack, PRECONDITION_FAILED for a stack deployed from
// elsewhere).
func (s *Service) ownRepoName(ctx context.Context, appID string) (string, error) {
	st, err := s.locateStack(ctx, appID)
	if err != nil {
		return "", err
	}
	_, name, ok := s.repoOwnerName(st)
	if !ok {
		return "", apperr.Precondition("id", "app %s is not deployed from a repository of appmanage's Gitea", appID)
	}
	return name, nil
}
