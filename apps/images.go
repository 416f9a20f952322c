package apps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/library"
)

// Defaults of the registry checks.
const (
	// inspectTimeout bounds asking the endpoint whether it has an image.
	inspectTimeout          = 10 * time.Second
	DefaultRegistryTimeout  = 5 * time.Second
	DefaultRegistryCacheTTL = time.Minute
)

// ImageStatus is one image an app runs, as App.images and
// CatalogApp.images show it.
type ImageStatus struct {
	// Ref is the image as the compose file names it with the .env applied
	// (for an installed app: as committed, so possibly a mirror's).
	Ref string
	// Services that run it, in name order.
	Services []string
	// Present: the endpoint already has it (Docker's image inspect).
	// Nil when not asked (a catalog app has no endpoint) or unknown.
	Present *bool
	// Reachable: a registry answered for this tag; Via is the reference
	// that answered (Ref itself, or a mirror's reference for it).
	Reachable bool
	Via       string
	// Tried lists what was asked and what each answered.
	Tried []string
}

// Registries checks whether images can be pulled, through mirrors when
// configured, with a short timeout and a brief cache. The zero value is
// not usable: build one with NewRegistries.
type Registries struct {
	mirrors map[string][]mirror // by registry host as go-containerregistry names it (index.docker.io)
	*regShared
}

// regShared is what every mirror view of one Registries shares.
type regShared struct {
	timeout   time.Duration
	ttl       time.Duration
	transport http.RoundTripper

	mu     sync.Mutex
	cache  map[string]probe
	flight singleflight.Group
	now    func() time.Time
}

// WithMirrors is r with other mirrors (the registryMirrors setting),
// sharing r's cache and timeout.
func (r *Registries) WithMirrors(spec string) (*Registries, error) {
	m, err := ParseMirrors(spec)
	if err != nil {
		return nil, err
	}
	return &Registries{mirrors: m, regShared: r.regShared}, nil
}

// mirror is a registry that serves another's repositories, possibly under
// a path prefix, over plain HTTP when insecure.
type mirror struct {
	host     string // host[:port]
	prefix   string // "" or "path/prefix"
	insecure bool
}

func (m mirror) String() string {
	s := m.host
	if m.prefix != "" {
		s += "/" + m.prefix
	}
	if m.insecure {
		s = "http://" + s
	}
	return s
}

// probe is one registry answer for one reference.
type probe struct {
	ok  bool
	msg string // why not
	at  time.Time
}

// RegistriesConfig configures Registries.
type RegistriesConfig struct {
	// Mirrors is "registry=mirror[,registry=mirror...]", e.g.
	// "docker.io=mirror.example:5000"; a mirror may carry a path prefix
	// (mirror.example/dockerhub) and an http:// scheme (plain HTTP).
	Mirrors string
	// Timeout bounds one registry answer (default 5s); CacheTTL is how
	// long answers are reused (default 1 min).
	Timeout  time.Duration
	CacheTTL time.Duration
	// Transport carries the registry calls (nil: http.DefaultTransport).
	Transport http.RoundTripper
}

// NewRegistries validates cfg and builds the checker. It makes no call.
func NewRegistries(cfg RegistriesConfig) (*Registries, error) {
	mirrors, err := ParseMirrors(cfg.Mirrors)
	if err != nil {
		return nil, err
	}
	r := &Registries{mirrors: mirrors, regShared: &regShared{timeout: cfg.Timeout, ttl: cfg.CacheTTL, transport: cfg.Transport,
		cache: map[string]probe{}, now: time.Now}}
	if r.timeout <= 0 {
		r.timeout = DefaultRegistryTimeout
	}
	if r.ttl <= 0 {
		r.ttl = DefaultRegistryCacheTTL
	}
	if r.transport == nil {
		r.transport = http.DefaultTransport
	}
	return r, nil
}

