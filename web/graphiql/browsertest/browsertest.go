// Package browsertest drives the /graphiql page in a headless Chromium for
// tests. Every request to a host other than the server under test is blocked
// and fails the test, so a test that passes proves the page works offline.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// candidates are the browser binaries tried in order: absolute paths first
// (Debian's chromium package), then names looked up on PATH.
var candidates = []string{
	"/usr/bin/chromium",
	"/usr/bin/chromium-browser",
	"/usr/bin/google-chrome",
	"chromium",
	"chromium-browser",
	"google-chrome",
	"google-chrome-stable",
}

// Chromium returns the path of a Chromium or Chrome binary. Without one it
// skips the test, unless the environment variable CI is set: CI installs
// Chromium, so a missing browser there is a failure, not a skip.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := "no Chromium found (tried " + strings.Join(candidates, ", ") + "); install it, e.g. `apt-get install -y chromium`"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so this is an error)")
		return ""
	}
	t.Skip(msg)
	return ""
}

// timeout bounds one RunQuery, start of the browser included.
const timeout = 90 * time.Second

// RunQuery opens pageURL (the /graphiql page) in a fresh headless Chromium,
// types apiKey into the page's key field, reloads so the page starts with
// the stored key, puts query into the query editor, clicks the run button and
// returns the JSON text of the result pane.
//
// It fails the test when the page requests any host other than pageURL's,
// when the page's CSP blocks anything, or when the page throws.
func RunQuery(t testing.TB, pageURL, apiKey, query string) string {
	t.Helper()
	s := start(t, pageURL)
	defer s.close()

	result, err := s.runQuery(apiKey, query)
	s.check(t)
	if err != nil {
		t.Fatalf("browsertest: %v%s", err, s.diagnostics())
	}
	return result
}

// session is one browser with one tab on the server under test.
type session struct {
	ctx      context.Context
	cancel   func()
	pageURL  string
	origHost string // host:port of the server under test

	mu       sync.Mutex
	offHost  []string // requests to other hosts (blocked)
	console  []string // console lines, for failure messages
	failures []string // uncaught exceptions (and, with strictConsole, console errors)
	wg       sync.WaitGroup

	// strictConsole counts console errors (console.error, failed loads in
	// the browser log) as failures too.
	strictConsole bool
}

func start(t testing.TB, pageURL string) *session {
	return startWith(t, pageURL, timeout, 1280, 900)
}

func startWith(t testing.TB, pageURL string, limit time.Duration, width, height int) *session {
	t.Helper()
	u, err := url.Parse(pageURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		t.Fatalf("browsertest: page URL %q is not an absolute http(s) URL", pageURL)
	}
	exe := Chromium(t)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("dns-prefetch-disable", true),
		chromedp.WindowSize(width, height),
	}
	// Belt and braces: no host name resolves except the one under test, so
	// even traffic the Fetch domain does not see (websockets, browser
	// services) cannot leave the machine.
	// The rules also apply to IP literals, so the server's host is excluded
	// whatever its form.
	exclude := u.Hostname()
	if ip := net.ParseIP(exclude); ip != nil && ip.To4() == nil {
		exclude = "[" + exclude + "]"
	}
	opts = append(opts, chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE "+exclude))

	base, cancelBase := context.WithTimeout(context.Background(), limit)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	s := &session{
		ctx:      ctx,
		pageURL:  pageURL,
		origHost: u.Host,
	}
	s.cancel = func() {
		cancelCtx()
		cancelAlloc() // waits for the browser to exit, before TempDir cleanup
		cancelBase()
	}
	return s
}

func (s *session) close() {
	s.cancel()
	s.wg.Wait()
}

// allowed reports whether the page may load u: only the server under test,
// plus URLs that never touch the network.
func (s *session) allowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "data", "blob", "about":
		return true
	case "http", "https", "ws", "wss":
		return u.Host == s.origHost
	}
	return false
}

func (s *session) recordOffHost(what, raw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offHost = append(s.offHost, what+" "+raw)
}

// watch installs the request gate and the listeners. It must run before the
// first navigation.
func (s *session) watch() error {
	ctx := s.ctx
	// Subscribe before enabling, so no paused request is missed.
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	sockets := chromedp.Events(ctx, network.WebSocketCreated)
	console := chromedp.Console(ctx)

	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		for ev, err := range paused {
			if err != nil {
				return
			}
			if s.allowed(ev.Request.URL) {
				_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				continue
			}
			s.recordOffHost(ev.Request.Method, ev.Request.URL)
			_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{
				RequestID:   ev.RequestID,
				ErrorReason: network.ErrorReasonBlockedByClient,
			})
		}
	}()
	go func() {
		defer s.wg.Done()
		for ev, err := range sockets {
			if err != nil {
				return
			}
			if !s.allowed(ev.URL) {
				s.recordOffHost("WEBSOCKET", ev.URL)
			}
		}
	}()
	go func() {
		defer s.wg.Done()
		for m, err := range console {
			if err != nil {
				return
			}
			s.mu.Lock()
			s.console = append(s.console, fmt.Sprintf("%s: %s", m.Type, m.Text))
			if m.IsException() || (s.strictConsole && m.Type == chromedp.ConsoleError) {
				s.failures = append(s.failures, fmt.Sprintf("%s: %s", m.Type, m.Text))
			}
			s.mu.Unlock()
		}
	}()

	// Catch CSP violations in the page itself: the DevTools log reports them
	// too, but only as free text.
	const cspProbe = `window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') +
    (e.sourceFile ? ' at ' + e.sourceFile + ':' + e.lineNumber : ''));
});`
	return chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, fetch.Enable, fetch.EnableParams{
				Patterns: []*fetch.RequestPattern{{URLPattern: "*"}},
			})
			if err != nil {
				return fmt.Errorf("enabling request interception: %w", err)
			}
			_, err = cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument,
				page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe})
			if err != nil {
				return fmt.Errorf("installing the CSP probe: %w", err)
			}
			return nil
		}),
	)
}

