package fake

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
)

// The fake keeps real git object ids: a blob's id is git's blob sha1, a
// tree's id is git's tree hash, and a commit's id is the hash of a commit
// object naming its tree, parents, author and message. So the blob SHAs the
// client sends back on update are the same values a real Gitea would check.

func blobSHA(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// treeSHA hashes a flat path -> blob id map as git's nested tree objects.
func treeSHA(files map[string]string) string {
	type entry struct {
		name string
		mode string
		id   string
	}
	var build func(prefix string) string
	build = func(prefix string) string {
		direct := map[string]string{}
		dirs := map[string]bool{}
		for p, id := range files {
			if !strings.HasPrefix(p, prefix) {
				continue
			}
			rest := p[len(prefix):]
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				dirs[rest[:i]] = true
			} else {
				direct[rest] = id
			}
		}
		var es []entry
		for n, id := range direct {
			es = append(es, entry{n, "100644", id})
		}
		for d := range dirs {
			es = append(es, entry{d, "40000", build(prefix + d + "/")})
		}
		// git orders tree entries as if directory names ended in "/".
		key := func(e entry) string {
			if e.mode == "40000" {
				return e.name + "/"
			}
			return e.name
		}
		sort.Slice(es, func(i, j int) bool { return key(es[i]) < key(es[j]) })
		var body []byte
		for _, e := range es {
			raw, _ := hex.DecodeString(e.id)
			body = append(body, e.mode+" "+e.name+"\x00"...)
			body = append(body, raw...)
		}
		h := sha1.New()
		fmt.Fprintf(h, "tree %d\x00", len(body))
		h.Write(body)
		return hex.EncodeToString(h.Sum(nil))
	}
	return build("")
}

type signature struct {
	Name  string
	Email string
	When  time.Time
}

func (s signature) git() string {
	return fmt.Sprintf("%s <%s> %d +0000", s.Name, s.Email, s.When.Unix())
}

type commit struct {
	SHA       string
	Tree      string
	Parents   []string
	Author    signature
	Committer signature
	Message   string
	Files     map[string]string // path -> blob id: the full snapshot
}

func newCommit(files map[string]string, parents []string, author, committer signature, message string) *commit {
	if !strings.HasSuffix(message, "\n") {
		message += "\n"
	}
	c := &commit{Tree: treeSHA(files), Parents: parents, Author: author, Committer: committer, Message: message, Files: files}
	var b strings.Builder
	fmt.Fprintf(&b, "tree %s\n", c.Tree)
	for _, p := range parents {
		fmt.Fprintf(&b, "parent %s\n", p)
	}
	fmt.Fprintf(&b, "author %s\ncommitter %s\n\n%s", author.git(), committer.git(), message)
	h := sha1.New()
	fmt.Fprintf(h, "commit %d\x00", b.Len())
	h.Write([]byte(b.String()))
	c.SHA = hex.EncodeToString(h.Sum(nil))
	return c
}

type repo struct {
	ID            int64
	Owner         string // as the owner spells it
	Name          string
	Description   string
	Private       bool
	DefaultBranch string
	Created       time.Time
	Updated       time.Time

	branches map[string]string // branch -> commit id
	commits  map[string]*commit
	blobs    map[string][]byte
	hooks    []*hook // webhooks, oldest first

	mirror      bool   // migrated as a mirror
	originalURL string // migrated from
}

func (r *repo) empty() bool { return len(r.branches) == 0 }

// resolve maps a ref (branch, full or abbreviated commit id; "" = default
// branch) to a commit.
func (r *repo) resolve(ref string) *commit {
	if ref == "" {
		ref = r.DefaultBranch
	}
	ref = strings.TrimPrefix(ref, "refs/heads/")
	if id, ok := r.branches[ref]; ok {
		return r.commits[id]
	}
	if c, ok := r.commits[strings.ToLower(ref)]; ok {
		return c
	}
	if len(ref) >= 7 {
		var found *commit
		for id, c := range r.commits {
			if strings.HasPrefix(id, strings.ToLower(ref)) {
				if found != nil {
					return nil // ambiguous
				}
				found = c
			}
		}
		return found
	}
	return nil
}

// firstParentLog returns the commits reachable from c by first parents,
// newest first.
func (r *repo) firstParentLog(c *commit) []*commit {
	var out []*commit
	for c != nil {
		out = append(out, c)
		if len(c.Parents) == 0 {
			break
		}
		c = r.commits[c.Parents[0]]
	}
	return out
}

// touches reports whether c changed p (a file, or a directory prefix)
// compared with its first parent.
func (r *repo) touches(c *commit, p string) bool {
	var parent map[string]string
	if len(c.Parents) > 0 {
		parent = r.commits[c.Parents[0]].Files
	}
	match := func(f string) bool { return f == p || strings.HasPrefix(f, p+"/") }
	for f, id := range c.Files {
		if match(f) && parent[f] != id {
			return true
		}
	}
	for f := range parent {
		if match(f) {
			if _, ok := c.Files[f]; !ok {
				return true
			}
		}
	}
	return false
}

// lastCommitFor returns the newest commit on c's first-parent line that
// changed p.
func (r *repo) lastCommitFor(c *commit, p string) *commit {
	for _, x := range r.firstParentLog(c) {
		if r.touches(x, p) {
			return x
		}
	}
	return c
}

type fileChange struct {
	status string // added | modified | removed
	path   string
}

func (r *repo) changes(c *commit) []fileChange {
	var parent map[string]string
	if len(c.Parents) > 0 {
		parent = r.commits[c.Parents[0]].Files
	}
	var out []fileChange
	for f, id := range c.Files {
		old, ok := parent[f]
		switch {
		case !ok:
			out = append(out, fileChange{"added", f})
		case old != id:
			out = append(out, fileChange{"modified", f})
		}
	}
	for f := range parent {
		if _, ok := c.Files[f]; !ok {
			out = append(out, fileChange{"removed", f})
		}
	}
	slices.SortFunc(out, func(a, b fileChange) int { return strings.Compare(a.path, b.path) })
	return out
}

// lineStats counts added and removed lines per changed file (a multiset
// diff, close enough for stats).
func (r *repo) lineStats(c *commit) (add, del int) {
	var parent map[string]string
	if len(c.Parents) > 0 {
		parent = r.commits[c.Parents[0]].Files
	}
	for _, ch := range r.changes(c) {
		oldLines := lines(r.blobs[parent[ch.path]])
		newLines := lines(r.blobs[c.Files[ch.path]])
		count := map[string]int{}
		for _, l := range oldLines {
			count[l]++
		}
		for _, l := range newLines {
			if count[l] > 0 {
				count[l]--
			} else {
				add++
			}
		}
		for _, n := range count {
			del += n
		}
	}
	return add, del
}

func lines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// cleanPath validates a repository path the way Gitea does: relative, no
// "." or ".." components, nothing inside .git.
func cleanPath(p string) (string, bool) {
	p = strings.Trim(p, "/")
	if p == "" || strings.Contains(p, "\x00") || strings.Contains(p, "\\") {
		return "", false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.EqualFold(seg, ".git") {
			return "", false
		}
	}
	return path.Clean(p), true
}
