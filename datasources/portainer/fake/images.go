package fake

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	json "github.com/goccy/go-json"
)

// The endpoints' image stores: what `docker image inspect` finds and
// `docker pull` (POST /images/create) adds. A compose up pulls the images
// it lacks and adds them too, as does AddContainers.

// ErrManifestUnknown, returned (wrapped) by Options.Pullable, makes a pull
// fail as a registry that lacks the repository or tag does: 404 "manifest
// for X not found: manifest unknown". Any other Pullable error is a
// registry that could not be reached: 500 with the error's text.
var ErrManifestUnknown = errors.New("manifest unknown")

// imageRec is one image on an endpoint, stored under each of its tags.
type imageRec struct {
	id      string
	ref     string // normalized, e.g. docker.io/library/nginx:1.27
	digest  string // sha256:... of the (simulated) manifest
	created time.Time
	layers  []fakeLayer
}

type fakeLayer struct {
	id   string // 12-hex short id, as the pull stream names it
	diff string // sha256:... of the uncompressed layer
	size int64
}

// normalizeRef is Docker's reading of an image reference:
// "nginx" -> docker.io/library/nginx:latest.
func normalizeRef(ref string) (string, error) {
	n, err := reference.ParseNormalizedNamed(strings.TrimSpace(ref))
	if err != nil {
		return "", err
	}
	return reference.TagNameOnly(n).String(), nil
}

// familiar is the short form Docker shows in RepoTags ("nginx:1.27").
func familiar(normalized string) string {
	n, err := reference.ParseNormalizedNamed(normalized)
	if err != nil {
		return normalized
	}
	return reference.FamiliarString(n)
}

// normOr normalizes ref, or returns it as it is when it does not parse.
func normOr(ref string) string {
	if n, err := normalizeRef(ref); err == nil {
		return n
	}
	return ref
}

// newImage simulates the image a registry would serve for ref: 2-4
// layers of a few MiB, all derived from the reference, so the same image
// always has the same id and sizes.
func newImage(normalized string, now time.Time) *imageRec {
	h := sha256Sum([]byte("manifest:" + normalized))
	n := 2 + int(h[0]%3)
	rec := &imageRec{id: imageID(normalized), ref: normalized, digest: "sha256:" + hex.EncodeToString(h), created: now}
	for i := range n {
		lh := sha256Sum([]byte(fmt.Sprintf("layer:%s:%d", normalized, i)))
		size := int64(512<<10) + int64(lh[1])<<14 + int64(lh[2])<<6
		rec.layers = append(rec.layers, fakeLayer{id: hex.EncodeToString(lh)[:12], diff: "sha256:" + hex.EncodeToString(lh), size: size})
	}
	return rec
}

func (r *imageRec) size() int64 {
	var n int64
	for _, l := range r.layers {
		n += l.size
	}
	return n
}

func (s *Server) imageStoreLocked(endpointID int) map[string]*imageRec {
	if s.imgs == nil {
		s.imgs = map[int]map[string]*imageRec{}
	}
	if s.imgs[endpointID] == nil {
		s.imgs[endpointID] = map[string]*imageRec{}
	}
	return s.imgs[endpointID]
}

// addImageLocked stores ref's image on an endpoint (a no-op when it is
// there) and returns it.
func (s *Server) addImageLocked(endpointID int, normalized string, now time.Time) *imageRec {
	store := s.imageStoreLocked(endpointID)
	if rec, ok := store[normalized]; ok {
		return rec
	}
	rec := newImage(normalized, now)
	store[normalized] = rec
	return rec
}

var hexID = regexp.MustCompile(`^(sha256:)?[0-9a-f]{12,64}$`)

// findImageLocked looks an image up as Docker does: by reference (a
// missing tag means latest), by name@digest, or by id or id prefix.
func (s *Server) findImageLocked(endpointID int, name string) *imageRec {
	store := s.imgs[endpointID]
	if hexID.MatchString(name) {
		want := strings.TrimPrefix(name, "sha256:")
		for _, rec := range store {
			if strings.HasPrefix(strings.TrimPrefix(rec.id, "sha256:"), want) {
				return rec
			}
		}
	}
	n, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return nil
	}
	if d, ok := n.(reference.Digested); ok {
		for _, rec := range store {
			if rec.digest == d.Digest().String() && strings.HasPrefix(rec.ref, n.Name()+":") {
				return rec
			}
		}
		return nil
	}
	return store[reference.TagNameOnly(n).String()]
}

