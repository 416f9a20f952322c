package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// finding is an object key the schema does not declare. renamed, when set,
// is a declared property missing from the same object whose name differs
// from the key only in case, '_' or '-' (full_name sent as fullName).
type finding struct {
	path    string
	renamed string
}

func (f finding) err() error {
	if f.renamed != "" {
		return fmt.Errorf("%s: field not in spec (renamed from %q?)", f.path, f.renamed)
	}
	return fmt.Errorf("%s: field not in spec", f.path)
}

// unknownKeys decodes body and reports every object key that the schema does
// not declare, at any depth. This is what catches a renamed field: the old
// name is usually optional (so "required" does not fire), but the new one is
// unknown.
func unknownKeys(s *openapi3.Schema, body []byte) error {
	var errs []error
	for _, f := range findUnknown(s, body) {
		errs = append(errs, f.err())
	}
	return errors.Join(errs...)
}

func findUnknown(s *openapi3.Schema, body []byte) []finding {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil // not JSON; the schema validation reports that
	}
	var out []finding
	walkKeys(s, v, "$", &out, map[visit]bool{})
	return out
}

type visit struct {
	s    *openapi3.Schema
	path string
}

// spelling folds the differences a rename by another naming convention
// makes: case, '_' and '-'.
func spelling(k string) string {
	return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(k))
}

func walkKeys(s *openapi3.Schema, v any, path string, out *[]finding, seen map[visit]bool) {
	if s == nil || seen[visit{s, path}] {
		return
	}
	seen[visit{s, path}] = true
	switch val := v.(type) {
	case map[string]any:
		props, addl, open := objectShape(s)
		keys := make([]string, 0, len(val))
		for k := range val {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := path + "." + k
			if ps, ok := props[k]; ok {
				for _, x := range ps {
					walkKeys(x, val[k], p, out, seen)
				}
				continue
			}
			switch {
			case addl != nil:
				walkKeys(addl, val[k], p, out, seen)
			case !open:
				f := finding{path: p}
				for _, d := range sortedKeys(props) {
					if _, present := val[d]; !present && spelling(d) == spelling(k) {
						f.renamed = d
						break
					}
				}
				*out = append(*out, f)
			}
		}
	case []any:
		items := arrayItems(s)
		for i, x := range val {
			for _, it := range items {
				walkKeys(it, x, fmt.Sprintf("%s[%d]", path, i), out, seen)
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// objectShape collects the declared properties of s and of its allOf, anyOf
// and oneOf members. open is true for free-form objects (no declared
// properties at all, or additionalProperties: true).
func objectShape(s *openapi3.Schema) (props map[string][]*openapi3.Schema, addl *openapi3.Schema, open bool) {
	props = map[string][]*openapi3.Schema{}
	declared := false
	var collect func(s *openapi3.Schema, depth int)
	collect = func(s *openapi3.Schema, depth int) {
		if s == nil || depth > 16 {
			return
		}
		if len(s.Properties) > 0 {
			declared = true
		}
		for k, p := range s.Properties {
			if p != nil && p.Value != nil {
				props[k] = append(props[k], p.Value)
			}
		}
		if h := s.AdditionalProperties.Has; h != nil && *h {
			open = true
		}
		if as := s.AdditionalProperties.Schema; as != nil && as.Value != nil {
			addl = as.Value
		}
		for _, l := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, x := range l {
				if x != nil {
					collect(x.Value, depth+1)
				}
			}
		}
	}
	collect(s, 0)
	if !declared && addl == nil {
		open = true
	}
	return props, addl, open
}

func arrayItems(s *openapi3.Schema) []*openapi3.Schema {
	var out []*openapi3.Schema
	if s.Items != nil && s.Items.Value != nil {
		out = append(out, s.Items.Value)
	}
	for _, l := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
		for _, x := range l {
			if x != nil && x.Value != nil && x.Value.Items != nil && x.Value.Items.Value != nil {
				out = append(out, x.Value.Items.Value)
			}
		}
	}
	return out
}
