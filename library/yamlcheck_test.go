package library

import (
	"strings"
	"testing"
)

func TestCheckComposeYAML(t *testing.T) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i, prev := 0, "a"; i < 8; i++ {
		name := string(rune('b' + i))
		laughs += name + ": &" + name + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = name
	}
	tests := []struct {
		name, yaml, err string
	}{
		{"plain", "services:\n  web:\n    image: nginx\n", ""},
		{"shared anchor", "x-a: &a {image: nginx}\nservices:\n  web: *a\n  db:\n    <<: *a\n", ""},
		{"merge into itself", "x-a: &a\n  <<: *a\nservices: {}\n", "refers to a node that contains it"},
		{"alias in itself", "a: &a\n  b: [*a]\n", "refers to a node that contains it"},
		{"billion laughs", laughs, "expands to more than"},
		{"not YAML", ":\n\t-", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckComposeYAML([]byte(tt.yaml))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}