// AddImage puts ref's image on an endpoint, as a pull would.
func (s *Server) AddImage(endpointID int, ref string) error {
	n, err := normalizeRef(ref)
	if err != nil {
		return fmt.Errorf("fake portainer: image %q: %w", ref, err)
	}
	s.lockState()
	defer s.mu.Unlock()
	s.addImageLocked(endpointID, n, time.Now())
	return nil
}

// RemoveImage deletes ref's image from an endpoint (`docker rmi -f`); it
// reports whether the image was there.
func (s *Server) RemoveImage(endpointID int, ref string) bool {
	s.lockState()
	defer s.mu.Unlock()
	n := normOr(ref)
	if _, ok := s.imgs[endpointID][n]; !ok {
		return false
	}
	delete(s.imgs[endpointID], n)
	return true
}

// Images lists the references of the images an endpoint has, normalized
// (docker.io/library/nginx:1.27) and sorted.
func (s *Server) Images(endpointID int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for ref := range s.imgs[endpointID] {
		out = append(out, ref)
	}
	slices.Sort(out)
	return out
}

// HasImage reports whether an endpoint has ref's image.
func (s *Server) HasImage(endpointID int, ref string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.findImageLocked(endpointID, ref) != nil
}

// BreakPull makes pulls of ref fail halfway, inside the 200 progress
// stream, with Docker's {"error","errorDetail"} line carrying msg (a
// registry that broke off: "read: connection reset by peer").
func (s *Server) BreakPull(ref, msg string) {
	s.lockState()
	defer s.mu.Unlock()
	if s.brokenPulls == nil {
		s.brokenPulls = map[string]string{}
	}
	s.brokenPulls[normOr(ref)] = msg
}

// CutPull makes the next times pulls of ref lose their connection
// halfway through the progress stream (no error line: the connection just
// ends), as when a proxy or the network drops it.
func (s *Server) CutPull(ref string, times int) {
	s.lockState()
	defer s.mu.Unlock()
	if s.cutPulls == nil {
		s.cutPulls = map[string]int{}
	}
	s.cutPulls[normOr(ref)] = times
}

// FailImage makes every container of ref exit right after it starts with
// exitCode (non-zero; 0 means 1): compose up still succeeds, as `docker
// compose up -d` does, and the container is then "exited". A container
// whose restart policy brings it back (always, unless-stopped, on-failure)
// is "restarting" instead, in a loop: its inspect RestartCount grows with
// Docker's restart backoff (100ms, doubling).
func (s *Server) FailImage(ref string, exitCode int) {
	if exitCode == 0 {
		exitCode = 1
	}
	s.lockState()
	defer s.mu.Unlock()
	if s.exitImages == nil {
		s.exitImages = map[string]int{}
	}
	s.exitImages[normOr(ref)] = exitCode
}

// PullAuth returns the X-Registry-Auth user the last pull of ref sent
// ("" when it sent none) and whether ref was pulled at all.
func (s *Server) PullAuth(ref string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.pullAuths[normOr(ref)]
	return u, ok
}

// pullDecisionLocked says whether a pull of normalized ref succeeds: nil,
// or the daemon's refusal as (status, message).
func (s *Server) pullDecisionLocked(ctx context.Context, normalized string) (int, string) {
	if s.imageFaultLocked(normalized).unpullable {
		repo := familiar(normalized)
		if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo = repo[:i]
		}
		return 404, fmt.Sprintf("pull access denied for %s, repository does not exist or may require 'docker login': denied: requested access to the resource is denied", repo)
	}
	if s.opts.Pullable != nil {
		if err := s.opts.Pullable(ctx, normalized); err != nil {
			if errors.Is(err, ErrManifestUnknown) {
				return 404, fmt.Sprintf("manifest for %s not found: manifest unknown: manifest unknown", familiar(normalized))
			}
			return 500, err.Error()
		}
	}
	return 0, ""
}

