package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// recordingTB records Skip and Fatal instead of stopping the test, so the
// decision Chromium makes can be checked.
type recordingTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordingTB) Helper()           {}
func (r *recordingTB) Skip(args ...any)  { r.skipped = fmt.Sprint(args...) }
func (r *recordingTB) Fatal(args ...any) { r.fatal = fmt.Sprint(args...) }

func TestChromiumWithoutBrowser(t *testing.T) {
	saved := candidates
	candidates = []string{"/nonexistent/chromium", "appmanage-no-such-browser"}
	t.Cleanup(func() { candidates = saved })

	tests := []struct {
		ci                  string
		wantSkip, wantFatal bool
	}{
		{ci: "", wantSkip: true},
		{ci: "true", wantFatal: true},
	}
	for _, tt := range tests {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recordingTB{TB: t}
			if got := Chromium(r); got != "" {
				t.Errorf("Chromium = %q, want empty", got)
			}
			if (r.skipped != "") != tt.wantSkip || (r.fatal != "") != tt.wantFatal {
				t.Errorf("skipped=%q fatal=%q, want skip=%v fatal=%v", r.skipped, r.fatal, tt.wantSkip, tt.wantFatal)
			}
			if msg := r.skipped + r.fatal; !strings.Contains(msg, "apt-get install -y chromium") {
				t.Errorf("message %q does not say how to install Chromium", msg)
			}
		})
	}
}

func TestSessionBlocksOtherHostsAndCatchesPageErrors(t *testing.T) {
	Chromium(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /offhost", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>probe</title>
<img src="http://example.com/pixel.png">
<script src="/local.js"></script>
<script>
fetch('http://203.0.113.9:8080/leak').then(() => { document.title = 'leaked'; }, () => { document.title = 'blocked'; });
setTimeout(() => { throw new Error('boom-probe'); }, 0);
</script>`)
	})
	mux.HandleFunc("GET /local.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `window.localLoaded = true;`)
	})
	mux.HandleFunc("GET /csp", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		fmt.Fprint(w, `<!doctype html><title>csp</title><script>document.title = 'inline ran';</script>`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	s := start(t, srv.URL+"/offhost")
	defer s.close()
	if err := s.watch(); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(s.ctx, chromedp.Navigate(srv.URL+"/offhost")); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(s.ctx, chromedp.Poll[string](`document.title !== 'probe' && document.title`,
		chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if title != "blocked" {
		t.Errorf("off-host fetch: title %q, want blocked", title)
	}
	local, err := chromedp.Run(s.ctx, chromedp.Evaluate[bool](`window.localLoaded === true`))
	if err != nil || !local {
		t.Errorf("same-host script did not load (err %v)", err)
	}

	want := []string{"GET http://203.0.113.9:8080/leak", "GET http://example.com/pixel.png"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		got := slices.Sorted(slices.Values(s.offHost))
		failures := slices.Clone(s.failures)
		s.mu.Unlock()
		exception := slices.ContainsFunc(failures, func(f string) bool { return strings.Contains(f, "boom-probe") })
		if slices.Equal(got, want) && exception {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("off-host requests %v (want %v), page errors %v (want boom-probe)", got, want, failures)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := chromedp.Do(s.ctx, chromedp.Navigate(srv.URL+"/csp")); err != nil {
		t.Fatal(err)
	}
	violations, err := chromedp.Run(s.ctx, chromedp.Evaluate[[]string](`window.__cspViolations`))
	if err != nil {
		t.Fatal(err)
	}
	if len(violations) != 1 || !strings.HasPrefix(violations[0], "script-src-elem blocked inline") {
		t.Errorf("CSP violations %q, want one for the inline script", violations)
	}
}
