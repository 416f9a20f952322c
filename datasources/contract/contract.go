// Package contract validates real HTTP traffic (a fake's answers, our
// clients' requests) against the vendors' Swagger 2.0 specs in shared/specs,
// so a fake cannot drift from the real API unnoticed. kin-openapi does the
// schema work; this package adds route matching for Gitea-style path
// wildcards and a strict check that rejects object keys the spec does not
// know (Swagger 2.0 has no way to say "no additional properties").
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/goccy/go-yaml"
)

// ErrNoRoute is wrapped by Check when the spec has no operation for a request.
var ErrNoRoute = errors.New("route not in spec")

// Validator checks requests and responses against one spec.
type Validator struct {
	doc       *openapi3.T
	basePath  string
	routes    []*route
	ignore    []*regexp.Regexp
	wildcards []string
	strictSt  bool
	noAuth    bool
	noStrict  bool
	tolerate  bool                // ToleratedExtraFields
	need      map[string][]string // Need: component schema -> properties

	mu      sync.Mutex
	checked map[string]int
	extra   map[string]bool // "METHOD /template: $.path[]"
}

type route struct {
	re       *regexp.Regexp
	params   []string
	literals int // literal characters, to prefer /a/contents over /a/{x}
	r        *routers.Route
	key      string // "METHOD /template"
}

// Option tunes a Validator.
type Option func(*Validator)

// Ignore skips requests whose URL path matches any of the regular
// expressions (routes the spec does not describe on purpose, such as git's
// smart-HTTP routes or Docker pass-through). Ignored requests are not checked.
func Ignore(exprs ...string) Option {
	return func(v *Validator) {
		for _, e := range exprs {
			v.ignore = append(v.ignore, regexp.MustCompile(e))
		}
	}
}

// WildcardParams names path parameters whose values may contain slashes
// (default: "filepath", as in Gitea's /contents/{filepath}).
func WildcardParams(names ...string) Option {
	return func(v *Validator) { v.wildcards = append(v.wildcards, names...) }
}

// StrictStatus makes a response status that the operation does not document
// a violation. Off by default: the vendor specs omit most error statuses.
func StrictStatus() Option { return func(v *Validator) { v.strictSt = true } }

// SkipAuthCheck stops Check from requiring one of the spec's security schemes
// on the request (for deliberately anonymous calls).
func SkipAuthCheck() Option { return func(v *Validator) { v.noAuth = true } }

// SkipUnknownFields turns off the strict unknown-key check (types and
// required properties are still validated).
func SkipUnknownFields() Option { return func(v *Validator) { v.noStrict = true } }

// ToleratedExtraFields is the real-server mode: a key the spec does not
// declare in an answer is normal there (a newer or older server adds
// fields), so it is recorded (ExtraFields) instead of failing. A key that is
// a declared, absent property spelt another way (fullName for full_name)
// still fails as a rename, and so do missing required properties and wrong
// types. Our own request bodies stay strict. Against the fakes leave this
// off: they must never send a field the spec lacks.
func ToleratedExtraFields() Option { return func(v *Validator) { v.tolerate = true } }

// Need makes properties of a spec definition (its name under
// "definitions", e.g. "Repository") required: the fields our client reads.
// An answer without one fails, which is how a rename to an unrelated name
// (login to username) shows up in ToleratedExtraFields mode. Unknown
// definitions or properties make LoadSwagger2 fail.
func Need(definition string, props ...string) Option {
	return func(v *Validator) {
		if v.need == nil {
			v.need = map[string][]string{}
		}
		v.need[definition] = append(v.need[definition], props...)
	}
}