func (s *Server) handleInspectImage(w http.ResponseWriter, r *http.Request) {
	endpointID, ok := s.dockerEndpoint(w, r)
	if !ok {
		return
	}
	name, found := strings.CutSuffix(r.PathValue("rest"), "/json")
	if !found || name == "" {
		writeDockerErr(w, 404, "page not found")
		return
	}
	s.mu.Lock()
	rec := s.findImageLocked(endpointID, name)
	var body map[string]any
	if rec != nil {
		body = imageJSON(rec)
	}
	s.mu.Unlock()
	if rec == nil {
		writeDockerErr(w, 404, "No such image: "+name)
		return
	}
	writeJSON(w, 200, body)
}

// imageJSON is Docker's image inspect object (API 1.41-1.45 fields).
func imageJSON(rec *imageRec) map[string]any {
	diffs := make([]string, 0, len(rec.layers))
	for _, l := range rec.layers {
		diffs = append(diffs, l.diff)
	}
	n, _ := reference.ParseNormalizedNamed(rec.ref)
	repoDigest := rec.digest
	if n != nil {
		repoDigest = reference.FamiliarName(n) + "@" + rec.digest
	}
	return map[string]any{
		"Id":            rec.id,
		"RepoTags":      []string{familiar(rec.ref)},
		"RepoDigests":   []string{repoDigest},
		"Parent":        "",
		"Comment":       "",
		"Created":       rfc3339(rec.created),
		"DockerVersion": "",
		"Author":        "",
		"Config": map[string]any{
			"Env":    []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd":    []string{"/bin/sh"},
			"Labels": nil,
		},
		"Architecture": "amd64",
		"Os":           "linux",
		"Size":         rec.size(),
		"GraphDriver":  map[string]any{"Name": "overlay2", "Data": nil},
		"RootFS":       map[string]any{"Type": "layers", "Layers": diffs},
		"Metadata":     map[string]any{"LastTagTime": "0001-01-01T00:00:00Z"},
	}
}

// progressMsg is one line of Docker's pull stream (jsonmessage.JSONMessage).
type progressMsg struct {
	Status         string          `json:"status,omitempty"`
	ProgressDetail *progressDetail `json:"progressDetail,omitempty"`
	Progress       string          `json:"progress,omitempty"`
	ID             string          `json:"id,omitempty"`
	Error          string          `json:"error,omitempty"`
	ErrorDetail    *errorDetail    `json:"errorDetail,omitempty"`
}

type progressDetail struct {
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
}

type errorDetail struct {
	Message string `json:"message"`
}

