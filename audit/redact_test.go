package audit

import (
	"encoding/json"
	"strings"
	"testing"
)

func secrecy(key string) (bool, bool) {
	switch key {
	case "publicHost":
		return true, false
	case "giteaToken":
		return true, true
	}
	return false, false
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name     string
		mutation string
		args     map[string]any
		hidden   []string // must not appear
		shown    []string // must appear
	}{
		{"secret setting", "updateSettings", map[string]any{"input": []any{
			map[string]any{"key": "giteaToken", "value": "tok-123"},
			map[string]any{"key": "publicHost", "value": "h.example.net"},
		}}, []string{"tok-123"}, []string{"h.example.net", "giteaToken"}},
		{"unknown setting key (a typo) is treated as secret", "updateSettings", map[string]any{"input": []any{
			map[string]any{"key": "giteatoken", "value": "typo-secret"},
		}}, []string{"typo-secret"}, []string{"giteatoken"}},
		{"testUpstream too", "testUpstream", map[string]any{"name": "gitea", "input": []any{
			map[string]any{"key": "giteaToken", "value": "tok-456"},
		}}, []string{"tok-456"}, []string{"gitea"}},
		{"install password settings", "installApp", map[string]any{"input": map[string]any{"appId": "blog", "settings": []any{
			map[string]any{"name": "W9_POWER_PASSWORD", "value": "pw-789"},
			map[string]any{"name": "W9_HTTP_PORT_SET", "value": "9001"},
		}}}, []string{"pw-789"}, []string{"9001", "blog"}},
		{"env changes", "updateAppEnv", map[string]any{"id": "blog", "changes": []any{
			map[string]any{"name": "DB_SECRET", "value": "s-1"},
			map[string]any{"name": "API_TOKEN", "value": "s-2"},
			map[string]any{"name": "GREETING", "value": "hello"},
		}}, []string{"s-1", "s-2"}, []string{"hello"}},
		{"file contents keep only their size", "updateAppFiles", map[string]any{"id": "blog", "files": []any{
			map[string]any{"path": ".env", "content": "PASSWORD=abc"},
		}}, []string{"abc"}, []string{".env", "[12 bytes]"}},
		{"secret-looking argument names", "x", map[string]any{"password": "p-1", "apiKey": "k-1", "name": "ok"},
			[]string{"p-1", "k-1"}, []string{"ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(redact(tc.mutation, tc.args, secrecy))
			for _, h := range tc.hidden {
				if strings.Contains(string(b), h) {
					t.Errorf("%s shows %q", b, h)
				}
			}
			for _, s := range tc.shown {
				if !strings.Contains(string(b), s) {
					t.Errorf("%s lacks %q", b, s)
				}
			}
		})
	}
}

func TestAppIDOf(t *testing.T) {
	if got := appIDOf("installApp", map[string]any{"input": map[string]any{"appId": "blog"}}); got != "blog" {
		t.Errorf("install: %q", got)
	}
	if got := appIDOf("stopApp", map[string]any{"id": "blog"}); got != "blog" {
		t.Errorf("stop: %q", got)
	}
	if got := appIDOf("cancelOperation", map[string]any{"id": "op-1"}); got != "" {
		t.Errorf("cancel: %q", got)
	}
}
