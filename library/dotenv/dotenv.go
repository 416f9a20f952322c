// Package dotenv reads and edits .env files without losing anything the
// file's author wrote: comments, blank lines, order, and the quoting of lines
// that are not changed all survive a Parse/Set/Bytes round trip.
//
// Values are interpreted the way Docker Compose (compose-go's dotenv parser)
// interprets them, because Compose is what finally reads the file: single
// quotes are literal, double quotes understand backslash escapes, unquoted
// values lose a trailing " #comment", and `$$` stands for a literal `$`.
package dotenv

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/template"
)

// ErrNoKey is returned by Expand when the key is not in the file.
var ErrNoKey = errors.New("dotenv: key not set")

// InvalidValueError reports a key or value that Set refuses to write. It never
// carries the value itself, which may be a secret.
type InvalidValueError struct {
	Key    string
	Reason string
}

func (e *InvalidValueError) Error() string {
	return fmt.Sprintf("dotenv: cannot set %q: %s", e.Key, e.Reason)
}

// SyntaxError reports a line Parse cannot read.
type SyntaxError struct {
	Line   int
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("dotenv: line %d: %s", e.Line, e.Reason)
}

var (
	keyRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	bareRe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+,-]*$`)
	// Same export prefix compose-go accepts.
	exportRe = regexp.MustCompile(`^export\s+`)
)

// entry is one logical line: a blank, a comment, an assignment, or a bare
// name (which Compose reads as "inherit from the environment"). A quoted
// value may span several physical lines; text then holds all of them.
type entry struct {
	text   string // as written, without the final line ending
	eol    string // "\n", "\r\n", or "" for a last line without a newline
	key    string // "" unless this is an assignment
	vs, ve int    // the value token (quotes included) is text[vs:ve]
	value  string // what Get returns
	tmpl   string // the value in compose template syntax, for Expand
}

// File is a parsed .env file. The zero value is not usable; call Parse.
// A File is not safe for concurrent mutation; use Clone to hand out copies.
type File struct {
	bom     bool
	entries []entry
	last    map[string]int // key -> index of its last assignment (Compose: last wins)
	order   []string       // keys in order of first appearance
}

// Parse reads a .env file. It fails only on input Compose would also reject
// (bad variable names, unterminated quotes).
func Parse(data []byte) (*File, error) {
	s := string(data)
	f := &File{last: map[string]int{}}
	if rest, ok := strings.CutPrefix(s, "\uFEFF"); ok {
		f.bom = true
		s = rest
	}
	lineNo := 1
	for pos := 0; pos < len(s); {
		e, next, err := parseEntry(s, pos, lineNo)
		if err != nil {
			return nil, err
		}
		lineNo += strings.Count(s[pos:next], "\n")
		pos = next
		f.add(e)
	}
	return f, nil
}

func (f *File) add(e entry) {
	f.entries = append(f.entries, e)
	if e.key == "" {
		return
	}
	if _, seen := f.last[e.key]; !seen {
		f.order = append(f.order, e.key)
	}
	f.last[e.key] = len(f.entries) - 1
}

// lineEnd returns the index of the '\n' ending the line that starts at pos,
// or len(s).
func lineEnd(s string, pos int) int {
	if i := strings.IndexByte(s[pos:], '\n'); i >= 0 {
		return pos + i
	}
	return len(s)
}

// finish splits a physical range s[start:end] (end at '\n' or EOF) into text
// and line ending, and returns the position after the line ending.
func finish(s string, start, end int) (text, eol string, next int) {
	text = s[start:end]
	if end < len(s) {
		eol, next = "\n", end+1
		if strings.HasSuffix(text, "\r") {
			text, eol = text[:len(text)-1], "\r\n"
		}
		return text, eol, next
	}
	return text, "", end
}

func isSpace(r rune) bool { // compose-go's notion: whitespace but not '\n'
	switch r {
	case '\t', '\v', '\f', '\r', ' ', 0x85, 0xA0:
		return true
	}
	return false
}

func parseEntry(s string, start, lineNo int) (entry, int, error) {
	end := lineEnd(s, start)
	line := s[start:end]
	body := strings.TrimLeftFunc(line, unicode.IsSpace)
	if body == "" || body[0] == '#' {
		text, eol, next := finish(s, start, end)
		return entry{text: text, eol: eol}, next, nil
	}
	off := start + len(line) - len(body) // absolute offset of body
	if m := exportRe.FindString(body); m != "" {
		off += len(m)
		body = body[len(m):]
	}

	// The key runs to the first '=' or ':' (compose also takes YAML-style
	// "KEY: value"); spaces around it are allowed.
	sep := -1
	for i, r := range body {
		if r == '=' || r == ':' {
			sep = i
			break
		}
		switch {
		case isSpace(r), r == '_', r == '.', r == '-', r == '[', r == ']',
			unicode.IsLetter(r), unicode.IsNumber(r):
		default:
			return entry{}, 0, &SyntaxError{lineNo, fmt.Sprintf("unexpected character %q in variable name", r)}
		}
	}
	if sep < 0 {
		// A bare name: Compose inherits it from the process environment. We
		// keep the line but it defines nothing here.
		name := strings.TrimRightFunc(body, unicode.IsSpace)
		if strings.ContainsFunc(name, isSpace) {
			return entry{}, 0, &SyntaxError{lineNo, "variable name cannot contain a space"}
		}
		text, eol, next := finish(s, start, end)
		return entry{text: text, eol: eol}, next, nil
	}
	key := strings.TrimRightFunc(body[:sep], isSpace)
	if key == "" {
		return entry{}, 0, &SyntaxError{lineNo, "empty variable name"}
	}
	if strings.ContainsFunc(key, isSpace) {
		return entry{}, 0, &SyntaxError{lineNo, "variable name cannot contain a space"}
	}
	rest := body[sep+1:]
	vs := off + sep + 1 + (len(rest) - len(strings.TrimLeftFunc(rest, isSpace)))

	e := entry{key: key}
	var ve int
	if vs < len(s) && (s[vs] == '\'' || s[vs] == '"') {
		q := s[vs]
		closeAt, content, ok := scanQuoted(s, vs)
		if !ok {
			return entry{}, 0, &SyntaxError{lineNo, "unterminated quoted value"}
		}
		ve = closeAt + 1
		end = lineEnd(s, closeAt)
		// Compose would read text after the closing quote as the next
		// statement; refuse it rather than silently disagree.
		if after := strings.TrimLeftFunc(s[ve:end], unicode.IsSpace); after != "" && after[0] != '#' {
			return entry{}, 0, &SyntaxError{lineNo + strings.Count(s[start:closeAt], "\n"), "unexpected text after closing quote"}
		}
		if q == '\'' {
			e.value = content
			e.tmpl = strings.ReplaceAll(content, "$", "$$")
		} else {
			e.tmpl = expandEscapes(content)
			e.value = unescapeDollars(e.tmpl)
		}
	} else {
		raw := s[vs:end]
		raw, _, _ = strings.Cut(raw, " #")
		raw = strings.TrimRightFunc(raw, unicode.IsSpace)
		ve = vs + len(raw)
		e.tmpl = raw
		e.value = unescapeDollars(raw)
	}
	text, eol, next := finish(s, start, end)
	e.text, e.eol = text, eol
	// An empty value before a CRLF ("A=\r\n"): the spaces skipped before it
	// include the '\r' that finish moved into eol.
	e.vs, e.ve = min(vs-start, len(text)), min(ve-start, len(text))
	return e, next, nil
}

// scanQuoted finds the closing quote of the quoted token at s[open], reading
// backslashes the way compose-go does: a backslash escapes the quote
// character, and is otherwise kept together with the character after it.
func scanQuoted(s string, open int) (closeAt int, content string, ok bool) {
	q := s[open]
	var b strings.Builder
	escaped := false
	for i := open + 1; i < len(s); i++ {
		c := s[i]
		if c != q {
			if !escaped && c == '\\' {
				escaped = true
				continue
			}
			if escaped {
				escaped = false
				b.WriteByte('\\')
			}
			b.WriteByte(c)
			continue
		}
		if escaped {
			escaped = false
			b.WriteByte(c)
			continue
		}
		return i, b.String(), true
	}
	return 0, "", false
}

var escapeSeqRe = regexp.MustCompile(`\\(?:[abcfnrtv$"\\]|0\d{0,3})`)

// expandEscapes applies the escape sequences compose-go understands inside
// double quotes. `\$` becomes `$$`, the template spelling of a literal dollar.
func expandEscapes(s string) string {
	return escapeSeqRe.ReplaceAllStringFunc(s, func(m string) string {
		if m == `\$` {
			return "$$"
		}
		if strings.HasPrefix(m, `\0`) {
			m = `\` + m[2:]
		}
		r, _, _, err := strconv.UnquoteChar(m, '"')
		if err != nil {
			return m
		}
		return string(r)
	})
}

// unescapeDollars turns the template escape `$$` into `$` and leaves variable
// references as written.
func unescapeDollars(s string) string {
	if !strings.Contains(s, "$$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '$' && i+1 < len(s) && s[i+1] == '$' {
			i++
		}
	}
	return b.String()
}

// Get returns the value of key as Compose reads it, except that variable
// references ($VAR, ${VAR}) are left unresolved; see Expand. When a key is
// assigned more than once the last assignment wins, as in Compose.
func (f *File) Get(key string) (string, bool) {
	i, ok := f.last[key]
	if !ok {
		return "", false
	}
	return f.entries[i].value, true
}

// Raw returns the value of key exactly as written, quotes included.
func (f *File) Raw(key string) (string, bool) {
	i, ok := f.last[key]
	if !ok {
		return "", false
	}
	e := f.entries[i]
	return e.text[e.vs:e.ve], true
}

// Keys returns the assigned keys in order of first appearance.
func (f *File) Keys() []string { return slices.Clone(f.order) }

// Has reports whether key is assigned.
func (f *File) Has(key string) bool {
	_, ok := f.last[key]
	return ok
}

// Set assigns value to key: in place when the key exists (keeping the rest
// of that line, such as a trailing comment), else as a new line at the end.
// The value is quoted so that both Get and Compose read back exactly value.
func (f *File) Set(key, value string) error {
	if !keyRe.MatchString(key) {
		return &InvalidValueError{Key: key, Reason: "key must match [A-Za-z_][A-Za-z0-9_]*"}
	}
	switch {
	case strings.ContainsAny(value, "\n\r"):
		return &InvalidValueError{Key: key, Reason: "value contains a line break"}
	case strings.IndexByte(value, 0) >= 0:
		return &InvalidValueError{Key: key, Reason: "value contains a NUL byte"}
	case !utf8.ValidString(value):
		return &InvalidValueError{Key: key, Reason: "value is not valid UTF-8"}
	}
	tok := Quote(value)
	if i, ok := f.last[key]; ok {
		e := &f.entries[i]
		if tok == "" && strings.TrimLeftFunc(e.text[e.ve:], isSpace) != "" {
			// "A=0 # note" set to "": a bare empty value would leave
			// "A= # note", whose value reads as "#".
			tok = "''"
		}
		e.text = e.text[:e.vs] + tok + e.text[e.ve:]
		e.ve = e.vs + len(tok)
		e.value = value
		e.tmpl = quotedTemplate(value, tok)
		return nil
	}
	if n := len(f.entries); n > 0 && f.entries[n-1].eol == "" {
		f.entries[n-1].eol = "\n"
	}
	text := key + "=" + tok
	f.add(entry{
		text: text, eol: "\n", key: key,
		vs: len(key) + 1, ve: len(text),
		value: value, tmpl: quotedTemplate(value, tok),
	})
	return nil
}

func quotedTemplate(value, tok string) string {
	if strings.HasPrefix(tok, `"`) || strings.HasPrefix(tok, `'`) {
		return strings.ReplaceAll(value, "$", "$$")
	}
	return value // bare values contain no '$'
}

// Quote returns value as a .env token that compose-go reads back as exactly
// value: bare when it is plain, single-quoted (literal) when it can be,
// double-quoted with escapes otherwise. The value must not contain line
// breaks or NUL (Set enforces this).
func Quote(value string) string {
	if bareRe.MatchString(value) {
		return value
	}
	// compose-go reads `\'` as an escaped quote even inside single quotes, so
	// a trailing backslash would swallow the closing quote.
	if !strings.Contains(value, "'") && !strings.HasSuffix(value, `\`) {
		return "'" + value + "'"
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`)
	return `"` + r.Replace(value) + `"`
}

// Expand returns the value of key with $VAR and ${VAR} references resolved
// against the file's own keys, recursively (so W9_LOGIN_PASSWORD=$W9_POWER_PASSWORD
// yields the password). Unknown variables expand to "", as in Compose;
// ${VAR:-default} and the other Compose forms work. A reference cycle is an
// error.
func (f *File) Expand(key string) (string, error) {
	if !f.Has(key) {
		return "", fmt.Errorf("%w: %s", ErrNoKey, key)
	}
	return f.expand(key, map[string]bool{})
}

func (f *File) expand(key string, active map[string]bool) (string, error) {
	if active[key] {
		return "", fmt.Errorf("dotenv: reference cycle through %s", key)
	}
	active[key] = true
	defer delete(active, key)
	var inner error
	out, err := template.SubstituteWithOptions(f.entries[f.last[key]].tmpl, func(name string) (string, bool) {
		if !f.Has(name) {
			return "", false
		}
		v, err := f.expand(name, active)
		if err != nil && inner == nil {
			inner = err
		}
		return v, true
	}, template.WithoutLogging)
	if inner != nil {
		return "", inner
	}
	if err != nil {
		return "", fmt.Errorf("dotenv: expanding %s: %w", key, err)
	}
	return out, nil
}

// Bytes returns the file, byte for byte as parsed except for the values Set
// changed or added.
func (f *File) Bytes() []byte {
	var b strings.Builder
	if f.bom {
		b.WriteString("\uFEFF")
	}
	for _, e := range f.entries {
		b.WriteString(e.text)
		b.WriteString(e.eol)
	}
	return []byte(b.String())
}

// Map returns every key with its Get value.
func (f *File) Map() map[string]string {
	m := make(map[string]string, len(f.last))
	for k, i := range f.last {
		m[k] = f.entries[i].value
	}
	return m
}

// Clone returns an independent copy.
func (f *File) Clone() *File {
	return &File{
		bom:     f.bom,
		entries: slices.Clone(f.entries),
		last:    maps.Clone(f.last),
		order:   slices.Clone(f.order),
	}
}
