package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/getkin/kin-openapi/openapi3"
)

// unknownKeys decodes body and reports every object key that the schema does
// not declare, at any depth. This is what catches a renamed field: the old
// name is usually optional (so "required" does not fire), but the new one is
// unknown.
func unknownKeys(s *openapi3.Schema, body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil // not JSON; the schema validation reports that
	}
	var errs []error
	walkKeys(s, v, "$", &errs, map[visit]bool{})
	return errors.Join(errs...)
}

type visit struct {
	s    *openapi3.Schema
	path string
}

func walkKeys(s *openapi3.Schema, v any, path string, errs *[]error, seen map[visit]bool) {
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
					walkKeys(x, val[k], p, errs, seen)
				}
				continue
			}
			switch {
			case addl != nil:
				walkKeys(addl, val[k], p, errs, seen)
			case !open:
				*errs = append(*errs, fmt.Errorf("%s: field not in spec", p))
			}
		}
	case []any:
		items := arrayItems(s)
		for i, x := range val {
			for _, it := range items {
				walkKeys(it, x, fmt.Sprintf("%s[%d]", path, i), errs, seen)
			}
		}
	}
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
