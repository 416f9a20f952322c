package fake

import (
	"fmt"
	"regexp"
	"strings"
)

// serverBlockRe finds a server block, which NPM's template cannot nest.
var serverBlockRe = regexp.MustCompile(`(?m)(^|[;{}\s])server\s*\{`)

// configureLocked stands in for NPM writing the host's config and running
// nginx -t: the result lands in meta.nginx_online / meta.nginx_err.
func (s *Server) configureLocked(h *storedHost) {
	errText := s.nginxTestLocked(&h.ProxyHost)
	if h.Meta == nil {
		h.Meta = map[string]any{}
	}
	if errText == "" {
		h.Meta["nginx_online"] = true
		h.Meta["nginx_err"] = nil
		return
	}
	h.Meta["nginx_online"] = false
	h.Meta["nginx_err"] = errText
}

func (s *Server) nginxTestLocked(h *ProxyHost) string {
	conf := fmt.Sprintf("/data/nginx/proxy_host/%d.conf", h.ID)
	emerg := func(msg string) string {
		return fmt.Sprintf("nginx: [emerg] %s in %s\nnginx: configuration file /etc/nginx/nginx.conf test failed", msg, conf)
	}
	if s.nginxFail != "" {
		return emerg(s.nginxFail)
	}
	if h.CertificateID > 0 && s.certLocked(h.CertificateID) == nil {
		return emerg(fmt.Sprintf(`cannot load certificate "/etc/letsencrypt/live/npm-%d/fullchain.pem"`, h.CertificateID))
	}
	snippets := []string{h.AdvancedConfig}
	for _, l := range h.Locations {
		if a, ok := l["advanced_config"].(string); ok {
			snippets = append(snippets, a)
		}
	}
	for _, sn := range snippets {
		if msg := checkSnippet(sn); msg != "" {
			return emerg(msg)
		}
	}
	return ""
}

// checkSnippet is a crude nginx -t for text pasted inside server {}:
// braces must balance and no server block may appear.
func checkSnippet(conf string) string {
	var b strings.Builder
	for line := range strings.Lines(conf) {
		// Comments may hold anything.
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	text := b.String()
	if serverBlockRe.MatchString(text) {
		return `"server" directive is not allowed here`
	}
	depth := 0
	for _, r := range text {
		switch r {
		case '{':
			depth++
		case '}':
			depth--
			if depth < 0 {
				return `unexpected "}"`
			}
		}
	}
	if depth > 0 {
		return `unexpected end of file, expecting "}"`
	}
	return ""
}
