// Package npmschema checks HTTP traffic against Nginx Proxy Manager's own
// schema tree (backend/schema: an OpenAPI 3.1 root with JSON Schema 2020-12
// request and response schemas spread over many files). NPM places $refs
// where strict OpenAPI loaders refuse them (directly under operations), so
// the tree is dereferenced here first, then every schema is compiled with
// santhosh-tekuri/jsonschema. Used by the contract tests of the client and
// the fake.
package npmschema

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ErrNoRoute is wrapped when the spec has no operation for a request.
var ErrNoRoute = errors.New("route not in NPM spec")

// BasePath is where NPM serves its API.
const BasePath = "/api"

// Spec is a loaded, dereferenced schema tree.
type Spec struct {
	routes     []*route
	components map[string]*jsonschema.Schema // "proxy-host-object" → schema
	errSchema  *jsonschema.Schema

	mu      sync.Mutex
	checked map[string]int

	// additions, when set, receives the answer fields the schema does not
	// declare instead of failing the check (see ReportAdditions).
	additions func(error)
}

type route struct {
	key      string      // "POST /nginx/proxy-hosts"
	rawResp  map[int]any // dereferenced response schemas, for the unknown-field walk
	method   string
	re       *regexp.Regexp
	literals int
	request  *jsonschema.Schema
	reqReq   bool // requestBody.required
	resp     map[int]*jsonschema.Schema
	respOpen map[int]*jsonschema.Schema // resp without additionalProperties:false (real servers)
	respDoc  map[int]bool               // documented statuses, with or without a schema
}

// Load reads dir (the folder holding swagger.json, paths/, components/,
// common.json) and compiles every operation's schemas.
func Load(dir string) (*Spec, error) {
	l := &loader{dir: dir, files: map[string]any{}}
	root, err := l.load(filepath.Join(dir, "swagger.json"))
	if err != nil {
		return nil, err
	}
	deref, err := l.deref(root, filepath.Join(dir, "swagger.json"), 0)
	if err != nil {
		return nil, err
	}
	s := &Spec{components: map[string]*jsonschema.Schema{}, checked: map[string]int{}}
	c := newCompiler()
	paths, _ := deref.(map[string]any)["paths"].(map[string]any)
	for tmpl, item := range paths {
		ops, _ := item.(map[string]any)
		for method, op := range ops {
			opm, ok := op.(map[string]any)
			if !ok {
				continue
			}
			rt, err := c.route(strings.ToUpper(method), tmpl, opm)
			if err != nil {
				return nil, err
			}
			s.routes = append(s.routes, rt)
		}
	}
	sort.SliceStable(s.routes, func(i, j int) bool {
		if s.routes[i].literals != s.routes[j].literals {
			return s.routes[i].literals > s.routes[j].literals
		}
		return s.routes[i].key < s.routes[j].key
	})
	comps, err := filepath.Glob(filepath.Join(dir, "components", "*.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range comps {
		doc, err := l.load(f)
		if err != nil {
			return nil, err
		}
		d, err := l.deref(doc, f, 0)
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if name == "security-schemes" {
			continue
		}
		sch, err := c.compile("components/"+name, d)
		if err != nil {
			return nil, err
		}
		s.components[name] = sch
	}
	if s.components["error"] == nil {
		return nil, errors.New("npmschema: components/error.json missing")
	}
	if s.errSchema, err = c.compile("undocumented error", undocumentedError()); err != nil {
		return nil, err
	}
	return s, nil
}

// undocumentedError is the shape of an error answer the operation does not
// document. components/error.json requires nothing (an empty object would
// pass), so this is NPM's real shape (contracts §3.2): "error" with code and
// message, plus message_i18n (wrong password) and a top-level debug object
// (debug mode), which the documented error-object does not list.
func undocumentedError() map[string]any {
	return map[string]any{
		"type":     "object",
		"required": []any{"error"},
		"properties": map[string]any{
			"error": map[string]any{
				"type":                 "object",
				"required":             []any{"code", "message"},
				"additionalProperties": false,
				"properties": map[string]any{
					"code":         map[string]any{"type": "integer"},
					"message":      map[string]any{"type": "string"},
					"message_i18n": map[string]any{"type": "string"},
				},
			},
			"debug": map[string]any{"type": "object"},
		},
	}
}

// --- dereferencing ---

type loader struct {
	dir   string
	files map[string]any
}

func (l *loader) load(path string) (any, error) {
	path = filepath.Clean(path)
	if doc, ok := l.files[path]; ok {
		return doc, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("npmschema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("npmschema: %s: %w", path, err)
	}
	l.files[path] = doc
	return doc, nil
}

// deref returns a copy of v with every $ref (relative file and/or JSON
// pointer, resolved against file) replaced by its target, recursively.
// $id and $schema are dropped: once inlined they would re-base nothing and
// duplicate ids ("common") would clash in the compiler.
func (l *loader) deref(v any, file string, depth int) (any, error) {
	if depth > 64 {
		return nil, fmt.Errorf("npmschema: $ref nesting too deep in %s (cycle?)", file)
	}
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["$ref"].(string); ok {
			target, tfile, err := l.resolve(ref, file)
			if err != nil {
				return nil, err
			}
			resolved, err := l.deref(target, tfile, depth+1)
			if err != nil {
				return nil, err
			}
			if len(x) == 1 {
				return resolved, nil
			}
			// $ref with siblings: both apply (2020-12).
			out := map[string]any{"allOf": []any{resolved}}
			for k, sv := range x {
				if k == "$ref" || k == "$id" || k == "$schema" {
					continue
				}
				d, err := l.deref(sv, file, depth)
				if err != nil {
					return nil, err
				}
				out[k] = d
			}
			return out, nil
		}
		out := make(map[string]any, len(x))
		for k, sv := range x {
			if k == "$id" || k == "$schema" {
				continue
			}
			d, err := l.deref(sv, file, depth)
			if err != nil {
				return nil, err
			}
			out[k] = d
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, sv := range x {
			d, err := l.deref(sv, file, depth)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	}
	return v, nil
}

func (l *loader) resolve(ref, file string) (any, string, error) {
	rel, frag, _ := strings.Cut(ref, "#")
	target := file
	if rel != "" {
		if strings.Contains(rel, "://") {
			return nil, "", fmt.Errorf("npmschema: remote $ref %q in %s", ref, file)
		}
		target = filepath.Join(filepath.Dir(file), filepath.FromSlash(rel))
	}
	doc, err := l.load(target)
	if err != nil {
		return nil, "", fmt.Errorf("npmschema: $ref %q in %s: %w", ref, file, err)
	}
	v, err := pointer(doc, frag)
	if err != nil {
		return nil, "", fmt.Errorf("npmschema: $ref %q in %s: %w", ref, file, err)
	}
	return v, filepath.Clean(target), nil
}

func pointer(doc any, frag string) (any, error) {
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil, err
	}
	if frag == "" || frag == "/" {
		return doc, nil
	}
	cur := doc
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[tok]
			if !ok {
				return nil, fmt.Errorf("no %q", tok)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("bad index %q", tok)
			}
			cur = x[i]
		default:
			return nil, fmt.Errorf("cannot descend into %q", tok)
		}
	}
	return cur, nil
}

