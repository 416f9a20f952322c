package fake

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

type identity struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type commitDates struct {
	Author    string `json:"author"`
	Committer string `json:"committer"`
}

// fileOptions is Gitea's FileOptions, shared by every contents write.
type fileOptions struct {
	Message   string      `json:"message"`
	Branch    string      `json:"branch"`
	NewBranch string      `json:"new_branch"`
	Author    identity    `json:"author"`
	Committer identity    `json:"committer"`
	Dates     commitDates `json:"dates"`
	Signoff   bool        `json:"signoff"`
	ForcePush bool        `json:"force_push"`
}

type changeOp struct {
	Operation string `json:"operation"`
	Path      string `json:"path"`
	Content   string `json:"content"`
	SHA       string `json:"sha"`
	FromPath  string `json:"from_path"`
}

type changeFilesOptions struct {
	fileOptions
	Files []changeOp `json:"files"`
}

type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// applyChanges performs ops as one commit, all or nothing. Callers hold s.mu.
func (s *Server) applyChanges(rp *repo, u *account, opts fileOptions, ops []changeOp) (*commit, string, *apiError) {
	branch := opts.Branch
	if branch == "" {
		branch = rp.DefaultBranch
	}
	var base *commit
	if !rp.empty() {
		id, ok := rp.branches[branch]
		if !ok {
			return nil, "", errf(http.StatusNotFound, "branch does not exist [name: %s]", branch)
		}
		base = rp.commits[id]
	}
	target := branch
	if opts.NewBranch != "" {
		if _, exists := rp.branches[opts.NewBranch]; exists && !opts.ForcePush {
			return nil, "", errf(http.StatusUnprocessableEntity, "branch already exists [name: %s]", opts.NewBranch)
		}
		target = opts.NewBranch
	}
	files := map[string]string{}
	if base != nil {
		files = maps.Clone(base.Files)
	}
	newBlobs := map[string][]byte{}
	seen := map[string]bool{}
	var msgs []string
	for _, op := range ops {
		p, ok := cleanPath(op.Path)
		if !ok {
			return nil, "", errf(http.StatusUnprocessableEntity, "path contains a malformed path component [path: %s]", op.Path)
		}
		if seen[p] {
			return nil, "", errf(http.StatusUnprocessableEntity, "duplicate file path in request [path: %s]", p)
		}
		seen[p] = true
		var content []byte
		if op.Operation != "delete" && op.Operation != "rename" || op.Content != "" {
			b, err := base64.StdEncoding.DecodeString(op.Content)
			if err != nil {
				return nil, "", errf(http.StatusUnprocessableEntity, "%s", err.Error())
			}
			content = b
		}
		cur, exists := files[p]
		switch op.Operation {
		case "create":
			if exists || isDir(files, p) {
				return nil, "", errf(http.StatusUnprocessableEntity, "repository file already exists [path: %s]", p)
			}
			msgs = append(msgs, "Add "+p)
		case "upload":
			if exists {
				msgs = append(msgs, "Update "+p)
			} else {
				msgs = append(msgs, "Add "+p)
			}
		case "update", "rename":
			from := p
			if op.FromPath != "" {
				fp, ok := cleanPath(op.FromPath)
				if !ok {
					return nil, "", errf(http.StatusUnprocessableEntity, "path contains a malformed path component [path: %s]", op.FromPath)
				}
				from = fp
			}
			old, ok := files[from]
			if !ok {
				return nil, "", errf(http.StatusNotFound, "repository file does not exist [path: %s]", from)
			}
			if op.SHA == "" && op.Operation == "update" {
				return nil, "", errf(http.StatusUnprocessableEntity, "a SHA or commit ID must be proved when updating a file")
			}
			if op.SHA != "" && op.SHA != old {
				return nil, "", errf(http.StatusUnprocessableEntity, "sha does not match [given: %s, expected: %s]", op.SHA, old)
			}
			if from != p {
				if exists {
					return nil, "", errf(http.StatusUnprocessableEntity, "repository file already exists [path: %s]", p)
				}
				delete(files, from)
				if content == nil {
					content = rp.blobs[old]
				}
				msgs = append(msgs, "Rename "+from+" to "+p)
			} else {
				msgs = append(msgs, "Update "+p)
			}
		case "delete":
			if !exists {
				return nil, "", errf(http.StatusNotFound, "repository file does not exist [path: %s]", p)
			}
			if op.SHA == "" {
				return nil, "", errf(http.StatusUnprocessableEntity, "a SHA or commit ID must be proved when updating a file")
			}
			if op.SHA != cur {
				return nil, "", errf(http.StatusUnprocessableEntity, "sha does not match [given: %s, expected: %s]", op.SHA, cur)
			}
			delete(files, p)
			msgs = append(msgs, "Delete "+p)
			continue
		default:
			return nil, "", errf(http.StatusUnprocessableEntity, "[Operation]: In")
		}
		id := blobSHA(content)
		newBlobs[id] = content
		files[p] = id
	}

	now := s.now().UTC().Truncate(time.Second)
	author := signature{Name: u.Login, Email: u.Email, When: now}
	if opts.Author.Name != "" || opts.Author.Email != "" {
		author.Name, author.Email = opts.Author.Name, opts.Author.Email
	}
	committer := author
	if opts.Committer.Name != "" || opts.Committer.Email != "" {
		committer.Name, committer.Email = opts.Committer.Name, opts.Committer.Email
	}
	if t, err := time.Parse(time.RFC3339, opts.Dates.Author); err == nil {
		author.When = t.UTC()
	}
	if t, err := time.Parse(time.RFC3339, opts.Dates.Committer); err == nil {
		committer.When = t.UTC()
	}
	msg := opts.Message
	if msg == "" {
		msg = strings.Join(msgs, "\n")
	}
	if opts.Signoff {
		msg = strings.TrimRight(msg, "\n") + "\n\nSigned-off-by: " + committer.Name + " <" + committer.Email + ">"
	}
	var parents []string
	if base != nil {
		parents = []string{base.SHA}
	}
	c := newCommit(files, parents, author, committer, msg)
	maps.Copy(rp.blobs, newBlobs)
	rp.commits[c.SHA] = c
	wasEmpty := rp.empty()
	rp.branches[target] = c.SHA
	if wasEmpty {
		// The first push into an empty repository sets its default branch.
		rp.DefaultBranch = target
	}
	rp.Updated = now
	return c, target, nil
}

