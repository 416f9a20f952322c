package dotenv

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	composedotenv "github.com/compose-spec/compose-go/v2/dotenv"
)

// composeRead parses data with compose-go, without any process environment.
func composeRead(t testing.TB, data []byte) map[string]string {
	t.Helper()
	m, err := composedotenv.ParseWithLookup(bytes.NewReader(data), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("compose-go cannot parse our output: %v\n%s", err, data)
	}
	return m
}

const sampleEnv = `# leading comment
W9_REPO=wordpress
W9_DIST='community'
W9_VERSION="6.9"

export EXPORTED=yes
SPACED = spaced value   # trailing comment
HASH=a#b
EMPTY=
QUOTED_COMMENT='v' # after quote
W9_POWER_PASSWORD='NYvg!hilh9Haouf2'
W9_LOGIN_PASSWORD=$W9_POWER_PASSWORD
DB_HOST=${W9_ID}-mysql
W9_ID='wordpress'
DOLLARS=a$$b
ESCAPES="line\nnext \"q\" back\\slash \$HOME"
MULTI="first
second"
CRLF=win` + "\r\n" + `BARE_NAME
LAST=no-newline`

func TestParseKeepsBytes(t *testing.T) {
	f, err := Parse([]byte(sampleEnv))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(f.Bytes()); got != sampleEnv {
		t.Fatalf("round trip changed the file:\n%q\n%q", got, sampleEnv)
	}
}

func TestGet(t *testing.T) {
	f, err := Parse([]byte(sampleEnv))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"W9_REPO":           "wordpress",
		"W9_DIST":           "community",
		"W9_VERSION":        "6.9",
		"EXPORTED":          "yes",
		"SPACED":            "spaced value",
		"HASH":              "a#b",
		"EMPTY":             "",
		"QUOTED_COMMENT":    "v",
		"W9_LOGIN_PASSWORD": "$W9_POWER_PASSWORD",
		"DB_HOST":           "${W9_ID}-mysql",
		"DOLLARS":           "a$b",
		"ESCAPES":           "line\nnext \"q\" back\\slash $HOME",
		"MULTI":             "first\nsecond",
		"CRLF":              "win",
		"LAST":              "no-newline",
	}
	for k, want := range tests {
		got, ok := f.Get(k)
		if !ok || got != want {
			t.Errorf("Get(%s) = %q, %v; want %q", k, got, ok, want)
		}
	}
	if _, ok := f.Get("BARE_NAME"); ok {
		t.Error("a bare name defines nothing")
	}
	if raw, _ := f.Raw("W9_DIST"); raw != "'community'" {
		t.Errorf("Raw = %q", raw)
	}
	wantKeys := []string{"W9_REPO", "W9_DIST", "W9_VERSION", "EXPORTED", "SPACED", "HASH", "EMPTY",
		"QUOTED_COMMENT", "W9_POWER_PASSWORD", "W9_LOGIN_PASSWORD", "DB_HOST", "W9_ID", "DOLLARS",
		"ESCAPES", "MULTI", "CRLF", "LAST"}
	if got := f.Keys(); strings.Join(got, ",") != strings.Join(wantKeys, ",") {
		t.Errorf("Keys = %v", got)
	}
}

func TestExpand(t *testing.T) {
	f, err := Parse([]byte(sampleEnv))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"W9_LOGIN_PASSWORD": "NYvg!hilh9Haouf2",
		"DB_HOST":           "wordpress-mysql", // W9_ID is defined later; we resolve regardless of order
		"DOLLARS":           "a$b",
		"ESCAPES":           "line\nnext \"q\" back\\slash $HOME",
		"W9_POWER_PASSWORD": "NYvg!hilh9Haouf2",
	} {
		got, err := f.Expand(k)
		if err != nil || got != want {
			t.Errorf("Expand(%s) = %q, %v; want %q", k, got, err, want)
		}
	}
	if _, err := f.Expand("NOPE"); !errors.Is(err, ErrNoKey) {
		t.Errorf("missing key: %v", err)
	}
	cyc, _ := Parse([]byte("A=$B\nB=${A}\nC=${UNSET:-dflt}\n"))
	if _, err := cyc.Expand("A"); err == nil {
		t.Error("cycle not detected")
	}
	if got, err := cyc.Expand("C"); err != nil || got != "dflt" {
		t.Errorf("default: %q %v", got, err)
	}
}

