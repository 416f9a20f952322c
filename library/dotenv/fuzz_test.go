package dotenv

import (
	"bytes"
	"strings"
	"testing"

	composedotenv "github.com/compose-spec/compose-go/v2/dotenv"
)

// FuzzEditRoundTrip parses any file, sets one key and writes it back:
//   - every line the edit does not touch survives byte for byte: the output
//     is the input with only the edited value token replaced (existing key)
//     or with one line appended (new key);
//   - re-parsing gives the same keys (plus the new one), the same values for
//     every other key, and exactly the value set;
//   - when Compose reads the input, it reads the output too, sees no key the
//     edit did not add (no value can inject a key) and reads back the value.
func FuzzEditRoundTrip(f *testing.F) {
	f.Add([]byte(sampleEnv), "W9_DIST", "enterprise")
	f.Add([]byte(sampleEnv), "NEW_KEY", "a\"b'c$d\\")
	f.Add([]byte(sampleEnv), "MULTI", "x")
	f.Add([]byte(sampleEnv), "CRLF", "y z")
	f.Add([]byte("A=1"), "B", "no newline before")
	f.Add([]byte("\uFEFFA=1\r\n"), "A", "#not a comment")
	f.Add([]byte("A='x\ny'\r\nB=\"\\\"\" # c\n"), "A", "v")
	f.Add([]byte("export A = 1 # c\n"), "A", "\u2028")
	f.Add([]byte("A=1\nA=2\n"), "A", "3")
	f.Add([]byte("A: yaml\n"), "A", "B=1")
	f.Add([]byte(""), "K", "\x85")
	f.Fuzz(func(t *testing.T, data []byte, key, value string) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		compose, composeErr := composedotenv.ParseWithLookup(bytes.NewReader(data), func(string) (string, bool) { return "", false })

		oldKeys := file.Keys()
		oldVals := file.Map()
		idx, existed := file.last[key]
		var start int
		var old entry
		if existed {
			for _, e := range file.entries[:idx] {
				start += len(e.text) + len(e.eol)
			}
			if file.bom {
				start += len("\uFEFF")
			}
			old = file.entries[idx]
		}
		if err := file.Set(key, value); err != nil {
			if !keyRe.MatchString(key) || strings.ContainsAny(value, "\r\n\x00") || !isValidUTF8(value) {
				return
			}
			t.Fatalf("Set(%q, %q) refused a writable value: %v", key, value, err)
		}
		out := file.Bytes()
		tok, _ := file.Raw(key)
		if q := Quote(value); tok != q && !(q == "" && tok == "''") {
			t.Fatalf("Set wrote token %q for %q, Quote gives %q", tok, value, q)
		}

		// Untouched bytes survive.
		var want []byte
		if existed {
			vs, ve := start+old.vs, start+old.ve
			want = append(append(append([]byte{}, data[:vs]...), tok...), data[ve:]...)
		} else {
			want = append([]byte{}, data...)
			if len(file.entries) > 1 && len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
				want = append(want, '\n')
			}
			want = append(want, key+"="+tok+"\n"...)
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("Set(%q, %q) on %q wrote\n%q, want\n%q", key, value, data, out, want)
		}

		// Our own reading of the output.
		g, err := Parse(out)
		if err != nil {
			t.Fatalf("cannot re-parse %q: %v", out, err)
		}
		if got, _ := g.Get(key); got != value {
			t.Fatalf("Get(%q) after re-parse = %q, want %q (file %q)", key, got, value, out)
		}
		wantKeys := oldKeys
		if !existed {
			wantKeys = append(wantKeys, key)
		}
		if got := g.Keys(); strings.Join(got, "\x00") != strings.Join(wantKeys, "\x00") {
			t.Fatalf("keys %q became %q (file %q)", wantKeys, got, out)
		}
		for k, v := range oldVals {
			if got, _ := g.Get(k); k != key && got != v {
				t.Fatalf("%s changed from %q to %q (file %q)", k, v, got, out)
			}
		}

		// Compose's reading of the output.
		if composeErr != nil {
			return
		}
		after, err := composedotenv.ParseWithLookup(bytes.NewReader(out), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatalf("compose reads the input but not the output %q: %v", out, err)
		}
		for k := range after {
			if _, ok := compose[k]; !ok && k != key {
				t.Fatalf("value %q injected key %q (file %q)", value, k, out)
			}
		}
		if after[key] != value {
			t.Fatalf("compose reads %s=%q, want %q (file %q)", key, after[key], value, out)
		}
	})
}