func isDir(files map[string]string, p string) bool {
	for f := range files {
		if strings.HasPrefix(f, p+"/") {
			return true
		}
	}
	return false
}

// --- JSON shapes ----------------------------------------------------------

type apiLinks struct {
	Self string `json:"self"`
	Git  string `json:"git"`
	HTML string `json:"html"`
}

type apiContents struct {
	Name              string   `json:"name"`
	Path              string   `json:"path"`
	SHA               string   `json:"sha"`
	LastCommitSHA     string   `json:"last_commit_sha"`
	LastCommitterDate string   `json:"last_committer_date"`
	LastAuthorDate    string   `json:"last_author_date"`
	LastCommitMessage string   `json:"last_commit_message"`
	Type              string   `json:"type"`
	Size              int      `json:"size"`
	Encoding          *string  `json:"encoding"`
	Content           *string  `json:"content"`
	Target            *string  `json:"target"`
	URL               string   `json:"url"`
	HTMLURL           string   `json:"html_url"`
	GitURL            string   `json:"git_url"`
	DownloadURL       *string  `json:"download_url"`
	SubmoduleGitURL   *string  `json:"submodule_git_url"`
	Links             apiLinks `json:"_links"`
}

type apiCommitUser struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Date  string `json:"date"`
}

type apiCommitMeta struct {
	URL     string `json:"url"`
	SHA     string `json:"sha"`
	Created string `json:"created"`
}

type apiVerification struct {
	Verified  bool    `json:"verified"`
	Reason    string  `json:"reason"`
	Signature string  `json:"signature"`
	Signer    *string `json:"signer"`
	Payload   string  `json:"payload"`
}

