package fake

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// schema is the small subset of JSON Schema that NPM's request schemas use,
// checked in the order ajv checks keywords, so the first error reads like
// the one NPM returns ("data/forward_port must be <= 65535"). The fake
// carries its own copy of the rules so it runs without the spec files; the
// contract tests hold both to the real schema.
type schema struct {
	types      []string // "object", "array", "string", "integer", "boolean", "null"
	enum       []string
	anyOf      []*schema
	props      []prop // in schema order
	required   []string
	closed     bool // additionalProperties: false
	minProps   int
	items      *schema
	minItems   int
	maxItems   int // 0: no limit
	unique     bool
	minLen     int
	maxLen     int // 0: no limit
	pattern    *regexp.Regexp
	min, max   *float64
	patternSrc string
}

type prop struct {
	name string
	s    *schema
}

func f64(v float64) *float64 { return &v }

// Copies of NPM v2.15.1's rules (common.json, proxy-host-object.json,
// paths/nginx/proxy-hosts/post.json, hostID/put.json, paths/tokens/post.json).
const domainPattern = "^[^&| @!#%^();:/\\\\}{=+?<>,~`'\"]+$"

var (
	boolS         = &schema{types: []string{"boolean"}}
	forwardScheme = &schema{types: []string{"string"}, enum: []string{"http", "https"}}
	forwardHost   = &schema{types: []string{"string"}, minLen: 1, maxLen: 255}
	forwardPort   = &schema{types: []string{"integer"}, min: f64(1), max: f64(65535)}
	domainNames   = &schema{types: []string{"array"}, minItems: 1, maxItems: 100, unique: true,
		items: &schema{types: []string{"string"}, pattern: regexp.MustCompile(domainPattern), patternSrc: domainPattern}}
	certificateID = &schema{anyOf: []*schema{
		{types: []string{"integer"}, min: f64(0)},
		{types: []string{"string"}, pattern: regexp.MustCompile("^new$"), patternSrc: "^new$"},
	}}
	location = &schema{types: []string{"object"}, closed: true,
		required: []string{"forward_scheme", "forward_host", "forward_port", "path"},
		props: []prop{
			{"id", &schema{types: []string{"integer", "null"}}},
			{"path", &schema{types: []string{"string"}, minLen: 1}},
			{"forward_scheme", forwardScheme},
			{"forward_host", forwardHost},
			{"forward_port", forwardPort},
			{"forward_path", &schema{types: []string{"string"}}},
			{"advanced_config", &schema{types: []string{"string"}}},
		}}
	hostProps = []prop{
		{"domain_names", domainNames},
		{"forward_scheme", forwardScheme},
		{"forward_host", forwardHost},
		{"forward_port", forwardPort},
		{"certificate_id", certificateID},
		{"ssl_forced", boolS},
		{"hsts_enabled", boolS},
		{"hsts_subdomains", boolS},
		{"trust_forwarded_proto", boolS},
		{"http2_support", boolS},
		{"block_exploits", boolS},
		{"caching_enabled", boolS},
		{"allow_websocket_upgrade", boolS},
		{"access_list_id", &schema{types: []string{"integer"}, min: f64(0)}},
		{"advanced_config", &schema{types: []string{"string"}}},
		{"enabled", boolS},
		{"meta", &schema{types: []string{"object"}}},
		{"locations", &schema{types: []string{"array"}, items: location}},
	}
	createHostSchema = &schema{types: []string{"object"}, closed: true, props: hostProps,
		required: []string{"domain_names", "forward_scheme", "forward_host", "forward_port"}}
	updateHostSchema = &schema{types: []string{"object"}, closed: true, props: hostProps, minProps: 1}
	tokenSchema      = &schema{types: []string{"object"}, closed: true,
		required: []string{"identity", "secret"},
		props: []prop{
			{"identity", &schema{types: []string{"string"}, minLen: 1}},
			{"scope", &schema{types: []string{"string"}, minLen: 1, enum: []string{"user"}}},
			{"secret", &schema{types: []string{"string"}, minLen: 1}},
		}}
)

// validate returns the first violation as ajv words it, or "".
func (s *schema) validate(path string, v any) string {
	if len(s.types) > 0 && !slices.ContainsFunc(s.types, func(t string) bool { return isType(t, v) }) {
		return path + " must be " + strings.Join(s.types, ",")
	}
	if s.enum != nil {
		str, ok := v.(string)
		if !ok || !slices.Contains(s.enum, str) {
			return path + " must be equal to one of the allowed values"
		}
	}
	if s.anyOf != nil {
		if !slices.ContainsFunc(s.anyOf, func(sub *schema) bool { return sub.validate(path, v) == "" }) {
			return path + " must match a schema in anyOf"
		}
	}
	switch x := v.(type) {
	case json.Number:
		n, _ := x.Float64()
		if s.max != nil && n > *s.max {
			return fmt.Sprintf("%s must be <= %s", path, num(*s.max))
		}
		if s.min != nil && n < *s.min {
			return fmt.Sprintf("%s must be >= %s", path, num(*s.min))
		}
	case string:
		n := len([]rune(x))
		if s.maxLen > 0 && n > s.maxLen {
			return fmt.Sprintf("%s must NOT have more than %d characters", path, s.maxLen)
		}
		if n < s.minLen {
			return fmt.Sprintf("%s must NOT have fewer than %d characters", path, s.minLen)
		}
		if s.pattern != nil && !s.pattern.MatchString(x) {
			return fmt.Sprintf("%s must match pattern %q", path, s.patternSrc)
		}
	case []any:
		if s.maxItems > 0 && len(x) > s.maxItems {
			return fmt.Sprintf("%s must NOT have more than %d items", path, s.maxItems)
		}
		if len(x) < s.minItems {
			return fmt.Sprintf("%s must NOT have fewer than %d items", path, s.minItems)
		}
		if s.items != nil {
			for i, it := range x {
				if msg := s.items.validate(path+"/"+strconv.Itoa(i), it); msg != "" {
					return msg
				}
			}
		}
		if s.unique {
			for i := len(x) - 1; i > 0; i-- {
				for j := i - 1; j >= 0; j-- {
					if reflect.DeepEqual(x[i], x[j]) {
						return fmt.Sprintf("%s must NOT have duplicate items (items ## %d and %d are identical)", path, j, i)
					}
				}
			}
		}
	case map[string]any:
		if len(x) < s.minProps {
			return fmt.Sprintf("%s must NOT have fewer than %d properties", path, s.minProps)
		}
		for _, r := range s.required {
			if _, ok := x[r]; !ok {
				return fmt.Sprintf("%s must have required property '%s'", path, r)
			}
		}
		if s.closed {
			for k := range x {
				if !slices.ContainsFunc(s.props, func(p prop) bool { return p.name == k }) {
					return path + " must NOT have additional properties"
				}
			}
		}
		for _, p := range s.props {
			if pv, ok := x[p.name]; ok {
				if msg := p.s.validate(path+"/"+p.name, pv); msg != "" {
					return msg
				}
			}
		}
	}
	return ""
}

func isType(t string, v any) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && f == math.Trunc(f)
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