// ParseMirrors reads "registry=mirror,..." (also separated by spaces or
// semicolons; a registry may have several mirrors, tried in order).
func ParseMirrors(s string) (map[string][]mirror, error) {
	out := map[string][]mirror{}
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' }) {
		reg, m, ok := strings.Cut(item, "=")
		reg, m = strings.TrimSpace(reg), strings.TrimSpace(m)
		if strings.Contains(m, "@") {
			// Never repeated: it may be a password.
			return nil, apperr.Invalid("registryMirrors", "mirror of %q: credentials are not supported in a mirror (the checks ask registries anonymously)", clip(reg))
		}
		if !ok || reg == "" || m == "" {
			return nil, apperr.Invalid("registryMirrors", "%q: want registry=mirror, e.g. docker.io=mirror.example:5000", clip(item))
		}
		host, err := registryHost(reg)
		if err != nil {
			return nil, apperr.Invalid("registryMirrors", "%q: %v", clip(reg), err)
		}
		var mm mirror
		switch {
		case strings.HasPrefix(m, "http://"):
			mm.insecure, m = true, strings.TrimPrefix(m, "http://")
		case strings.HasPrefix(m, "https://"):
			m = strings.TrimPrefix(m, "https://")
		}
		m = strings.Trim(m, "/")
		mm.host, mm.prefix, _ = strings.Cut(m, "/")
		if _, err := name.NewRegistry(mm.host, name.StrictValidation); err != nil || mm.host == "" {
			return nil, apperr.Invalid("registryMirrors", "mirror %q is not a registry host[:port][/prefix]", clip(m))
		}
		if mm.prefix != "" {
			if _, err := name.NewRepository(mm.host+"/"+mm.prefix+"/x", name.StrictValidation); err != nil {
				return nil, apperr.Invalid("registryMirrors", "mirror %q: bad path prefix", clip(m))
			}
		}
		out[host] = append(out[host], mm)
	}
	return out, nil
}

// registryHost is a registry's name as go-containerregistry keys it:
// docker.io, registry-1.docker.io and index.docker.io are one.
func registryHost(reg string) (string, error) {
	switch strings.ToLower(reg) {
	case "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return name.DefaultRegistry, nil
	}
	r, err := name.NewRegistry(reg, name.StrictValidation)
	if err != nil {
		return "", err
	}
	return r.RegistryStr(), nil
}

// candidates are the references to ask for ref, in order: each mirror of
// its registry, then ref's own registry.
func (r *Registries) candidates(ref name.Reference) []candidate {
	var out []candidate
	repo := ref.Context()
	for _, m := range r.mirrors[repo.RegistryStr()] {
		path := repo.RepositoryStr()
		if m.prefix != "" {
			path = m.prefix + "/" + path
		}
		s := m.host + "/" + path + sep(ref) + ref.Identifier()
		opts := []name.Option{name.WeakValidation}
		if m.insecure {
			opts = append(opts, name.Insecure)
		}
		if mr, err := name.ParseReference(s, opts...); err == nil {
			out = append(out, candidate{ref: mr, text: s, mirror: true})
		}
	}
	return append(out, candidate{ref: ref, text: ref.Name()})
}

type candidate struct {
	ref    name.Reference
	text   string // as committed when it is a mirror's
	mirror bool
}

func sep(ref name.Reference) string {
	if _, ok := ref.(name.Digest); ok {
		return "@"
	}
	return ":"
}

// reach is what Reachable found.
type reach struct {
	ok     bool
	via    string // the reference that answered
	mirror bool   // via is a mirror's
	tried  []string
}

// Reachable asks the registries for image (mirrors first, as Docker's
// registry-mirrors do), each answer bounded by the timeout and cached.
func (r *Registries) Reachable(ctx context.Context, image string) reach {
	ref, err := name.ParseReference(image, name.WeakValidation)
	if err != nil {
		return reach{tried: []string{fmt.Sprintf("%s: not an image reference: %v", image, err)}}
	}
	var out reach
	for _, c := range r.candidates(ref) {
		p := r.ask(ctx, c)
		if p.ok {
			out.tried = append(out.tried, c.text+": found")
			out.ok, out.via, out.mirror = true, image, c.mirror
			if c.mirror {
				out.via = c.text
			}
			return out
		}
		out.tried = append(out.tried, c.text+": "+p.msg)
	}
	return out
}

// ask is one cached HEAD of a manifest.
func (r *Registries) ask(ctx context.Context, c candidate) probe {
	key := c.ref.Name()
	if c.mirror {
		key = "mirror:" + c.text // a mirror may be plain HTTP
	}
	r.mu.Lock()
	if p, ok := r.cache[key]; ok && r.now().Sub(p.at) < r.ttl {
		r.mu.Unlock()
		return p
	}
	r.mu.Unlock()
	ch := r.flight.DoChan(key, func() (any, error) {
		// Detached from the caller, so one caller giving up does not fail
		// the others sharing the call; bounded by the timeout.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
		defer cancel()
		_, err := remote.Head(c.ref, remote.WithContext(cctx), remote.WithTransport(r.transport),
			remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
		p := probe{ok: err == nil, at: r.now()}
		if err != nil {
			p.msg = registryMessage(err, cctx, r.timeout)
		}
		r.mu.Lock()
		r.cache[key] = p
		r.mu.Unlock()
		return p, nil
	})
	select {
	case res := <-ch:
		return res.Val.(probe)
	case <-ctx.Done():
		return probe{msg: "not asked to the end: " + ctx.Err().Error()}
	}
}

// registryMessage says briefly why a registry did not serve a manifest.
func registryMessage(err error, ctx context.Context, timeout time.Duration) string {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return "not found (404)"
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Sprintf("denied (%d): the repository is private or does not exist", te.StatusCode)
		}
		return fmt.Sprintf("registry answered %d", te.StatusCode)
	}
	if ctx.Err() != nil {
		return fmt.Sprintf("no answer within %s", timeout)
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return "unreachable: " + msg
}