type apiFileCommit struct {
	URL       string          `json:"url"`
	SHA       string          `json:"sha"`
	Created   string          `json:"created"`
	HTMLURL   string          `json:"html_url"`
	Author    apiCommitUser   `json:"author"`
	Committer apiCommitUser   `json:"committer"`
	Parents   []apiCommitMeta `json:"parents"`
	Message   string          `json:"message"`
	Tree      apiCommitMeta   `json:"tree"`
}

type apiFileResponse struct {
	Content      *apiContents    `json:"content"`
	Commit       apiFileCommit   `json:"commit"`
	Verification apiVerification `json:"verification"`
}

type apiFilesResponse struct {
	Files        []*apiContents  `json:"files"`
	Commit       apiFileCommit   `json:"commit"`
	Verification apiVerification `json:"verification"`
}

var unsigned = apiVerification{Reason: "gpg.error.not_signed_commit"}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// refKind returns the web URL segment for a ref: branch/<name> or commit/<id>.
func refKind(rp *repo, ref string) string {
	if ref == "" {
		ref = rp.DefaultBranch
	}
	if _, ok := rp.branches[ref]; ok {
		return "branch/" + url.PathEscape(ref)
	}
	return "commit/" + ref
}

func (s *Server) contentsJSON(rp *repo, c *commit, ref, p string, withContent bool) *apiContents {
	full := rp.Owner + "/" + rp.Name
	api := s.APIURL() + "/repos/" + full
	last := rp.lastCommitFor(c, p)
	out := &apiContents{
		Name: path.Base(p), Path: p,
		LastCommitSHA: last.SHA, LastCommitterDate: ts(last.Committer.When), LastAuthorDate: ts(last.Author.When),
		LastCommitMessage: last.Message,
		URL:               api + "/contents/" + escapePath(p) + "?ref=" + url.QueryEscape(ref),
		HTMLURL:           s.srv.URL + "/" + full + "/src/" + refKind(rp, ref) + "/" + escapePath(p),
	}
	if id, ok := c.Files[p]; ok {
		out.Type = "file"
		out.SHA = id
		out.Size = len(rp.blobs[id])
		out.GitURL = api + "/git/blobs/" + id
		dl := s.srv.URL + "/" + full + "/raw/" + refKind(rp, ref) + "/" + escapePath(p)
		out.DownloadURL = &dl
		if withContent {
			enc := "base64"
			b := base64.StdEncoding.EncodeToString(rp.blobs[id])
			out.Encoding, out.Content = &enc, &b
		}
	} else {
		out.Type = "dir"
		sub := map[string]string{}
		for f, id := range c.Files {
			if strings.HasPrefix(f, p+"/") {
				sub[strings.TrimPrefix(f, p+"/")] = id
			}
		}
		out.SHA = treeSHA(sub)
		out.GitURL = api + "/git/trees/" + out.SHA
	}
	out.Links = apiLinks{Self: out.URL, Git: out.GitURL, HTML: out.HTMLURL}
	return out
}

func (s *Server) commitMeta(rp *repo, c *commit) apiCommitMeta {
	return apiCommitMeta{URL: s.APIURL() + "/repos/" + rp.Owner + "/" + rp.Name + "/git/commits/" + c.SHA, SHA: c.SHA, Created: ts(c.Committer.When)}
}

func (s *Server) fileCommitJSON(rp *repo, c *commit) apiFileCommit {
	full := rp.Owner + "/" + rp.Name
	parents := []apiCommitMeta{}
	for _, p := range c.Parents {
		parents = append(parents, s.commitMeta(rp, rp.commits[p]))
	}
	return apiFileCommit{
		URL: s.APIURL() + "/repos/" + full + "/git/commits/" + c.SHA, SHA: c.SHA, Created: ts(c.Committer.When),
		HTMLURL:   s.srv.URL + "/" + full + "/commit/" + c.SHA,
		Author:    apiCommitUser{Name: c.Author.Name, Email: c.Author.Email, Date: ts(c.Author.When)},
		Committer: apiCommitUser{Name: c.Committer.Name, Email: c.Committer.Email, Date: ts(c.Committer.When)},
		Parents:   parents, Message: c.Message,
		Tree: apiCommitMeta{URL: s.APIURL() + "/repos/" + full + "/git/trees/" + c.Tree, SHA: c.Tree, Created: ts(c.Committer.When)},
	}
}