// --- compiling ---

type compiler struct{ n int }

func newCompiler() *compiler { return &compiler{} }

func (c *compiler) compile(name string, schema any) (*jsonschema.Schema, error) {
	c.n++
	jc := jsonschema.NewCompiler()
	jc.DefaultDraft(jsonschema.Draft2020)
	loc := fmt.Sprintf("mem:///npm/%d/%s.json", c.n, strings.ReplaceAll(name, " ", "_"))
	if err := jc.AddResource(loc, schema); err != nil {
		return nil, fmt.Errorf("npmschema: %s: %w", name, err)
	}
	sch, err := jc.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("npmschema: compile %s: %w", name, err)
	}
	return sch, nil
}

var paramRe = regexp.MustCompile(`\{([^}]+)\}`)

func (c *compiler) route(method, tmpl string, op map[string]any) (*route, error) {
	rt := &route{key: method + " " + tmpl, method: method, resp: map[int]*jsonschema.Schema{}, respDoc: map[int]bool{},
		rawResp: map[int]any{}, respOpen: map[int]*jsonschema.Schema{}}
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, m := range paramRe.FindAllStringIndex(tmpl, -1) {
		b.WriteString(regexp.QuoteMeta(tmpl[last:m[0]]))
		rt.literals += m[0] - last
		b.WriteString("([^/]+)")
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(tmpl[last:]))
	rt.literals += len(tmpl) - last
	b.WriteString("$")
	rt.re = regexp.MustCompile(b.String())

	if rb, ok := op["requestBody"].(map[string]any); ok {
		rt.reqReq, _ = rb["required"].(bool)
		if sch := jsonSchemaOf(rb); sch != nil {
			compiled, err := c.compile(rt.key+" request", sch)
			if err != nil {
				return nil, err
			}
			rt.request = compiled
		}
	}
	resps, _ := op["responses"].(map[string]any)
	for code, r := range resps {
		status, err := strconv.Atoi(code)
		if err != nil {
			continue // "default" is not used by NPM
		}
		rt.respDoc[status] = true
		rm, _ := r.(map[string]any)
		if sch := jsonSchemaOf(rm); sch != nil {
			sch = observedQuirks(sch)
			rt.rawResp[status] = sch
			compiled, err := c.compile(fmt.Sprintf("%s %d", rt.key, status), sch)
			if err != nil {
				return nil, err
			}
			rt.resp[status] = compiled
			open, err := c.compile(fmt.Sprintf("%s %d open", rt.key, status), openObjects(sch))
			if err != nil {
				return nil, err
			}
			rt.respOpen[status] = open
		}
	}
	return rt, nil
}

