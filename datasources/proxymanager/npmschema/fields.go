package npmschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// ReportAdditions makes the spec hand answer fields that the schema does not
// declare to report instead of failing the check: that is how traffic from a
// real NPM is held to the schema (a newer server may add fields; a missing
// or retyped field still fails). Without it — the default, used for the
// fakes — an undeclared field is a violation. It returns s.
func (s *Spec) ReportAdditions(report func(error)) *Spec {
	s.additions = report
	return s
}

// maxViolations caps the lines of one schema failure.
const maxViolations = 12

var printer = message.NewPrinter(language.English)

// violations flattens a validation failure into one line per failing leaf,
// each naming the JSON path of the value and the keyword that failed:
// "/locations: type: got null, want array". The library's own message puts
// the schema's URL first and nests the causes, which hides the field.
func violations(ve *jsonschema.ValidationError) error {
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		path := "/" + strings.Join(e.InstanceLocation, "/")
		kw := "schema"
		if e.ErrorKind != nil {
			if k := e.ErrorKind.KeywordPath(); len(k) > 0 {
				kw = strings.Join(k, "/")
			}
		}
		msg := ""
		if e.ErrorKind != nil {
			msg = e.ErrorKind.LocalizedString(printer)
		}
		line := fmt.Sprintf("%s: %s: %s", path, kw, msg)
		if !slices.Contains(out, line) {
			out = append(out, line)
		}
	}
	walk(ve)
	if len(out) > maxViolations {
		out = append(out[:maxViolations], fmt.Sprintf("(%d more)", len(out)-maxViolations))
	}
	return errors.New(strings.Join(out, "; "))
}

// unknownFields lists, by JSON path, every object key of body that schema
// (a dereferenced JSON Schema) does not declare, at any depth. Objects
// without declared properties are free-form and not walked into; members of
// allOf/anyOf/oneOf contribute their properties.
func unknownFields(schema any, body []byte) []string {
	if schema == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil // not JSON: the validation says so
	}
	var out []string
	walkFields(schema, v, "", &out, 0)
	return out
}

func walkFields(schema, v any, path string, out *[]string, depth int) {
	if depth > 32 {
		return
	}
	switch val := v.(type) {
	case map[string]any:
		props, addl, open := objectShape(schema)
		keys := make([]string, 0, len(val))
		for k := range val {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := path + "/" + k
			if ps, ok := props[k]; ok {
				for _, ps := range ps {
					walkFields(ps, val[k], p, out, depth+1)
				}
				continue
			}
			switch {
			case addl != nil:
				walkFields(addl, val[k], p, out, depth+1)
			case !open:
				*out = append(*out, p+": field not in the schema")
			}
		}
	case []any:
		items := arrayItems(schema)
		for i, x := range val {
			for _, it := range items {
				walkFields(it, x, fmt.Sprintf("%s/%d", path, i), out, depth+1)
			}
		}
	}
}

// members returns s and the members of its allOf, anyOf and oneOf, nested.
func members(s any, depth int) []map[string]any {
	m, ok := s.(map[string]any)
	if !ok || depth > 16 {
		return nil
	}
	out := []map[string]any{m}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		l, _ := m[k].([]any)
		for _, x := range l {
			out = append(out, members(x, depth+1)...)
		}
	}
	return out
}

// objectShape collects the declared properties of a schema and its
// composition members; open is true for a free-form object (nothing
// declared, or additionalProperties: true).
func objectShape(s any) (props map[string][]any, addl any, open bool) {
	props = map[string][]any{}
	declared := false
	for _, m := range members(s, 0) {
		if ps, ok := m["properties"].(map[string]any); ok && len(ps) > 0 {
			declared = true
			for k, p := range ps {
				props[k] = append(props[k], p)
			}
		}
		switch a := m["additionalProperties"].(type) {
		case bool:
			if a {
				open = true
			}
		case map[string]any:
			addl = a
		}
	}
	if !declared && addl == nil {
		open = true
	}
	return props, addl, open
}

func arrayItems(s any) []any {
	var out []any
	for _, m := range members(s, 0) {
		if it, ok := m["items"].(map[string]any); ok {
			out = append(out, it)
		}
	}
	return out
}

// observedQuirks adjusts a dereferenced response schema to what NPM 2.15.1
// is seen to answer where its schema files say otherwise. Each quirk is
// one real server's behaviour, with its source:
//
//   - locations is null, not [], on a host created without locations:
//     proxy_host.locations is a nullable JSON column without a default
//     (backend migration "customlocations"), the model adds no default
//     (models/proxy_host.js sets one for domain_names and meta only), and
//     the create, get and update answers return the row as stored. Seen on
//     POST 201, GET 200 and PUT 200 of /nginx/proxy-hosts (issue 19).
//
// The quirk applies to proxy-host objects (objects declaring both
// forward_host and locations) in answers only: requests are still held to
// the schema as NPM's validator holds them.
func observedQuirks(schema any) any {
	for _, m := range members(schema, 0) {
		if items, ok := m["items"].(map[string]any); ok {
			observedQuirks(items)
		}
		ps, ok := m["properties"].(map[string]any)
		if !ok {
			continue
		}
		if _, host := ps["forward_host"]; host {
			if loc, ok := ps["locations"]; ok && !nullable(loc) {
				ps["locations"] = map[string]any{"anyOf": []any{map[string]any{"type": "null"}, loc}}
			}
		}
	}
	return schema
}

// openObjects returns a copy of a dereferenced schema without any
// "additionalProperties": false, so that a real server's extra fields pass
// validation and are reported by unknownFields instead (which still reads
// the original, closed schema).
func openObjects(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, sv := range x {
			if k == "additionalProperties" && sv == false {
				continue
			}
			out[k] = openObjects(sv)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, sv := range x {
			out[i] = openObjects(sv)
		}
		return out
	}
	return v
}

func nullable(s any) bool {
	for _, m := range members(s, 0) {
		if m["type"] == "null" {
			return true
		}
	}
	return false
}