// --- handlers ---------------------------------------------------------------

// writeRepo authenticates a contents write and finds the repository.
func (s *Server) writeRepo(w http.ResponseWriter, r *http.Request) (*account, *repo, bool) {
	u, ok := s.apiAuth(w, r, true)
	if !ok {
		return nil, nil, false
	}
	rp := s.lookupRepo(w, r, u)
	if rp == nil {
		return nil, nil, false
	}
	if !s.canWrite(u, rp) {
		s.apiError(w, http.StatusForbidden, "user should have a permission to write to the target branch")
		return nil, nil, false
	}
	return u, rp, true
}

func (s *Server) handleChangeFiles(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, rp, ok := s.writeRepo(w, r)
	if !ok {
		return
	}
	var opt changeFilesOptions
	if err := decodeBody(r, &opt); err != nil {
		s.apiError(w, http.StatusUnprocessableEntity, "[]: "+err.Error())
		return
	}
	if len(opt.Files) == 0 {
		s.apiError(w, http.StatusUnprocessableEntity, "[Files]: Required")
		return
	}
	c, ref, aerr := s.applyChanges(rp, u, opt.fileOptions, opt.Files)
	if aerr != nil {
		s.apiError(w, aerr.status, aerr.msg)
		return
	}
	resp := apiFilesResponse{Commit: s.fileCommitJSON(rp, c), Verification: unsigned}
	for _, op := range opt.Files {
		p, _ := cleanPath(op.Path)
		if _, exists := c.Files[p]; !exists {
			resp.Files = append(resp.Files, nil) // deleted: Gitea sends null
			continue
		}
		resp.Files = append(resp.Files, s.contentsJSON(rp, c, ref, p, true))
	}
	s.writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) handleCreateFile(w http.ResponseWriter, r *http.Request) {
	s.singleFile(w, r, "create")
}

func (s *Server) handleUpdateFile(w http.ResponseWriter, r *http.Request) {
	s.singleFile(w, r, "update")
}

func (s *Server) handleDeleteFile(w http.ResponseWriter, r *http.Request) {
	s.singleFile(w, r, "delete")
}

func (s *Server) singleFile(w http.ResponseWriter, r *http.Request, kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, rp, ok := s.writeRepo(w, r)
	if !ok {
		return
	}
	var body struct {
		fileOptions
		Content  *string `json:"content"`
		SHA      string  `json:"sha"`
		FromPath string  `json:"from_path"`
	}
	if err := decodeBody(r, &body); err != nil {
		s.apiError(w, http.StatusUnprocessableEntity, "[]: "+err.Error())
		return
	}
	op := changeOp{Operation: kind, Path: r.PathValue("filepath"), SHA: body.SHA, FromPath: body.FromPath}
	if body.Content != nil {
		op.Content = *body.Content
	}
	status := http.StatusCreated
	switch kind {
	case "create":
		if body.Content == nil {
			s.apiError(w, http.StatusUnprocessableEntity, "[Content]: Required")
			return
		}
	case "update":
		if body.Content == nil {
			s.apiError(w, http.StatusUnprocessableEntity, "[Content]: Required")
			return
		}
		status = http.StatusOK
		switch {
		case body.SHA == "" && body.FromPath == "":
			// 1.26: an update without sha creates the file (422 if it exists).
			op.Operation = "create"
			status = http.StatusCreated
		case body.FromPath != "":
			op.Operation = "rename"
		}
	case "delete":
		if body.SHA == "" {
			s.apiError(w, http.StatusUnprocessableEntity, "[SHA]: Required")
			return
		}
		status = http.StatusOK
	}
	c, ref, aerr := s.applyChanges(rp, u, body.fileOptions, []changeOp{op})
	if aerr != nil {
		s.apiError(w, aerr.status, aerr.msg)
		return
	}
	if kind == "delete" {
		s.writeJSON(w, status, map[string]any{"content": nil, "commit": s.fileCommitJSON(rp, c), "verification": unsigned})
		return
	}
	p, _ := cleanPath(op.Path)
	s.writeJSON(w, status, apiFileResponse{Content: s.contentsJSON(rp, c, ref, p, true), Commit: s.fileCommitJSON(rp, c), Verification: unsigned})
}