// Our Expand must agree with compose-go on files compose-go reads, including
// the real library samples.
func TestExpandAgreesWithCompose(t *testing.T) {
	inputs := map[string][]byte{"inline": []byte(strings.ReplaceAll(sampleEnv, "DB_HOST=${W9_ID}-mysql\n", ""))}
	if dir := samplesDir(); dir != "" {
		for _, app := range []string{"wordpress", "duplicati", "kasmweb"} {
			b, err := os.ReadFile(filepath.Join(dir, app, ".env"))
			if err != nil {
				t.Fatal(err)
			}
			inputs[app] = b
		}
	}
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			f, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			want := composeRead(t, data)
			for _, k := range f.Keys() {
				got, err := f.Expand(k)
				if err != nil {
					t.Fatalf("Expand(%s): %v", k, err)
				}
				if got != want[k] {
					t.Errorf("%s: ours %q, compose %q", k, got, want[k])
				}
			}
			if len(want) != len(f.Keys()) {
				t.Errorf("compose sees %d keys, we see %d", len(want), len(f.Keys()))
			}
		})
	}
}

func samplesDir() string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "..", "shared", "library-samples")
			if _, err := os.Stat(p); err == nil {
				return p
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func TestParseErrors(t *testing.T) {
	for name, in := range map[string]string{
		"unterminated":     "A='abc\nB=1\n",
		"bad name":         "A$B=1\n",
		"space in name":    "A B=1\n",
		"empty name":       "=1\n",
		"text after quote": "A='x' B=2\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("want SyntaxError, got %v", err)
			}
		})
	}
}

var tricky = []string{
	"", "plain", "9001", "with space", " lead", "trail ", "a#b", " #c", "#x",
	"$HOME", "${HOME}", "$$", "a$", "pa$$word", "${", "it's", "say \"hi\"", `back\slash`,
	`end\`, `end\\`, `\'`, `'\`, `it's $HOME \ "x"`, `\$`, `\n`, `\0123`, "tab\there",
	"ünïcödé ☃ 日本語", "emoji 🎉", "\u00a0nbsp", "a=b", "k: v", "`cmd`", "$(cmd)", "semi;colon",
	"a&b|c>d<e", "~user", "*glob?", "{}", "[x]", "!bang", "'", "\"", "''", `""`,
	" define('WP_ALLOW_MULTISITE', true ); ", "http://example.com:9001/path?q=1&r=2",
}

func TestSetRoundTrip(t *testing.T) {
	for _, v := range tricky {
		t.Run(v, func(t *testing.T) { checkSet(t, []byte(sampleEnv), "W9_URL", v) })
		t.Run("existing/"+v, func(t *testing.T) { checkSet(t, []byte(sampleEnv), "W9_DIST", v) })
	}
}