// --- images of an app's material ---------------------------------------------

// composeImages lists the images a loaded project runs, each once with
// the services that run it; services that only build are left out.
func composeImages(project *types.Project) []ImageStatus {
	byRef := map[string]*ImageStatus{}
	var order []string
	for _, svcName := range slices.Sorted(func(yield func(string) bool) {
		for n := range project.Services {
			if !yield(n) {
				return
			}
		}
	}) {
		img := strings.TrimSpace(project.Services[svcName].Image)
		if img == "" {
			continue
		}
		st, ok := byRef[img]
		if !ok {
			st = &ImageStatus{Ref: img}
			byRef[img] = st
			order = append(order, img)
		}
		st.Services = append(st.Services, svcName)
	}
	out := make([]ImageStatus, 0, len(order))
	for _, ref := range order {
		out = append(out, *byRef[ref])
	}
	return out
}

// materialImages loads rendered material's compose file with its .env
// and lists its images.
func materialImages(ctx context.Context, app *library.App, appID string, files map[string][]byte) ([]ImageStatus, error) {
	project, err := composeProject(ctx, app, appID, files)
	if err != nil {
		return nil, err
	}
	return composeImages(project), nil
}

// CatalogImages lists the images an install of a catalog app's version
// would run (the library's .env with the install's defaults), with their
// reachability; Present stays nil (no endpoint is chosen).
func (s *Service) CatalogImages(ctx context.Context, appName, version string) ([]ImageStatus, error) {
	app, ok := s.catalog.Get(appName)
	if !ok {
		return nil, apperr.New(apperr.NotFound, "no app %q in the library", clip(appName))
	}
	if version == "" {
		version = app.DefaultVersion
	}
	if !app.HasVersion(version) {
		return nil, apperr.Invalid("version", "%s has no version %q; listed: %s", app.Name, clip(version), strings.Join(versions(app), ", "))
	}
	in := InstallInput{AppName: app.Name, AppID: "catalog", Version: version, Dist: app.EditionOf(version), URL: "localhost"}
	files, err := render(app, in)
	if err != nil {
		return nil, err
	}
	images, err := materialImages(ctx, app, in.AppID, files)
	if err != nil {
		return nil, err
	}
	return s.checkImages(ctx, 0, images), nil
}

// checkImages fills in, in parallel, whether endpoint (0: none) has each
// image and whether a registry serves it. It never fails: what could not
// be learnt stays unknown or unreachable, with Tried saying why. Without
// a registry checker (Config.Registries nil) reachability is not asked
// and Tried says so. The upgrade workflow uses it too.
func (s *Service) checkImages(ctx context.Context, endpoint int, images []ImageStatus) []ImageStatus {
	out := slices.Clone(images)
	reg := s.registries(ctx)
	var g errgroup.Group
	g.SetLimit(8)
	for i := range out {
		g.Go(func() error {
			im := &out[i]
			if endpoint != 0 {
				ictx, cancel := context.WithTimeout(ctx, min(s.cfg.StepTimeout, inspectTimeout))
				_, err := s.stacks.InspectImage(ictx, endpoint, im.Ref)
				cancel()
				switch {
				case err == nil:
					im.Present = new(true)
				case notFound(err):
					im.Present = new(false)
				default:
					im.Tried = append(im.Tried, fmt.Sprintf("endpoint %d: image inspect failed: %v", endpoint, err))
				}
			}
			if reg == nil {
				im.Tried = append(im.Tried, "registries: not checked (no registry checker configured)")
				return nil
			}
			rc := reg.Reachable(ctx, im.Ref)
			im.Reachable, im.Tried = rc.ok, append(im.Tried, rc.tried...)
			if rc.ok {
				im.Via = rc.via
			}
			return nil
		})
	}
	_ = g.Wait()
	return out
}

// registries is the configured checker with the registryMirrors setting
// applied (an unreadable setting is logged and ignored).
func (s *Service) registries(ctx context.Context) *Registries {
	reg := s.cfg.Registries
	if reg == nil {
		return nil
	}
	if spec := s.setting(ctx, "registryMirrors"); spec != "" {
		m, err := reg.WithMirrors(spec)
		if err != nil {
			s.log.WarnContext(ctx, "registryMirrors setting ignored", "error", err)
			return reg
		}
		return m
	}
	return reg
}