// LoadSwagger2 loads a Swagger 2.0 file (JSON or YAML) and serves requests
// under basePath ("/api/v1" for Gitea, "/api" for Portainer); the spec's own
// basePath is ignored.
//
// Swagger 2.0 cannot mark a schema nullable, yet Go servers emit null for nil
// pointers and slices, so every schema is made nullable: a null never fails,
// a value of the wrong type or an unknown key still does.
func LoadSwagger2(path string, basePath string, opts ...Option) (*Validator, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("contract: read spec: %w", err)
	}
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".yaml" || ext == ".yml" {
		if raw, err = yaml.YAMLToJSON(raw); err != nil {
			return nil, fmt.Errorf("contract: spec yaml: %w", err)
		}
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(raw, &doc2); err != nil {
		return nil, fmt.Errorf("contract: parse swagger 2.0: %w", err)
	}
	doc, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("contract: convert to openapi 3: %w", err)
	}
	// Resolve the converted refs so schemas can be walked.
	if err := openapi3.NewLoader().ResolveRefsIn(doc, nil); err != nil {
		return nil, fmt.Errorf("contract: resolve refs: %w", err)
	}
	v := &Validator{
		doc:       doc,
		basePath:  "/" + strings.Trim(basePath, "/"),
		wildcards: []string{"filepath"},
		checked:   map[string]int{},
	}
	if v.basePath == "/" {
		v.basePath = ""
	}
	for _, o := range opts {
		o(v)
	}
	if err := v.applyNeed(); err != nil {
		return nil, err
	}
	makeNullable(doc)
	if err := v.buildRoutes(); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *Validator) applyNeed() error {
	for _, def := range sortedKeys(v.need) {
		ref := v.doc.Components.Schemas[def]
		if ref == nil || ref.Value == nil {
			return fmt.Errorf("contract: Need: no definition %q in the spec", def)
		}
		for _, p := range v.need[def] {
			if _, ok := ref.Value.Properties[p]; !ok {
				return fmt.Errorf("contract: Need: definition %q has no property %q", def, p)
			}
			if !slices.Contains(ref.Value.Required, p) {
				ref.Value.Required = append(ref.Value.Required, p)
			}
		}
	}
	return nil
}

var indexRe = regexp.MustCompile(`\[[0-9]+\]`)

// ExtraFields returns the answer fields the spec lacks that were seen in
// ToleratedExtraFields mode, one per route and path, array indices folded:
// "GET /repos/{owner}/{repo}: $.owner.username", sorted.
func (v *Validator) ExtraFields() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return sortedKeys(v.extra)
}

// SpecPath returns the path of shared/specs/<rel>: ../shared/specs relative to
// the module root (the nearest directory above the working directory that
// holds go.mod). It does not check that the file exists.
func SpecPath(rel string) string {
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Join("..", "shared", "specs", rel)
	}
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "..", "shared", "specs", rel)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return filepath.Join(dir, "..", "shared", "specs", rel)
		}
		d = parent
	}
}

// TB is the part of testing.TB that Spec needs.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Spec returns SpecPath(rel) for a test. When the file is missing it skips
// the test, unless the CI environment variable is set, where it fails: the
// contract must be checked in CI.
func Spec(t TB, rel string) string {
	t.Helper()
	p := SpecPath(rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("contract spec %s missing (CI is set): %v", p, err)
		}
		t.Skipf("contract spec %s missing: %v", p, err)
	}
	return p
}

// Checked returns how many exchanges were checked per route ("POST
// /user/repos"), including failed ones.
func (v *Validator) Checked() map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]int, len(v.checked))
	for k, n := range v.checked {
		out[k] = n
	}
	return out
}