// handleCreateImage is POST /images/create?fromImage=&tag= (a pull).
// Docker refuses before streaming (a plain error answer) when the registry
// refuses the manifest; once the stream has started, errors come inside
// it with status 200.
func (s *Server) handleCreateImage(w http.ResponseWriter, r *http.Request) {
	endpointID, ok := s.dockerEndpoint(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	from, tag := q.Get("fromImage"), q.Get("tag")
	if from == "" {
		if q.Get("fromSrc") != "" {
			writeDockerErr(w, 501, "fake portainer: image import (fromSrc) is not modelled")
			return
		}
		writeDockerErr(w, 400, "fromImage or fromSrc is required")
		return
	}
	ref := from
	switch {
	case strings.HasPrefix(tag, "sha256:"):
		ref = from + "@" + tag
	case tag != "":
		ref = from + ":" + tag
	}
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		writeDockerErr(w, 400, "invalid reference format")
		return
	}
	if _, tagged := n.(reference.NamedTagged); !tagged {
		if _, digested := n.(reference.Digested); !digested {
			// Docker then pulls every tag of the repository.
			writeDockerErr(w, 501, "fake portainer: pulling all tags (no tag) is not modelled; send tag")
			return
		}
	}
	var user string
	if raw := r.Header.Get("X-Registry-Auth"); raw != "" {
		b, err := base64.URLEncoding.DecodeString(raw)
		if err != nil {
			b, err = base64.StdEncoding.DecodeString(raw)
		}
		var a struct {
			Username string `json:"username"`
		}
		if err == nil {
			err = json.Unmarshal(b, &a)
		}
		if err != nil {
			writeDockerErr(w, 400, "invalid X-Registry-Auth header: "+err.Error())
			return
		}
		user = a.Username
	}
	normalized := n.String()
	if _, digested := n.(reference.Digested); !digested {
		normalized = reference.TagNameOnly(n).String()
	}
	s.mu.Lock()
	status, msg := s.pullDecisionLocked(r.Context(), normalized)
	broken, isBroken := s.brokenPulls[normalized]
	present := s.findImageLocked(endpointID, normalized) != nil
	step := s.opts.PullStep
	cut := s.cutPulls[normalized] > 0
	if cut {
		s.cutPulls[normalized]--
	}
	s.mu.Unlock()
	if status != 0 {
		writeDockerErr(w, status, msg)
		return
	}

	rec := newImage(normalized, time.Now())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	enc := json.NewEncoder(w)
	fl, _ := w.(http.Flusher)
	send := func(m progressMsg) bool {
		if err := enc.Encode(m); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		if step > 0 {
			select {
			case <-r.Context().Done():
				return false
			case <-time.After(step):
			}
		}
		return true
	}
	tagOrDigest := tag
	if !send(progressMsg{Status: "Pulling from " + reference.Path(n), ID: tagOrDigest}) {
		return
	}
	if !present {
		empty := &progressDetail{}
		for _, l := range rec.layers {
			if !send(progressMsg{Status: "Pulling fs layer", ProgressDetail: empty, ID: l.id}) {
				return
			}
		}
		for i, l := range rec.layers {
			for _, frac := range []int64{1, 3, 6, 10} {
				cur := l.size * frac / 10
				if !send(progressMsg{Status: "Downloading", ProgressDetail: &progressDetail{Current: cur, Total: l.size}, Progress: bar(cur, l.size), ID: l.id}) {
					return
				}
				if cut && i == len(rec.layers)-1 && frac == 6 {
					panic(http.ErrAbortHandler) // the connection goes, mid-stream
				}
				if isBroken && i == len(rec.layers)-1 && frac == 6 {
					send(progressMsg{Error: broken, ErrorDetail: &errorDetail{Message: broken}})
					return
				}
			}
			if !send(progressMsg{Status: "Verifying Checksum", ProgressDetail: empty, ID: l.id}) ||
				!send(progressMsg{Status: "Download complete", ProgressDetail: empty, ID: l.id}) {
				return
			}
		}
		for _, l := range rec.layers {
			for _, frac := range []int64{5, 10} {
				cur := l.size * frac / 10
				if !send(progressMsg{Status: "Extracting", ProgressDetail: &progressDetail{Current: cur, Total: l.size}, Progress: bar(cur, l.size), ID: l.id}) {
					return
				}
			}
			if !send(progressMsg{Status: "Pull complete", ProgressDetail: empty, ID: l.id}) {
				return
			}
		}
	} else if isBroken {
		send(progressMsg{Error: broken, ErrorDetail: &errorDetail{Message: broken}})
		return
	}
	s.lockState()
	stored := s.addImageLocked(endpointID, normalized, rec.created)
	if s.pullAuths == nil {
		s.pullAuths = map[string]string{}
	}
	s.pullAuths[normalized] = user
	s.mu.Unlock()
	_ = send(progressMsg{Status: "Digest: " + stored.digest})
	if present {
		_ = send(progressMsg{Status: "Status: Image is up to date for " + familiar(normalized)})
	} else {
		_ = send(progressMsg{Status: "Status: Downloaded newer image for " + familiar(normalized)})
	}
}

// bar is Docker's progress bar text ("[====>   ]  1.2MB/3.4MB").
func bar(cur, total int64) string {
	const width = 50
	n := int(cur * width / max(total, 1))
	b := strings.Repeat("=", n)
	if n < width {
		b += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %s/%s", b, humanSize(cur), humanSize(total))
}

// humanSize follows docker/go-units HumanSize (decimal units).
func humanSize(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "kB", "MB", "GB"} {
		if f < 1000 {
			return fmt.Sprintf("%.4g%s", f, u)
		}
		f /= 1000
	}
	return fmt.Sprintf("%.4gTB", f)
}
