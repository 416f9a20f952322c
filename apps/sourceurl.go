package apps

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/appmanage/appmanage/apperr"
)

// installFromSource imports a repository from a URL the user gives: Gitea
// clones it, from inside the operator's network. The URL is checked before
// anything is written so that the import cannot be turned against that
// network (SSRF): only http, https and git; no credentials in the URL (they
// go in their own secret input); the host resolved, and loopback,
// link-local, private, CGNAT and unspecified addresses refused unless the
// allowPrivateSourceUrls setting allows them; IP literals only in their
// canonical form (no 2130706433, 0177.0.0.1, 0x7f.1, ::ffff:127.0.0.1
// tricks, which resolvers read as loopback).

// MaxSourceURLLength bounds gitUrl.
const MaxSourceURLLength = 2048

// resolveTimeout bounds the look-up of a gitUrl host.
const resolveTimeout = 5 * time.Second

// SourceResolver resolves a source URL's host (net.Resolver has this
// method); tests inject one so no check reaches a real DNS server.
type SourceResolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// UseSourceResolver replaces the resolver gitUrl hosts are looked up with
// (default: net.DefaultResolver).
func (s *Service) UseSourceResolver(r SourceResolver) { s.srcResolver.Store(&r) }

func (s *Service) sourceResolver() SourceResolver {
	if r := s.srcResolver.Load(); r != nil && *r != nil {
		return *r
	}
	return net.DefaultResolver
}

// numericLabel is a label a resolver may read as a number: decimal, octal
// (leading 0) or hex (0x).
var numericLabel = regexp.MustCompile(`^(0[xX][0-9a-fA-F]*|[0-9]+)$`)

var sourceIDNA = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(true),
	idna.ValidateLabels(true), idna.VerifyDNSLength(true))

// cgnat is 100.64.0.0/10 (RFC 6598), which netip does not call private.
var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// SourceURL is a checked gitUrl: Clean is what Gitea is asked to clone.
type SourceURL struct {
	Clean string
	Host  string // lower-case, punycode, without brackets
}

// ParseSourceURL checks raw's syntax (everything that needs no DNS) and
// returns it normalised. Errors are VALIDATION_FAILED on field.
func ParseSourceURL(field, raw string) (*SourceURL, error) {
	bad := func(format string, args ...any) error {
		return apperr.Invalid(field, "gitUrl %s", fmt.Sprintf(format, args...))
	}
	if raw == "" {
		return nil, bad("is empty")
	}
	if len(raw) > MaxSourceURLLength {
		return nil, bad("is longer than %d bytes", MaxSourceURLLength)
	}
	if !utf8.ValidString(raw) {
		return nil, bad("is not UTF-8")
	}
	for _, r := range raw {
		if r <= 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\\' || r == '\u2028' || r == '\u2029' || r == '\ufeff' || (r >= '\u200b' && r <= '\u200f') {
			return nil, bad("contains spaces, control or invisible characters")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, bad("is not a URL: use http://, https:// or git://")
	}
	switch u.Scheme {
	case "http", "https", "git":
	case "":
		return nil, bad("has no scheme: use http://, https:// or git:// (scp-like ssh addresses are not supported)")
	default:
		return nil, bad("has scheme %q: only http, https and git are allowed", clip(u.Scheme))
	}
	if raw[:len(u.Scheme)] != u.Scheme {
		return nil, bad("must spell its scheme in lower case")
	}
	if u.Opaque != "" || !strings.HasPrefix(raw[len(u.Scheme):], "://") {
		return nil, bad("must be of the form %s://host/path", u.Scheme)
	}
	if u.User != nil || strings.Contains(u.Host, "@") {
		return nil, bad("must not carry credentials: give them in the auth input")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, bad("must not have a query or fragment")
	}
	authority := raw[len(u.Scheme)+3:]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if strings.Contains(authority, "%") || strings.Contains(u.Host, "%") || !utf8.ValidString(u.Host) {
		return nil, bad("must not percent-encode its host or name an IPv6 zone")
	}
	host := u.Hostname()
	if host == "" {
		return nil, bad("has no host")
	}
	if p := u.Port(); p != "" {
		if n, ok := parsePort(p); !ok || n == 0 {
			return nil, bad("has an invalid port %q", clip(p))
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, bad("has an empty port")
	}
	path := strings.Trim(u.Path, "/")
	if path == "" || path == ".git" {
		return nil, bad("names no repository (want host/owner/name)")
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "." || seg == ".." || seg == "" {
			return nil, bad("has an empty, . or .. path segment")
		}
	}
	var canonHost string
	if strings.HasPrefix(u.Host, "[") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return nil, bad("has an invalid IPv6 address")
		}
		if a.Is4In6() {
			return nil, bad("names an IPv4-mapped IPv6 address: write the IPv4 address itself")
		}
		canonHost = a.String()
	} else if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		if a.String() != host {
			return nil, bad("has a non-canonical IPv4 address")
		}
		canonHost = host
	} else {
		labels := strings.Split(strings.TrimSuffix(host, "."), ".")
		allNumeric := true
		for _, l := range labels {
			if !numericLabel.MatchString(l) {
				allNumeric = false
			}
		}
		if allNumeric || numericLabel.MatchString(labels[len(labels)-1]) {
			// 2130706433, 0177.0.0.1, 0x7f.1, 127.1: numbers a resolver
			// reads as an IPv4 address.
			return nil, bad("has an IP address in a non-canonical (decimal, octal, hex or short) form")
		}
		ascii, err := sourceIDNA.ToASCII(strings.TrimSuffix(host, "."))
		if err != nil {
			return nil, bad("has an invalid host name")
		}
		ascii = strings.ToLower(ascii)
		for _, l := range strings.Split(ascii, ".") {
			if !labelPattern.MatchString(l) {
				return nil, bad("has an invalid host name label %q", clip(l))
			}
		}
		canonHost = ascii
	}
	out := *u
	if strings.Contains(canonHost, ":") {
		out.Host = "[" + canonHost + "]"
	} else {
		out.Host = canonHost
	}
	if p := u.Port(); p != "" {
		out.Host += ":" + p
	}
	return &SourceURL{Clean: out.String(), Host: canonHost}, nil
}