// CheckedRoutes returns the checked routes, sorted.
func (v *Validator) CheckedRoutes() []string {
	m := v.Checked()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Ignored reports whether req's path is excluded by an Ignore option.
func (v *Validator) Ignored(req *http.Request) bool {
	for _, re := range v.ignore {
		if re.MatchString(req.URL.Path) {
			return true
		}
	}
	return false
}

var paramRe = regexp.MustCompile(`\{([^}]+)\}`)

func (v *Validator) buildRoutes() error {
	for tmpl, item := range v.doc.Paths.Map() {
		var (
			params []string
			b      strings.Builder
		)
		b.WriteString("^")
		last := 0
		literals := 0
		for _, m := range paramRe.FindAllStringSubmatchIndex(tmpl, -1) {
			lit := tmpl[last:m[0]]
			literals += len(lit)
			b.WriteString(regexp.QuoteMeta(lit))
			name := tmpl[m[2]:m[3]]
			params = append(params, name)
			if slices.Contains(v.wildcards, name) {
				b.WriteString("(.+)")
			} else {
				b.WriteString("([^/]+)")
			}
			last = m[1]
		}
		literals += len(tmpl[last:])
		b.WriteString(regexp.QuoteMeta(tmpl[last:]))
		b.WriteString("$")
		re, err := regexp.Compile(b.String())
		if err != nil {
			return fmt.Errorf("contract: path %s: %w", tmpl, err)
		}
		for method, op := range item.Operations() {
			v.routes = append(v.routes, &route{
				re: re, params: params, literals: literals,
				key: method + " " + tmpl,
				r:   &routers.Route{Spec: v.doc, Path: tmpl, PathItem: item, Method: method, Operation: op},
			})
		}
	}
	// Most literal first: /repos/{o}/{r}/contents wins over a catch-all.
	sort.SliceStable(v.routes, func(i, j int) bool {
		if v.routes[i].literals != v.routes[j].literals {
			return v.routes[i].literals > v.routes[j].literals
		}
		return v.routes[i].key < v.routes[j].key
	})
	return nil
}

func (v *Validator) find(req *http.Request) (*route, map[string]string, error) {
	p := req.URL.EscapedPath()
	if v.basePath != "" {
		if !strings.HasPrefix(p, v.basePath+"/") && p != v.basePath {
			return nil, nil, fmt.Errorf("%w: %s %s is outside base path %s", ErrNoRoute, req.Method, req.URL.Path, v.basePath)
		}
		p = strings.TrimPrefix(p, v.basePath)
	}
	pathSeen := false
	for _, rt := range v.routes {
		m := rt.re.FindStringSubmatch(p)
		if m == nil {
			continue
		}
		pathSeen = true
		if rt.r.Method != req.Method {
			continue
		}
		params := make(map[string]string, len(rt.params))
		for i, name := range rt.params {
			val, err := url.PathUnescape(m[i+1])
			if err != nil {
				val = m[i+1]
			}
			params[name] = val
		}
		return rt, params, nil
	}
	if pathSeen {
		return nil, nil, fmt.Errorf("%w: method %s not allowed on %s", ErrNoRoute, req.Method, req.URL.Path)
	}
	return nil, nil, fmt.Errorf("%w: %s %s", ErrNoRoute, req.Method, req.URL.Path)
}

// Check validates one exchange: the route must exist, the request's
// parameters, security and body must conform, and a documented response must
// match its schema (types, required properties and, recursively, no unknown
// keys). It returns nil when everything conforms.
func (v *Validator) Check(req *http.Request, reqBody []byte, status int, respHeader http.Header, respBody []byte) error {
	rt, params, err := v.find(req)
	if err != nil {
		return fmt.Errorf("contract: %w", err)
	}
	v.mu.Lock()
	v.checked[rt.key]++
	v.mu.Unlock()

	ctx := context.Background()
	r2 := req.Clone(ctx)
	r2.Body = io.NopCloser(bytes.NewReader(reqBody))
	r2.ContentLength = int64(len(reqBody))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	opts := &openapi3filter.Options{
		MultiError:            true,
		IncludeResponseStatus: v.strictSt,
		AuthenticationFunc:    authPresent,
		// Pointer and reason only: the schema and value dumps are pages long.
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
	}
	if v.noAuth {
		opts.AuthenticationFunc = openapi3filter.NoopAuthenticationFunc
	}
	in := &openapi3filter.RequestValidationInput{Request: r2, PathParams: params, Route: rt.r, Options: opts}

	var errs []error
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		errs = append(errs, fmt.Errorf("request: %w", err))
	}
	if !v.noStrict && len(bytes.TrimSpace(reqBody)) > 0 {
		if s := requestSchema(rt.r.Operation); s != nil {
			if err := unknownKeys(s, reqBody); err != nil {
				errs = append(errs, fmt.Errorf("request body: %w", err))
			}
		}
	}

	if respHeader == nil {
		respHeader = http.Header{}
	}
	ropts := *opts
	if binaryResponse(rt.r.Operation, status) {
		// Raw file routes answer with the file's own content type; there is
		// no schema to check beyond the status.
		ropts.ExcludeResponseBody = true
	}
	rin := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 respHeader,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                &ropts,
	}
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		errs = append(errs, fmt.Errorf("response %d: %w", status, err))
	}
	if !v.noStrict && !ropts.ExcludeResponseBody && len(bytes.TrimSpace(respBody)) > 0 {
		if s := responseSchema(rt.r.Operation, status); s != nil {
			var bad []error
			for _, f := range findUnknown(s, respBody) {
				if v.tolerate && f.renamed == "" {
					v.mu.Lock()
					if v.extra == nil {
						v.extra = map[string]bool{}
					}
					v.extra[rt.key+": "+indexRe.ReplaceAllString(f.path, "[]")] = true
					v.mu.Unlock()
					continue
				}
				bad = append(bad, f.err())
			}
			if len(bad) > 0 {
				errs = append(errs, fmt.Errorf("response %d body: %w", status, errors.Join(bad...)))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("contract: %s %s (%s): %w", req.Method, req.URL.Path, rt.key, errors.Join(errs...))
	}
	return nil
}

// authPresent accepts a security scheme when its credential is on the
// request; the value itself is the server's business.
func authPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	req := in.RequestValidationInput.Request
	switch s.Type {
	case "apiKey":
		switch s.In {
		case "header":
			if req.Header.Get(s.Name) != "" {
				return nil
			}
		case "query":
			if req.URL.Query().Has(s.Name) {
				return nil
			}
		case "cookie":
			if _, err := req.Cookie(s.Name); err == nil {
				return nil
			}
		}
		return fmt.Errorf("%s %q missing", s.In, s.Name)
	case "http":
		h := strings.ToLower(req.Header.Get("Authorization"))
		if strings.HasPrefix(h, strings.ToLower(s.Scheme)+" ") {
			return nil
		}
		return fmt.Errorf("no %s authorization", s.Scheme)
	}
	return nil
}