func jsonSchemaOf(obj map[string]any) any {
	content, _ := obj["content"].(map[string]any)
	mt, _ := content["application/json"].(map[string]any)
	if mt == nil {
		return nil
	}
	return mt["schema"]
}

// --- checking ---

// Routes returns every operation key ("GET /nginx/proxy-hosts/{hostID}").
func (s *Spec) Routes() []string {
	out := make([]string, 0, len(s.routes))
	for _, r := range s.routes {
		out = append(out, r.key)
	}
	slices.Sort(out)
	return out
}

// Checked returns how many exchanges were checked per operation key.
func (s *Spec) Checked() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.checked)
}

func (s *Spec) find(method, path string) (*route, error) {
	p, ok := strings.CutPrefix(path, BasePath)
	if !ok {
		return nil, fmt.Errorf("%w: %s %s is outside %s", ErrNoRoute, method, path, BasePath)
	}
	if p == "" {
		p = "/"
	}
	for _, rt := range s.routes {
		if rt.method == method && rt.re.MatchString(p) {
			return rt, nil
		}
	}
	return nil, fmt.Errorf("%w: %s %s", ErrNoRoute, method, path)
}

// Check validates one exchange. path is the URL path including /api. A
// request body must match the operation's request schema; a response must
// match the schema documented for its status, and an error status that is
// not documented must still have NPM's error shape (components/error.json).
// A success status the operation does not document is a violation.
func (s *Spec) Check(method, path string, reqBody []byte, status int, respBody []byte) error {
	rt, err := s.find(method, path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.checked[rt.key]++
	s.mu.Unlock()
	var errs []error
	if rt.request != nil {
		if len(bytes.TrimSpace(reqBody)) == 0 {
			if rt.reqReq {
				errs = append(errs, fmt.Errorf("request: body required"))
			}
		} else if err := validate(rt.request, reqBody); err != nil {
			errs = append(errs, fmt.Errorf("request: %w", err))
		}
	}
	sch := rt.resp[status]
	if s.additions != nil {
		// Undeclared fields are reported below, not failed here.
		sch = rt.respOpen[status]
	}
	switch {
	case sch != nil:
		if err := validate(sch, respBody); err != nil {
			errs = append(errs, fmt.Errorf("response %d: %w", status, err))
		}
		if extra := unknownFields(rt.rawResp[status], respBody); len(extra) > 0 {
			err := fmt.Errorf("response %d: %s", status, strings.Join(extra, "; "))
			if s.additions != nil {
				s.additions(fmt.Errorf("npm contract: %s: additions: %w", rt.key, err))
			} else {
				errs = append(errs, err)
			}
		}
	case status >= 400:
		if err := validate(s.errSchema, respBody); err != nil {
			errs = append(errs, fmt.Errorf("error response %d: %w", status, err))
		}
	case !rt.respDoc[status]:
		errs = append(errs, fmt.Errorf("response status %d is not documented", status))
	}
	if len(errs) > 0 {
		return fmt.Errorf("npm contract: %s: %w", rt.key, errors.Join(errs...))
	}
	return nil
}

// ValidateComponent validates a JSON document against components/<name>.json
// ("proxy-host-object", "token-object", ...).
func (s *Spec) ValidateComponent(name string, body []byte) error {
	sch, ok := s.components[name]
	if !ok {
		return fmt.Errorf("npmschema: no component %q", name)
	}
	return validate(sch, body)
}

func validate(sch *jsonschema.Schema, body []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := sch.Validate(v); err != nil {
		if ve, ok := errors.AsType[*jsonschema.ValidationError](err); ok {
			return violations(ve)
		}
		return err
	}
	return nil
}
