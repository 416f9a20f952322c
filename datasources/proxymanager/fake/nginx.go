package fake

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"
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
	if host := s.unresolvedLocked(h); host != "" {
		return emerg(fmt.Sprintf(`host not found in upstream "%s"`, host))
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
// braces must balance and no server block may appear. As nginx's tokenizer
// does, it skips comments and quoted strings ("..." and '...', with
// backslash escapes), so `add_header X "}";` is fine.
func checkSnippet(conf string) string {
	var b strings.Builder
	var quote byte
	comment := false
	for i := 0; i < len(conf); i++ {
		c := conf[i]
		switch {
		case comment:
			if c == '\n' {
				comment = false
				b.WriteByte(c)
			}
			continue
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
			b.WriteByte('x') // a quoted string is one ordinary token
			continue
		case c == '#':
			comment = true
			continue
		case c == '"' || c == '\'':
			quote = c
			b.WriteByte('x')
			continue
		case c == '\\':
			b.WriteByte('x')
			i++
			continue
		}
		b.WriteByte(c)
	}
	if quote != 0 {
		return "unexpected end of file, expecting \";\" or \"}\""
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

// unresolvedLocked returns the first forward host of h's custom locations
// that Options.Resolve cannot resolve, or "". NPM writes a location as
// `proxy_pass scheme://host:port`, which nginx resolves when it loads the
// config; the host's own forward_host goes through variables (`set $server
// "host"; proxy_pass $forward_scheme://$server:$port`), which nginx
// resolves per request, so it never fails nginx -t (contracts §7).
func (s *Server) unresolvedLocked(h *ProxyHost) string {
	if s.opts.Resolve == nil {
		return ""
	}
	var hosts []string
	for _, l := range h.Locations {
		if fh, ok := l["forward_host"].(string); ok {
			hosts = append(hosts, fh)
		}
	}
	for _, fh := range hosts {
		if net.ParseIP(fh) != nil || strings.EqualFold(fh, "localhost") {
			continue
		}
		if !s.opts.Resolve(fh) {
			return fh
		}
	}
	return ""
}

// servedConfig is what nginx serves for one host from a moment on: nothing
// (deleted, disabled, or rejected by nginx -t) or the host's domains.
type servedConfig struct {
	at   time.Time
	live bool
	host ProxyHost
}

// noteServingLocked records the config nginx will serve for h once it has
// reloaded, ReloadDelay after now.
func (s *Server) noteServingLocked(h *storedHost) {
	if s.served == nil {
		s.served = map[int][]servedConfig{}
	}
	online, _ := h.Meta["nginx_online"].(bool)
	c := servedConfig{at: time.Now().Add(s.opts.ReloadDelay), live: !h.deleted && h.Enabled && online,
		host: cloneHost(h.ProxyHost)}
	hist := s.served[h.ID]
	// Only the newest config already in force is still needed.
	now := time.Now()
	for len(hist) > 1 && !hist[1].at.After(now) {
		hist = hist[1:]
	}
	s.served[h.ID] = append(hist, c)
}

// Serving returns the host nginx answers domain with right now, if any. A
// change shows here ReloadDelay after NPM answered it: until then the
// previous config keeps serving, as on a real NPM while nginx reloads.
// Anything that verifies a proxy change must therefore poll.
func (s *Server) Serving(domain string) (ProxyHost, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	ids := make([]int, 0, len(s.served))
	for id := range s.served {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		var cur *servedConfig
		for i, c := range s.served[id] {
			if !c.at.After(now) {
				cur = &s.served[id][i]
			}
		}
		if cur != nil && cur.live && slices.ContainsFunc(cur.host.DomainNames, func(d string) bool { return strings.EqualFold(d, domain) }) {
			return cloneHost(cur.host), true
		}
	}
	return ProxyHost{}, false
}

// gravatar is the hash NPM puts in a user's avatar URL.
func gravatar(email string) string {
	sum := md5.Sum([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:])
}

// CheckSnippet is the fake's nginx -t verdict on an advanced_config: "" when
// nginx would accept it, else the error (for tests that fuzz the text).
func CheckSnippet(conf string) string { return checkSnippet(conf) }
