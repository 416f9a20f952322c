package ops

import (
	"regexp"
	"unicode/utf8"
)

// userinfo matches the "user:password@" part of a URL. Steps are
// responsible for their messages; this is the last line of defence so a
// clone URL with credentials never lands in the journal or an API response.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)[^/?#\s@]+@`)

const maxText = 4000

func sanitize(s string) string {
	s = userinfo.ReplaceAllString(s, "${1}***@")
	if len(s) > maxText {
		cut := maxText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
