package apps

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/appmanage/appmanage/apperr"
)

// appIDPattern: the app id becomes a DB user name, a container name, a
// repository, a stack and a host name (DESIGN.md §3).
var appIDPattern = regexp.MustCompile(`^[a-z][a-z0-9]{1,19}$`)

// ValidateAppID checks an app id.
func ValidateAppID(field, id string) error {
	if !appIDPattern.MatchString(id) {
		return apperr.Invalid(field, "%q is not a valid app id: use 2-20 lower-case letters and digits, starting with a letter", clip(id))
	}
	return nil
}

var labelPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// idnaProfile converts IDNs to punycode with the strict lookup rules
// (UTS #46, transitional off, STD3 rules, bidi and joiner checks).
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.StrictDomainName(true),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.VerifyDNSLength(true),
)

// NormalizeDomain validates one domain and returns it lower-cased, in
// punycode. It accepts only a bare RFC 1123 host name with at least two
// labels: no scheme, port, path, wildcard, IP address, whitespace or any
// character that could break out of an nginx server_name.
func NormalizeDomain(field, raw string) (string, error) {
	bad := func(why string) error {
		return apperr.Invalid(field, "%q is not a valid domain: %s", clip(raw), why)
	}
	if raw == "" {
		return "", bad("it is empty")
	}
	if len(raw) > 253*4 || !utf8.ValidString(raw) {
		return "", bad("it is too long or not UTF-8")
	}
	for _, r := range raw {
		switch {
		case unicode.Is(unicode.Cf, r) || unicode.IsSpace(r):
			return "", bad("it contains invisible or formatting characters")
		case r < 0x21 || r == 0x7f:
			return "", bad("it contains whitespace or control characters")
		case r == '*':
			return "", bad("wildcards are not supported")
		case r == ':':
			return "", bad("give the host name alone, without a scheme or port")
		case r == '/' || r == '\\' || r == '?' || r == '#' || r == '@':
			return "", bad("give the host name alone, without a scheme, path or user")
		case strings.ContainsRune(";{}$'\"`|&<>()[],=+~!%^", r):
			return "", bad("it contains characters not allowed in host names")
		}
	}
	d := strings.TrimSuffix(raw, ".")
	ascii, err := idnaProfile.ToASCII(d)
	if err != nil {
		return "", bad("it is not a valid internationalized host name")
	}
	ascii = strings.ToLower(ascii)
	if len(ascii) > 253 {
		return "", bad("it is longer than 253 characters")
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", bad("it needs at least two labels, such as example.com")
	}
	for _, l := range labels {
		if !labelPattern.MatchString(l) {
			return "", bad("label " + strconv.Quote(l) + " must be 1-63 letters, digits or inner hyphens")
		}
	}
	if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
		return "", bad("IP addresses are not domains")
	}
	return ascii, nil
}

// NormalizeDomains validates a list, drops exact duplicates after
// normalisation and keeps the user's order.
func NormalizeDomains(field string, raw []string) ([]string, error) {
	if len(raw) > 100 {
		return nil, apperr.Invalid(field, "at most 100 domains")
	}
	out := make([]string, 0, len(raw))
	seen := map[string]bool{}
	for i, r := range raw {
		d, err := NormalizeDomain(field+"["+strconv.Itoa(i)+"]", r)
		if err != nil {
			return nil, err
		}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out, nil
}

// ValidateEnvValue refuses values a .env line cannot carry safely.
func ValidateEnvValue(field, v string) error {
	if strings.ContainsAny(v, "\n\r\x00") {
		return apperr.Invalid(field, "the value must not contain newlines or NUL characters")
	}
	if !utf8.ValidString(v) {
		return apperr.Invalid(field, "the value must be UTF-8")
	}
	if len(v) > 4096 {
		return apperr.Invalid(field, "the value is longer than 4096 bytes")
	}
	return nil
}

// clip keeps user input in error messages short, cut on a rune boundary
// (a message must not end in half a character).
func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	cut := 80
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