// refuseUnpullable is the install preflight's image rule (see
// unpullable): it checks the images and returns the rewrites (service ->
// mirror reference) for images only a mirror has. Without a registry
// checker it checks nothing.
func (s *Service) refuseUnpullable(ctx context.Context, endpoint int, images []ImageStatus, allow bool) (map[string]string, error) {
	if s.cfg.Registries == nil {
		return nil, nil
	}
	rewrites, bad := unpullable(endpoint, s.checkImages(ctx, endpoint, images))
	if len(bad) > 0 && !allow {
		return nil, refuseImages(bad, "; pass allowUnreachableImages: true to install anyway")
	}
	return rewrites, nil
}

// unpullable is the preflights' image rule (install and upgrade) over
// checked images: every image must be on the endpoint or reachable. It
// returns the rewrites (service -> mirror reference) for images only a
// mirror has, and a description of each image that is neither.
func unpullable(endpoint int, checked []ImageStatus) (rewrites map[string]string, bad []string) {
	for _, im := range checked {
		if im.Present != nil && *im.Present {
			continue
		}
		if im.Reachable {
			if im.Via != im.Ref {
				if rewrites == nil {
					rewrites = map[string]string{}
				}
				for _, svc := range im.Services {
					rewrites[svc] = im.Via
				}
			}
			continue
		}
		bad = append(bad, fmt.Sprintf("%s (service %s; endpoint %d does not have it; tried %s)",
			im.Ref, strings.Join(im.Services, ", "), endpoint, strings.Join(im.Tried, "; ")))
	}
	return rewrites, bad
}

// refuseImages is the PRECONDITION_FAILED of images that can be neither
// found nor pulled; hint ends the message.
func refuseImages(bad []string, hint string) error {
	return apperr.Precondition("images", "image %s can neither be found on the endpoint nor pulled from a registry%s",
		strings.Join(bad, ", image "), hint)
}

// installImages is the install preflight's image check, run before the
// host ports are planned: the images of the material this install
// writes, each on the endpoint or reachable (else PRECONDITION_FAILED
// unless allowed), and the mirror rewrites to commit.
func (s *Service) installImages(ctx context.Context, app *library.App, in InstallInput, allow bool) (map[string]string, error) {
	if s.cfg.Registries == nil {
		return nil, nil
	}
	files, err := render(app, in)
	if err != nil {
		return nil, err
	}
	images, err := materialImages(ctx, app, in.AppID, files)
	if err != nil {
		return nil, err
	}
	return s.refuseUnpullable(ctx, in.EndpointID, images, allow)
}

// AppImages lists the images an installed app runs, read from the
// compose file and .env of the commit its stack deployed (the branch head
// when that is unknown), with whether its endpoint has each and whether
// a registry serves it. Only App.images asks: the app listing never
// calls a registry.
func (s *Service) AppImages(ctx context.Context, ref AppRef) ([]ImageStatus, error) {
	st, err := s.stacks.FindStackByName(ctx, ref.EndpointID, ref.ID)
	if notFound(err) {
		return nil, apperr.New(apperr.NotFound, "no app %q", clip(ref.ID))
	}
	if err != nil {
		return nil, upstreamErr("portainer", err, "look up stack")
	}
	if st.GitConfig == nil || !s.ownRepo(st) {
		return nil, apperr.Precondition("", "app %s is not deployed from its own repository, so its material cannot be read", st.Name)
	}
	sha := st.GitConfig.ConfigHash
	if sha == "" {
		sha = "main"
	}
	composePath := st.GitConfig.ConfigFilePath
	if composePath == "" {
		composePath = composeFileName
	}
	read := func(path string) ([]byte, error) {
		if sha == "main" {
			b, err := s.repos.GetRawFile(ctx, st.Name, path, sha)
			if notFound(err) {
				return nil, nil
			}
			if err != nil {
				return nil, upstreamErr("gitea", err, "read "+path+" of "+st.Name)
			}
			return b, nil
		}
		e, err := s.repoFile(ctx, fileKey{app: st.Name, sha: sha, path: path})
		return e.data, err
	}
	compose, err := read(composePath)
	if err != nil {
		return nil, err
	}
	if compose == nil {
		return nil, apperr.Precondition("", "app %s has no %s at %s", st.Name, composePath, sha)
	}
	env, err := read(envFileName)
	if err != nil {
		return nil, err
	}
	project, err := loadProject(ctx, st.Name, compose, env)
	if err != nil {
		return nil, apperr.Precondition("", "the compose file of %s does not load: %v", st.Name, err)
	}
	return s.checkImages(ctx, st.EndpointID, composeImages(project)), nil
}

