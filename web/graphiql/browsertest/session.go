package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Session is a headless Chromium with one tab, for tests that drive a page
// step by step (the web console's). Like RunQuery it blocks every request
// to a host other than the server under test; Check fails the test for such
// requests, for uncaught exceptions, for console errors and for CSP
// violations.
type Session struct {
	s *session
}

// Options tune a Session; zero values take the defaults.
type Options struct {
	// Timeout bounds the whole session (default 5 minutes).
	Timeout time.Duration
	// Width and Height are the window's size (default 1280×900).
	Width, Height int
}

// Start opens a browser on origin (e.g. http://127.0.0.1:1234), with no
// page loaded yet. The browser is closed, and Check run, when the test
// ends.
func Start(t testing.TB, origin string, o Options) *Session {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Width == 0 {
		o.Width, o.Height = 1280, 900
	}
	s := startWith(t, origin, o.Timeout, o.Width, o.Height)
	s.strictConsole = true
	if err := s.watch(); err != nil {
		s.close()
		t.Fatalf("browsertest: %v", err)
	}
	bs := &Session{s: s}
	t.Cleanup(func() {
		bs.Check(t)
		s.close()
	})
	return bs
}

// Context is the tab's context, for chromedp actions.
func (b *Session) Context() context.Context { return b.s.ctx }

// Do runs actions in the tab; on error it fails the test with what the
// page logged.
func (b *Session) Do(t testing.TB, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.s.ctx, actions...); err != nil {
		t.Fatalf("browsertest: %s: %v%s", what, err, b.s.diagnostics())
	}
}

// Eval evaluates a JavaScript expression and returns its value.
func Eval[T any](t testing.TB, b *Session, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.s.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browsertest: evaluating %s: %v%s", expr, err, b.s.diagnostics())
	}
	return v
}

// WaitFor polls a JavaScript expression until it is truthy (at most limit)
// and returns its value; what says what was awaited.
func WaitFor[T any](t testing.TB, b *Session, what, expr string, limit time.Duration) T {
	t.Helper()
	v, err := chromedp.Run(b.s.ctx, chromedp.Poll[T](expr, chromedp.WithPollingInterval(25*time.Millisecond),
		chromedp.WithPollingTimeout(limit)))
	if err != nil {
		t.Fatalf("browsertest: waiting for %s (%s): %v%s", what, expr, err, b.s.diagnostics())
	}
	return v
}

// Screenshot saves a PNG of the viewport to dir/name and returns its path.
func (b *Session) Screenshot(t testing.TB, dir, name string) string {
	t.Helper()
	png, err := chromedp.Run(b.s.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("browsertest: screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	return p
}

// Check fails the test for what went wrong so far: requests to other
// hosts, page errors, console errors and CSP violations.
func (b *Session) Check(t testing.TB) {
	t.Helper()
	violations, err := chromedp.Run(b.s.ctx, chromedp.Evaluate[[]string](`window.__cspViolations || []`))
	if err == nil {
		b.s.mu.Lock()
		for _, v := range violations {
			b.s.failures = append(b.s.failures, "CSP violation: "+v)
		}
		b.s.mu.Unlock()
	}
	b.s.check(t)
	b.s.mu.Lock()
	b.s.failures = nil
	b.s.offHost = nil
	b.s.mu.Unlock()
}

// Console returns the console lines seen so far.
func (b *Session) Console() []string {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	return append([]string(nil), b.s.console...)
}

// String is for failure messages.
func (b *Session) String() string { return fmt.Sprintf("browser session on %s", b.s.origHost) }
