package fake

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// gitAuth authenticates a git or web request, which carries basic auth
// (password or token) rather than an API token header. For a private
// repository an anonymous or badly authenticated caller gets a Basic
// challenge, as git expects before it retries with credentials.
func (s *Server) gitRepo(w http.ResponseWriter, r *http.Request, challenge bool) *repo {
	a := s.authenticate(r)
	name := strings.TrimSuffix(r.PathValue("repo"), ".git")
	rp := s.repos[repoKey(r.PathValue("owner"), name)]
	if rp == nil {
		http.Error(w, "Repository not found", http.StatusNotFound)
		return nil
	}
	if !rp.Private {
		return rp
	}
	if a.user == nil {
		if challenge {
			w.Header().Set("WWW-Authenticate", `Basic realm="Gitea"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
		} else {
			http.Error(w, "Not found", http.StatusNotFound)
		}
		return nil
	}
	if !s.canRead(a.user, rp) {
		http.Error(w, "Repository not found", http.StatusNotFound)
		return nil
	}
	return rp
}

// handleInfoRefs is git's smart-HTTP ref advertisement for upload-pack.
func (s *Server) handleInfoRefs(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc := r.URL.Query().Get("service"); svc != "git-upload-pack" {
		http.Error(w, "Unsupported service", http.StatusForbidden)
		return
	}
	rp := s.gitRepo(w, r, true)
	if rp == nil {
		return
	}
	var b strings.Builder
	writePkt(&b, "# service=git-upload-pack\n")
	b.WriteString("0000")
	caps := "multi_ack thin-pack side-band side-band-64k ofs-delta shallow no-progress include-tag multi_ack_detailed no-done object-format=sha1 agent=git/2.45.2"
	if rp.empty() {
		writePkt(&b, strings.Repeat("0", 40)+" capabilities^{}\x00"+caps+"\n")
	} else {
		names := make([]string, 0, len(rp.branches))
		for n := range rp.branches {
			names = append(names, n)
		}
		sort.Strings(names)
		first := true
		if head, ok := rp.branches[rp.DefaultBranch]; ok {
			writePkt(&b, head+" HEAD\x00"+caps+" symref=HEAD:refs/heads/"+rp.DefaultBranch+"\n")
			first = false
		}
		for _, n := range names {
			line := rp.branches[n] + " refs/heads/" + n
			if first {
				line += "\x00" + caps
				first = false
			}
			writePkt(&b, line+"\n")
		}
	}
	b.WriteString("0000")
	w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
	w.Header().Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(b.String()))
}

func writePkt(b *strings.Builder, line string) {
	fmt.Fprintf(b, "%04x%s", len(line)+4, line)
}

// handleWebRaw serves /{owner}/{repo}/raw/commit/{sha}/{path} and
// /raw/branch/{branch}/{path}, Gitea's web raw routes.
func (s *Server) handleWebRaw(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.gitRepo(w, r, false)
	if rp == nil {
		return
	}
	ref := r.PathValue("sha")
	var c *commit
	if ref != "" {
		if c = rp.commits[strings.ToLower(ref)]; c == nil && len(ref) >= 7 && len(ref) < 40 {
			c = rp.resolve(ref)
			if c != nil && rp.branches[ref] != "" {
				c = nil // a branch name is not a commit id
			}
		}
	} else if id, ok := rp.branches[r.PathValue("branch")]; ok {
		c = rp.commits[id]
	}
	if c == nil {
		http.Error(w, "Not found", http.StatusNotFound)
		return
	}
	p, _ := cleanPath(r.PathValue("path"))
	id, ok := c.Files[p]
	if !ok {
		http.Error(w, "Not found", http.StatusNotFound)
		return
	}
	writeBlob(w, rp.blobs[id])
}