func requestSchema(op *openapi3.Operation) *openapi3.Schema {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil
	}
	if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
		return mt.Schema.Value
	}
	return nil
}

func responseRef(op *openapi3.Operation, status int) *openapi3.Response {
	if op.Responses == nil {
		return nil
	}
	rr := op.Responses.Status(status)
	if rr == nil {
		rr = op.Responses.Default()
	}
	if rr == nil {
		return nil
	}
	return rr.Value
}

func responseSchema(op *openapi3.Operation, status int) *openapi3.Schema {
	r := responseRef(op, status)
	if r == nil {
		return nil
	}
	if mt := r.Content.Get("application/json"); mt != nil && mt.Schema != nil {
		return mt.Schema.Value
	}
	return nil
}

// binaryResponse reports whether the documented response is a file
// (Swagger 2.0 "type: file", converted to a binary string).
func binaryResponse(op *openapi3.Operation, status int) bool {
	r := responseRef(op, status)
	if r == nil || len(r.Content) == 0 {
		return false
	}
	for _, mt := range r.Content {
		if mt.Schema == nil || mt.Schema.Value == nil {
			return false
		}
		s := mt.Schema.Value
		if s.Type == nil || !s.Type.Is("string") || s.Format != "binary" {
			return false
		}
	}
	return true
}

func makeNullable(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(ref *openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		s.Nullable = true
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		walk(s.AdditionalProperties.Schema)
		for _, l := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, x := range l {
				walk(x)
			}
		}
	}
	if doc.Components != nil {
		for _, s := range doc.Components.Schemas {
			walk(s)
		}
		for _, r := range doc.Components.Responses {
			if r.Value != nil {
				for _, mt := range r.Value.Content {
					walk(mt.Schema)
				}
			}
		}
		for _, rb := range doc.Components.RequestBodies {
			if rb.Value != nil {
				for _, mt := range rb.Value.Content {
					walk(mt.Schema)
				}
			}
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for _, mt := range op.RequestBody.Value.Content {
					walk(mt.Schema)
				}
			}
			if op.Responses != nil {
				for _, rr := range op.Responses.Map() {
					if rr.Value != nil {
						for _, mt := range rr.Value.Content {
							walk(mt.Schema)
						}
					}
				}
			}
		}
	}
}