// Selectors of GraphiQL 4's DOM; CodeMirror 5 hangs its editor object on
// the .CodeMirror wrapper element.
const (
	queryEditor    = `.graphiql-query-editor .CodeMirror`
	responseEditor = `.graphiql-response .CodeMirror`
	executeButton  = `.graphiql-execute-button`
	keyField       = `#api-key`
)

func (s *session) runQuery(apiKey, query string) (string, error) {
	ctx := s.ctx
	if err := s.watch(); err != nil {
		return "", err
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.pageURL),
		chromedp.WaitVisible(chromedp.CSS(queryEditor)),
		chromedp.WaitVisible(chromedp.CSS(keyField)),
		chromedp.Clear(chromedp.CSS(keyField)),
		chromedp.SendKeys(chromedp.CSS(keyField), apiKey),
		// The change event (blur or Enter) stores the key.
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#api-key').dispatchEvent(new Event('change', {bubbles: true}))`),
	); err != nil {
		return "", fmt.Errorf("loading the page and typing the API key: %w", err)
	}
	// Reload so the page introspects with the stored key from the start; a
	// failed key-less introspection would otherwise race our query for the
	// result pane.
	if err := chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(queryEditor)),
	); err != nil {
		return "", fmt.Errorf("reloading the page: %w", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(keyField)))
	if err != nil {
		return "", fmt.Errorf("reading the API key field: %w", err)
	}
	if got != apiKey {
		return "", fmt.Errorf("the API key field holds %q after a reload, want the typed key", redact(got))
	}

	setQuery := fmt.Sprintf(`(() => {
  document.querySelector(%s).CodeMirror.setValue(%s);
  document.querySelector(%s).CodeMirror.setValue('');
  return true;
})()`, jsString(queryEditor), jsString(query), jsString(responseEditor))
	// GraphiQL parses the editor text 100 ms after a change (debounced), and
	// only then knows whether the operation is a subscription; the parsed
	// text lands in its storage, which tells us it is done.
	queryTaken := `localStorage.getItem('graphiql:query') === ` + jsString(query)
	if err := chromedp.Do(ctx,
		chromedp.Poll[chromedp.Void](`!!(document.querySelector(`+jsString(responseEditor)+`) || {}).CodeMirror`),
		chromedp.Evaluate[chromedp.Void](setQuery),
		chromedp.Poll[chromedp.Void](queryTaken, chromedp.WithPollingInterval(20*time.Millisecond),
			chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Click(chromedp.CSS(executeButton)),
	); err != nil {
		return "", fmt.Errorf("running the query: %w", err)
	}

	// Done when the button is back to "Execute" and the pane holds JSON.
	const resultReady = `(() => {
  const btn = document.querySelector('.graphiql-execute-button');
  if (!btn || !(btn.getAttribute('aria-label') || '').startsWith('Execute')) return '';
  const cm = document.querySelector('.graphiql-response .CodeMirror');
  const text = cm && cm.CodeMirror ? cm.CodeMirror.getValue() : '';
  if (!text.trim()) return '';
  try { JSON.parse(text); } catch (e) { return ''; }
  return text;
})()`
	result, err := chromedp.Run(ctx, chromedp.Poll[string](resultReady,
		chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](
			`(() => { const cm = document.querySelector('.graphiql-response .CodeMirror'); return cm && cm.CodeMirror ? cm.CodeMirror.getValue() : '<no result pane>'; })()`))
		return "", fmt.Errorf("waiting for a JSON result (result pane: %q): %w", text, err)
	}

	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__cspViolations || []`))
	if err != nil {
		return "", fmt.Errorf("reading CSP violations: %w", err)
	}
	s.mu.Lock()
	for _, v := range violations {
		s.failures = append(s.failures, "CSP violation: "+v)
	}
	s.mu.Unlock()
	return result, nil
}

// check fails the test for off-host requests and page errors seen so far.
func (s *session) check(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.offHost) > 0 {
		t.Errorf("browsertest: the page requested hosts other than %s (blocked):\n  %s",
			s.origHost, strings.Join(slices.Compact(slices.Sorted(slices.Values(s.offHost))), "\n  "))
	}
	for _, f := range s.failures {
		t.Errorf("browsertest: page error: %s", f)
	}
}

func (s *session) diagnostics() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.console) == 0 {
		return ""
	}
	return "\nbrowser console:\n  " + strings.Join(s.console, "\n  ")
}

// jsString quotes s as a JavaScript string literal (JSON is a subset).
func jsString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always marshals
	}
	return string(b)
}

// redact keeps a key out of test logs while still showing if it was empty.
func redact(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf("<%d chars>", len(s))
}