// --- rewriting images in the compose file -------------------------------------

// rewriteImages sets services.<svc>.image to the given references in a
// compose file, editing only those values (comments, order and the rest
// of the text stay as they are). A service whose image is not written in
// its own mapping (inherited through an anchor or extends) is an error.
func rewriteImages(compose []byte, rewrites map[string]string) ([]byte, error) {
	if len(rewrites) == 0 {
		return compose, nil
	}
	f, err := parser.ParseBytes(compose, 0)
	if err != nil {
		return nil, fmt.Errorf("parse compose file: %w", err)
	}
	if len(f.Docs) == 0 {
		return nil, errors.New("empty compose file")
	}
	services := mappingValue(f.Docs[0].Body, "services")
	if services == nil {
		return nil, errors.New("compose file has no services mapping")
	}
	type edit struct {
		line, col int
		value     string
	}
	var edits []edit
	for _, svc := range slices.Sorted(func(yield func(string) bool) {
		for k := range rewrites {
			if !yield(k) {
				return
			}
		}
	}) {
		img := mappingValue(mappingValue(services, svc), "image")
		if img == nil {
			return nil, fmt.Errorf("service %s: its image is not written in the service itself, so it cannot be rewritten", svc)
		}
		tk := img.GetToken()
		edits = append(edits, edit{line: tk.Position.Line, col: tk.Position.Column, value: rewrites[svc]})
	}
	lines := bytes.SplitAfter(compose, []byte("\n"))
	for _, e := range edits {
		if e.line < 1 || e.line > len(lines) {
			return nil, fmt.Errorf("image value at line %d: out of range", e.line)
		}
		l := lines[e.line-1]
		start := e.col - 1
		if start < 0 || start > len(l) {
			return nil, fmt.Errorf("image value at line %d: column %d out of range", e.line, e.col)
		}
		end := scalarEnd(l, start)
		nl := append(append(append([]byte{}, l[:start]...), []byte(`"`+e.value+`"`)...), l[end:]...)
		lines[e.line-1] = nl
	}
	return bytes.Join(lines, nil), nil
}

// scalarEnd is where the one-line scalar starting at l[start] ends: after
// its closing quote, or before a comment, the line end or a flow
// separator.
func scalarEnd(l []byte, start int) int {
	if start < len(l) && (l[start] == '"' || l[start] == '\'') {
		q := l[start]
		for i := start + 1; i < len(l); i++ {
			if l[i] == '\\' && q == '"' {
				i++
				continue
			}
			if l[i] == q {
				if q == '\'' && i+1 < len(l) && l[i+1] == '\'' {
					i++
					continue
				}
				return i + 1
			}
		}
		return len(l)
	}
	end := len(l)
	for i := start; i < len(l); i++ {
		if l[i] == '\n' || l[i] == '\r' || (l[i] == '#' && i > start && (l[i-1] == ' ' || l[i-1] == '\t')) || l[i] == ',' || l[i] == '}' {
			end = i
			break
		}
	}
	for end > start && (l[end-1] == ' ' || l[end-1] == '\t') {
		end--
	}
	return end
}

// mappingValue returns the value of key in a YAML mapping node, or nil.
func mappingValue(n ast.Node, key string) ast.Node {
	switch m := n.(type) {
	case *ast.MappingNode:
		for _, v := range m.Values {
			if v.Key != nil && v.Key.String() == key {
				return v.Value
			}
		}
	case *ast.MappingValueNode:
		if m.Key != nil && m.Key.String() == key {
			return m.Value
		}
	}
	return nil
}

// LibraryImageRefs lists, each once, the images every version of the
// given library apps would run with the library's defaults (what the
// sandbox's registry holds). Apps whose material does not load are left
// out.
func (s *Service) LibraryImageRefs(ctx context.Context, list []*library.App) []string {
	seen := map[string]bool{}
	var out []string
	for _, app := range list {
		for _, v := range app.Versions() {
			in := InstallInput{AppName: app.Name, AppID: "library", Version: v, Dist: app.EditionOf(v), URL: "localhost"}
			files, err := render(app, in)
			if err != nil {
				continue
			}
			images, err := materialImages(ctx, app, in.AppID, files)
			if err != nil {
				continue
			}
			for _, im := range images {
				if !seen[im.Ref] {
					seen[im.Ref] = true
					out = append(out, im.Ref)
				}
			}
		}
	}
	return out
}
