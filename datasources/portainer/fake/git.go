package fake

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The fake "clones" the way /tmp/clone.txt agrees with the Gitea fake, which
// a real Gitea also serves: ref discovery over git's smart HTTP
// (info/refs?service=git-upload-pack) and file reads through the web raw
// route /<owner>/<repo>/raw/commit/<sha>/<path>.

// Clone failures, worded like go-git's as Portainer reports them.
var (
	errGitAuth     = errors.New("authentication required")
	errGitNotFound = errors.New("repository not found")
	errGitRef      = errors.New("reference not found")
)

type gitSource struct {
	URL           string
	Ref           string // "" = remote HEAD
	Username      string
	Password      string
	Auth          bool // send basic auth
	TLSSkipVerify bool
}

func (s *Server) gitClient(src gitSource) *http.Client {
	if !src.TLSSkipVerify {
		return s.git
	}
	c := *s.git
	var tr *http.Transport
	if t, ok := c.Transport.(*http.Transport); ok {
		tr = t.Clone()
	} else if c.Transport == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	} else {
		return s.git // a custom transport: leave it alone
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // the stack asked for it (TLSSkipVerify)
	c.Transport = tr
	return &c
}

func (s *Server) gitGet(ctx context.Context, src gitSource, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if src.Auth {
		req.SetBasicAuth(src.Username, src.Password)
	}
	req.Header.Set("User-Agent", "git/2.0 (go-git)")
	return s.gitClient(src).Do(req)
}

// lsRemote resolves src.Ref to a commit sha.
func (s *Server) lsRemote(ctx context.Context, src gitSource) (string, error) {
	u, err := url.Parse(src.URL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("invalid repository URL %q", src.URL)
	}
	resp, err := s.gitGet(ctx, src, src.URL+"/info/refs?service=git-upload-pack")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return "", err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return "", errGitAuth
	case http.StatusNotFound:
		return "", errGitNotFound
	default:
		return "", fmt.Errorf("unexpected client error: unexpected requesting %q status code: %d", src.URL+"/info/refs", resp.StatusCode)
	}
	refs, head, err := parseAdvertisement(body)
	if err != nil {
		return "", err
	}
	want := src.Ref
	if want == "" || want == "HEAD" {
		if sha, ok := refs["HEAD"]; ok {
			return sha, nil
		}
		if head != "" {
			if sha, ok := refs[head]; ok {
				return sha, nil
			}
		}
		return "", errGitRef
	}
	if sha, ok := refs[want+"^{}"]; ok { // annotated tag: the commit it points at
		return sha, nil
	}
	if sha, ok := refs[want]; ok {
		return sha, nil
	}
	return "", errGitRef
}

// parseAdvertisement reads a smart-HTTP ref advertisement in pkt-line format.
// It returns ref name → sha and the HEAD symref target.
func parseAdvertisement(b []byte) (map[string]string, string, error) {
	refs := map[string]string{}
	head := ""
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, "", errors.New("malformed pkt-line")
		}
		n, err := strconv.ParseUint(string(b[:4]), 16, 16)
		if err != nil {
			return nil, "", fmt.Errorf("malformed pkt-line length %q", b[:4])
		}
		if n == 0 { // flush
			b = b[4:]
			continue
		}
		if n < 4 || int(n) > len(b) {
			return nil, "", errors.New("malformed pkt-line")
		}
		line := b[4:n]
		b = b[n:]
		line = bytes.TrimSuffix(line, []byte("\n"))
		if bytes.HasPrefix(line, []byte("# service=")) {
			continue
		}
		if i := bytes.IndexByte(line, 0); i >= 0 {
			for _, c := range strings.Fields(string(line[i+1:])) {
				if t, ok := strings.CutPrefix(c, "symref=HEAD:"); ok {
					head = t
				}
			}
			line = line[:i]
		}
		sha, name, ok := strings.Cut(string(line), " ")
		if !ok || len(sha) != 40 {
			continue
		}
		if name == "capabilities^{}" { // empty repository
			continue
		}
		refs[name] = sha
	}
	return refs, head, nil
}

// fetchFile reads one file at a commit; found is false on 404.
func (s *Server) fetchFile(ctx context.Context, src gitSource, sha, path string) ([]byte, bool, error) {
	base := strings.TrimSuffix(src.URL, ".git")
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	resp, err := s.gitGet(ctx, src, base+"/raw/commit/"+sha+"/"+strings.Join(segs, "/"))
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return body, true, nil
	case http.StatusNotFound:
		return nil, false, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, false, errGitAuth
	default:
		return nil, false, fmt.Errorf("fetching %s: status %d", path, resp.StatusCode)
	}
}

// cloneResult is what a clone leaves in /data/compose/<id>: the files the
// deploy needs, at commit SHA.
type cloneResult struct {
	SHA   string
	Files map[string][]byte
}

// clone resolves the ref and fetches the compose files, the .env beside the
// entry point, and every env_file the compose files reference.
func (s *Server) clone(ctx context.Context, src gitSource, entry string, additional []string) (*cloneResult, error) {
	sha, err := s.lsRemote(ctx, src)
	if err != nil {
		return nil, err
	}
	res := &cloneResult{SHA: sha, Files: map[string][]byte{}}
	get := func(p string) error {
		p = cleanRepoPath(p)
		if p == "" {
			return nil
		}
		if _, done := res.Files[p]; done {
			return nil
		}
		b, ok, err := s.fetchFile(ctx, src, sha, p)
		if err != nil {
			return err
		}
		if ok {
			res.Files[p] = b
		}
		return nil
	}
	composeFiles := append([]string{entry}, additional...)
	for _, f := range composeFiles {
		if err := get(f); err != nil {
			return nil, err
		}
	}
	if err := get(joinRepo(dirOf(entry), ".env")); err != nil {
		return nil, err
	}
	for _, f := range composeFiles {
		for _, ef := range envFileRefs(res.Files[cleanRepoPath(f)]) {
			if err := get(joinRepo(dirOf(f), ef)); err != nil {
				return nil, err
			}
		}
		// The Dockerfiles of services built from the clone (build.go).
		for _, df := range buildRefs(res.Files[cleanRepoPath(f)]) {
			if err := get(joinRepo(dirOf(f), df)); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// cloneHTTPErr maps a clone error to Portainer's create-handler answer:
// rejected credentials read "Invalid git credential"; an anonymous clone of
// a private repository reports go-git's "authentication required".
func cloneHTTPErr(err error, withCreds bool) *httpErr {
	switch {
	case errors.Is(err, errGitAuth) && withCreds:
		return perr(500, "Invalid git credential", "authentication failed, please ensure that the git credentials are correct")
	default:
		msg := "unable to clone git repository: " + err.Error()
		return perr(500, msg, msg)
	}
}