func parsePort(p string) (int, bool) {
	if len(p) == 0 || len(p) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= 65535
}

// forbiddenAddr says why a is not a public unicast address ("" when it is).
func forbiddenAddr(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		// Addresses that embed an IPv4 one reach it.
		if nat64.Contains(a) {
			b := a.As16()
			if why := forbiddenAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})); why != "" {
				return why + " (through NAT64)"
			}
		}
		if sixToFour.Contains(a) {
			b := a.As16()
			if why := forbiddenAddr(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})); why != "" {
				return why + " (through 6to4)"
			}
		}
	}
	switch {
	case a.IsUnspecified() || thisNet.Contains(a):
		return "an unspecified address"
	case a.IsLoopback():
		return "a loopback address"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return "a link-local address"
	case a.IsPrivate():
		return "a private address"
	case cgnat.Contains(a):
		return "a shared (CGNAT) address"
	case a.IsMulticast() || a.IsInterfaceLocalMulticast():
		return "a multicast address"
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	}
	return ""
}

// allowPrivateSources reports the allowPrivateSourceUrls setting.
func (s *Service) allowPrivateSources(ctx context.Context) bool {
	return strings.EqualFold(strings.TrimSpace(s.setting(ctx, "allowPrivateSourceUrls")), "true")
}

// CheckSourceURL is ParseSourceURL plus the host's addresses: every one
// the resolver returns must be public, unless allowPrivate.
func CheckSourceURL(ctx context.Context, field, raw string, res SourceResolver, allowPrivate bool) (*SourceURL, error) {
	su, err := ParseSourceURL(field, raw)
	if err != nil {
		return nil, err
	}
	refuse := func(what string) error {
		return apperr.Invalid(field, "gitUrl host %s is %s; set allowPrivateSourceUrls to true to import from the local network", clip(su.Host), what)
	}
	if !allowPrivate && (su.Host == "localhost" || strings.HasSuffix(su.Host, ".localhost")) {
		return nil, refuse("a loopback name")
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(su.Host); err == nil {
		addrs = []netip.Addr{a}
	} else if su.Host == "localhost" || strings.HasSuffix(su.Host, ".localhost") {
		addrs = []netip.Addr{netip.IPv6Loopback(), netip.AddrFrom4([4]byte{127, 0, 0, 1})} // RFC 6761
	} else {
		lctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		defer cancel()
		addrs, err = res.LookupNetIP(lctx, "ip", su.Host)
		if err != nil || len(addrs) == 0 {
			return nil, apperr.Invalid(field, "gitUrl host %s does not resolve", clip(su.Host))
		}
	}
	if allowPrivate {
		return su, nil
	}
	for _, a := range addrs {
		if why := forbiddenAddr(a); why != "" {
			if a.String() == su.Host {
				return nil, refuse(why)
			}
			return nil, refuse(fmt.Sprintf("%s (it resolves to %s)", why, a.Unmap()))
		}
	}
	return su, nil
}