// readTarget authenticates a read, finds the repository and resolves ?ref.
func (s *Server) readTarget(w http.ResponseWriter, r *http.Request) (*repo, *commit, string, bool) {
	u, ok := s.apiAuth(w, r, false)
	if !ok {
		return nil, nil, "", false
	}
	rp := s.lookupRepo(w, r, u)
	if rp == nil {
		return nil, nil, "", false
	}
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		ref = rp.DefaultBranch
	}
	c := rp.resolve(ref)
	if c == nil {
		// Also the answer for any read of an empty repository.
		s.notFound(w, fmt.Sprintf("object does not exist [id: %s, rel_path: ]", ref))
		return nil, nil, "", false
	}
	return rp, c, ref, true
}

func (s *Server) handleGetContents(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, c, ref, ok := s.readTarget(w, r)
	if !ok {
		return
	}
	p, valid := cleanPath(r.PathValue("filepath"))
	if !valid {
		s.notFound(w, "")
		return
	}
	if _, isFile := c.Files[p]; isFile {
		s.writeJSON(w, http.StatusOK, s.contentsJSON(rp, c, ref, p, true))
		return
	}
	if !isDir(c.Files, p) {
		s.notFound(w, fmt.Sprintf("object does not exist [id: , rel_path: %s]", p))
		return
	}
	names := map[string]bool{}
	for f := range c.Files {
		if rest, found := strings.CutPrefix(f, p+"/"); found {
			first, _, _ := strings.Cut(rest, "/")
			names[p+"/"+first] = true
		}
	}
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	list := make([]*apiContents, 0, len(keys))
	for _, k := range keys {
		list = append(list, s.contentsJSON(rp, c, ref, k, false))
	}
	s.writeJSON(w, http.StatusOK, list)
}

func (s *Server) handleRaw(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, c, _, ok := s.readTarget(w, r)
	if !ok {
		return
	}
	p, _ := cleanPath(r.PathValue("filepath"))
	id, exists := c.Files[p]
	if !exists {
		s.notFound(w, fmt.Sprintf("object does not exist [id: , rel_path: %s]", p))
		return
	}
	writeBlob(w, rp.blobs[id])
}