func TestSetQuoting(t *testing.T) {
	for v, want := range map[string]string{
		"9001":        "9001",
		"example.com": "example.com",
		"a b":         "'a b'",
		"$x":          "'$x'",
		"it's":        `"it's"`,
		"it's $x":     `"it's \$x"`,
		`end\`:        `"end\\"`,
		"":            "",
	} {
		if got := Quote(v); got != want {
			t.Errorf("Quote(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestSetKeepsLineAndComment(t *testing.T) {
	f, err := Parse([]byte("# c\nA=1 # keep me\nexport B='x'\nC=3"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"A": "two words", "B": "y", "D": "new"} {
		if err := f.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	want := "# c\nA='two words' # keep me\nexport B=y\nC=3\nD=new\n"
	if got := string(f.Bytes()); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestSetRefuses(t *testing.T) {
	f, _ := Parse([]byte("A=1\n"))
	for _, c := range []struct{ key, value string }{
		{"A", "two\nlines"}, {"A", "cr\r"}, {"A", "nul\x00"}, {"A", "bad\xff"},
		{"1A", "x"}, {"A-B", "x"}, {"", "x"}, {"A B", "x"}, {"Ä", "x"},
	} {
		err := f.Set(c.key, c.value)
		var ive *InvalidValueError
		if !errors.As(err, &ive) || ive.Key != c.key || ive.Reason == "" {
			t.Errorf("Set(%q, %q) = %v, want InvalidValueError", c.key, c.value, err)
		}
		if strings.Contains(err.Error(), c.value) && c.value != "x" {
			t.Errorf("error leaks the value: %v", err)
		}
	}
	if got := string(f.Bytes()); got != "A=1\n" {
		t.Errorf("refused Set changed the file: %q", got)
	}
}

func TestClone(t *testing.T) {
	f, _ := Parse([]byte("A=1\n"))
	c := f.Clone()
	if err := c.Set("A", "2"); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("B", "3"); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Get("A"); v != "1" || f.Has("B") || string(f.Bytes()) != "A=1\n" {
		t.Errorf("clone shares state with original: %q", f.Bytes())
	}
}

// checkSet sets key=value on a parsed base and verifies that the value reads
// back through Get, through a re-Parse and through compose-go, and that every
// other key is unchanged.
func checkSet(t testing.TB, base []byte, key, value string) {
	t.Helper()
	f, err := Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	before := composeRead(t, base)
	if err := f.Set(key, value); err != nil {
		t.Fatalf("Set(%q): %v", value, err)
	}
	if got, _ := f.Get(key); got != value {
		t.Fatalf("Get after Set = %q, want %q", got, value)
	}
	if got, err := f.Expand(key); err != nil || got != value {
		t.Fatalf("Expand after Set = %q, %v, want %q", got, err, value)
	}
	out := f.Bytes()
	g, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, out)
	}
	if got, _ := g.Get(key); got != value {
		t.Fatalf("Get after re-parse = %q, want %q (file %q)", got, value, out)
	}
	after := composeRead(t, out)
	if after[key] != value {
		t.Fatalf("compose-go reads %q, want %q (file %q)", after[key], value, out)
	}
	for k, v := range before {
		if k != key && after[k] != v {
			t.Errorf("%s changed: %q -> %q", k, v, after[k])
		}
	}
	wantLen := len(before)
	if _, existed := before[key]; !existed {
		wantLen++
	}
	if len(after) != wantLen {
		t.Errorf("key count %d -> %d", len(before), len(after))
	}
}

func FuzzSetGet(f *testing.F) {
	for _, v := range tricky {
		f.Add(v)
	}
	base := []byte(strings.ReplaceAll(sampleEnv, "DB_HOST=${W9_ID}-mysql\n", ""))
	f.Fuzz(func(t *testing.T, value string) {
		file, _ := Parse(base)
		if err := file.Set("FUZZ_KEY", value); err != nil {
			var ive *InvalidValueError
			if !errors.As(err, &ive) {
				t.Fatalf("unexpected error type %T", err)
			}
			if !strings.ContainsAny(value, "\r\n\x00") && isValidUTF8(value) {
				t.Fatalf("refused a writable value %q: %v", value, err)
			}
			return
		}
		checkSet(t, base, "FUZZ_KEY", value)
		checkSet(t, base, "W9_DIST", value)
	})
}

// FuzzParse: whatever Parse accepts, Bytes reproduces exactly.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sampleEnv))
	f.Add([]byte("A='x\ny'\r\nB=\"\\\"\" # c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		if got := file.Bytes(); !bytes.Equal(got, data) {
			t.Fatalf("round trip: %q -> %q", data, got)
		}
	})
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