func writeBlob(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", http.DetectContentType(b))
	w.Header().Set("X-Gitea-Object-Type", "blob")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

type apiRepoCommit struct {
	URL          string          `json:"url"`
	Author       apiCommitUser   `json:"author"`
	Committer    apiCommitUser   `json:"committer"`
	Message      string          `json:"message"`
	Tree         apiCommitMeta   `json:"tree"`
	Verification apiVerification `json:"verification"`
}

type apiAffectedFile struct {
	Filename string `json:"filename"`
	Status   string `json:"status"`
}

type apiStats struct {
	Total     int `json:"total"`
	Additions int `json:"additions"`
	Deletions int `json:"deletions"`
}

type apiCommit struct {
	URL       string            `json:"url"`
	SHA       string            `json:"sha"`
	Created   string            `json:"created"`
	HTMLURL   string            `json:"html_url"`
	Commit    apiRepoCommit     `json:"commit"`
	Author    *apiUser          `json:"author"`
	Committer *apiUser          `json:"committer"`
	Parents   []apiCommitMeta   `json:"parents"`
	Files     []apiAffectedFile `json:"files,omitempty"`
	Stats     *apiStats         `json:"stats,omitempty"`
}

func (s *Server) userByEmail(email string) *apiUser {
	for _, u := range s.users {
		if strings.EqualFold(u.Email, email) {
			j := s.userJSON(u)
			return &j
		}
	}
	return nil
}

func (s *Server) handleCommits(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.apiAuth(w, r, false)
	if !ok {
		return
	}
	rp := s.lookupRepo(w, r, u)
	if rp == nil {
		return
	}
	if rp.empty() {
		s.apiError(w, http.StatusConflict, "Git Repository is empty.")
		return
	}
	q := r.URL.Query()
	start := rp.resolve(q.Get("sha"))
	if start == nil {
		s.notFound(w, fmt.Sprintf("object does not exist [id: %s, rel_path: ]", q.Get("sha")))
		return
	}
	log := rp.firstParentLog(start)
	if p := strings.Trim(q.Get("path"), "/"); p != "" {
		filtered := log[:0:0]
		for _, c := range log {
			if rp.touches(c, p) {
				filtered = append(filtered, c)
			}
		}
		log = filtered
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = 30
	}
	limit = min(limit, 50)
	total := len(log)
	from := min((page-1)*limit, total)
	to := min(from+limit, total)
	withFiles := q.Get("files") != "false"
	withStat := q.Get("stat") != "false"

	full := rp.Owner + "/" + rp.Name
	out := make([]apiCommit, 0, to-from)
	for _, c := range log[from:to] {
		out = append(out, s.commitJSON(rp, c, withFiles, withStat))
	}
	pages := (total + limit - 1) / limit
	h := w.Header()
	h.Set("X-Total-Count", strconv.Itoa(total))
	h.Set("X-Total", strconv.Itoa(total))
	h.Set("X-PerPage", strconv.Itoa(limit))
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-PageCount", strconv.Itoa(pages))
	h.Set("X-HasMore", strconv.FormatBool(page < pages))
	if link := pageLinks(s.APIURL()+"/repos/"+full+"/commits", q, page, pages); link != "" {
		h.Set("Link", link)
	}
	s.writeJSON(w, http.StatusOK, out)
}

// commitJSON is a commit as the commits and compare routes answer it.
func (s *Server) commitJSON(rp *repo, c *commit, withFiles, withStat bool) apiCommit {
	full := rp.Owner + "/" + rp.Name
	parents := []apiCommitMeta{}
	for _, p := range c.Parents {
		parents = append(parents, s.commitMeta(rp, rp.commits[p]))
	}
	ac := apiCommit{
		URL: s.APIURL() + "/repos/" + full + "/git/commits/" + c.SHA, SHA: c.SHA, Created: ts(c.Committer.When),
		HTMLURL: s.srv.URL + "/" + full + "/commit/" + c.SHA,
		Commit: apiRepoCommit{
			URL:          s.APIURL() + "/repos/" + full + "/git/commits/" + c.SHA,
			Author:       apiCommitUser{Name: c.Author.Name, Email: c.Author.Email, Date: ts(c.Author.When)},
			Committer:    apiCommitUser{Name: c.Committer.Name, Email: c.Committer.Email, Date: ts(c.Committer.When)},
			Message:      c.Message,
			Tree:         apiCommitMeta{URL: s.APIURL() + "/repos/" + full + "/git/trees/" + c.Tree, SHA: c.Tree, Created: ts(c.Committer.When)},
			Verification: unsigned,
		},
		Author: s.userByEmail(c.Author.Email), Committer: s.userByEmail(c.Committer.Email),
		Parents: parents,
	}
	if withFiles {
		ac.Files = []apiAffectedFile{}
		for _, ch := range rp.changes(c) {
			ac.Files = append(ac.Files, apiAffectedFile{Filename: ch.path, Status: ch.status})
		}
	}
	if withStat {
		add, del := rp.lineStats(c)
		ac.Stats = &apiStats{Total: add + del, Additions: add, Deletions: del}
	}
	return ac
}

func pageLinks(base string, q url.Values, page, pages int) string {
	mk := func(p int, rel string) string {
		v := url.Values{}
		maps.Copy(v, q)
		v.Set("page", strconv.Itoa(p))
		return fmt.Sprintf("<%s?%s>; rel=%q", base, v.Encode(), rel)
	}
	var links []string
	if page < pages {
		links = append(links, mk(page+1, "next"), mk(pages, "last"))
	}
	if page > 1 {
		links = append(links, mk(1, "first"), mk(page-1, "prev"))
	}
	return strings.Join(links, ",")
}
