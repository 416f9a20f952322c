// Command selfcheck runs scripts/test-real.sh (the real-server suites, go
// test -tags realservers) against in-process fakes posing as real servers, with only the Gitea and
// Portainer variables set, and checks what a real run with that
// configuration must do: no test fails, every test that needs something
// unset (NPM, the image, the Portainer user, the library) skips naming the
// variables it lacks, and the answer fields the Gitea spec lacks are listed.
//
// It exercises the real-server code paths (variables, skips, the contract
// check on the client's transport, cleanup through the API), not real
// Gitea or Portainer behaviour: the servers are the fakes. The Gitea fake
// is wrapped to add "username" beside "login" in every user object, as
// Gitea 1.25.4 answers, so the extra-field report has something to report.
//
//	go run ./datasources/suite/selfcheck [-image busybox:1.36] [-jwt] [-run regexp]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"

	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
)

// unset are the variables a Gitea+Portainer-only run leaves empty.
var unset = []string{
	"APPMANAGE_TEST_NPM_URL", "APPMANAGE_TEST_NPM_EMAIL", "APPMANAGE_TEST_NPM_PASSWORD", "APPMANAGE_TEST_NPM_DOMAIN",
	"APPMANAGE_TEST_LIBRARY_DIR", "APPMANAGE_TEST_APP",
	"APPMANAGE_TEST_PORTAINER_USER", "APPMANAGE_TEST_PORTAINER_PASSWORD", "APPMANAGE_TEST_IMAGE",
	"APPMANAGE_TEST_GITEA_OWNER", "APPMANAGE_TEST_CLONE_BASE_URL", "APPMANAGE_TEST_GIT_USER",
}

func main() {
	image := flag.String("image", "", "set APPMANAGE_TEST_IMAGE to this (empty: leave it unset)")
	jwt := flag.Bool("jwt", false, "set APPMANAGE_TEST_PORTAINER_USER and _PASSWORD to the fake's admin")
	run := flag.String("run", "", "go test -run")
	flag.Parse()
	if err := check(*image, *jwt, *run); err != nil {
		fmt.Fprintln(os.Stderr, "selfcheck: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("selfcheck: ok")
}

func check(image string, jwt bool, run string) error {
	gitea := giteafake.New(giteafake.Options{Wrap: gitea125})
	defer gitea.Close()
	pt := portainerfake.New(portainerfake.Options{})
	defer pt.Close()
	env := map[string]string{
		"APPMANAGE_TEST_REAL":              "",
		"APPMANAGE_TEST_GITEA_URL":         gitea.URL(),
		"APPMANAGE_TEST_GITEA_TOKEN":       gitea.Token(giteafake.AdminUser),
		"APPMANAGE_TEST_PORTAINER_URL":     pt.URL(),
		"APPMANAGE_TEST_PORTAINER_API_KEY": portainerfake.DefaultAPIKey,
	}
	for _, v := range unset {
		env[v] = ""
	}
	if image != "" {
		env["APPMANAGE_TEST_IMAGE"] = image
	}
	if jwt {
		env["APPMANAGE_TEST_PORTAINER_USER"] = portainerfake.DefaultAdminUser
		env["APPMANAGE_TEST_PORTAINER_PASSWORD"] = portainerfake.DefaultAdminPassword
	}
	// The script adds -tags realservers and the packages; -json lets
	// this program read every test's result and skip message.
	args := []string{"scripts/test-real.sh", "-json"}
	if run != "" {
		args = append(args, "-run", run)
	}
	cmd := exec.Command("bash", args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	res := parse(out)
	werr := cmd.Wait()

	set := map[string]bool{}
	for k, v := range env {
		if v != "" {
			set[k] = true
		}
	}
	var problems []string
	for _, f := range res.failed {
		problems = append(problems, "failed: "+f)
	}
	reasons := map[string][]string{}
	for test, msg := range res.skipped {
		vars := skipVars.FindStringSubmatch(msg)
		switch {
		case strings.Contains(msg, "needs the in-process fake"):
			reasons[fakeOnly] = append(reasons[fakeOnly], test)
			continue
		case vars == nil:
			reasons[msg] = append(reasons[msg], test)
			continue
		}
		// The suite package's own tests unset variables on purpose.
		if !strings.HasPrefix(test, "datasources/suite ") {
			for _, v := range strings.Split(vars[1], ", ") {
				if set[v] {
					problems = append(problems, fmt.Sprintf("%s skipped for %s, which is set", test, v))
				}
			}
		}
		reasons["set "+vars[1]] = append(reasons["set "+vars[1]], test)
	}
	fmt.Printf("selfcheck: %d passed, %d skipped, %d failed\n", res.passed, len(res.skipped), len(res.failed))
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sort.Strings(reasons[k])
		fmt.Printf("  skipped (%s): %d\n", k, len(reasons[k]))
		if k == fakeOnly {
			continue
		}
		for _, t := range reasons[k] {
			fmt.Printf("    %s\n", t)
		}
	}
	fmt.Printf("selfcheck: what scripts/test-real.sh printed besides the test events:\n%s", res.text.String())
	rep := []byte(res.text.String())

	// What this configuration must produce.
	npm := reasons["set APPMANAGE_TEST_NPM_URL, APPMANAGE_TEST_NPM_EMAIL, APPMANAGE_TEST_NPM_PASSWORD"]
	if run == "" && len(npm) == 0 {
		problems = append(problems, "no test skipped naming the NPM variables")
	}
	passedNPM := 0
	for _, t := range res.ranIn("datasources/proxymanager") {
		if _, ok := res.skipped[t]; !ok {
			passedNPM++
		}
	}
	fmt.Printf("selfcheck: %d tests (and subtests) of datasources/proxymanager passed without an NPM server: they need none (schema checks, the fake's own tests, parents of skipped subtests)\n", passedNPM)
	if image == "" && run == "" && len(reasons["set APPMANAGE_TEST_IMAGE"]) == 0 {
		problems = append(problems, "no deploying test skipped naming APPMANAGE_TEST_IMAGE")
	}
	if !jwt && run == "" && len(reasons["set APPMANAGE_TEST_PORTAINER_USER, APPMANAGE_TEST_PORTAINER_PASSWORD"]) == 0 {
		problems = append(problems, "the JWT test did not skip naming the Portainer user and password")
	}
	if run == "" && !bytes.Contains(rep, []byte(": $.owner.username")) {
		problems = append(problems, "the Gitea contract test did not list owner.username as a field the spec lacks")
	}
	if werr != nil && len(res.failed) == 0 {
		problems = append(problems, "go test: "+werr.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

const fakeOnly = "needs the in-process fake: fault injection or state inspection"

var skipVars = regexp.MustCompile(`real-server run: set (APPMANAGE_[A-Z0-9_]+(?:, APPMANAGE_[A-Z0-9_]+)*) to run`)

type results struct {
	text    strings.Builder // the script's own lines
	passed  int
	failed  []string
	skipped map[string]string // test -> skip message
	ran     map[string][]string
}

func (r *results) ranIn(pkgSuffix string) []string {
	var out []string
	for pkg, tests := range r.ran {
		if strings.HasSuffix(pkg, pkgSuffix) || strings.Contains(pkg, pkgSuffix+"/") {
			out = append(out, tests...)
		}
	}
	sort.Strings(out)
	return out
}

// parse reads go test -json events: test results, and the skip message
// from the output of each skipped test.
func parse(r io.Reader) *results {
	res := &results{skipped: map[string]string{}, ran: map[string][]string{}}
	output := map[string]*strings.Builder{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev struct {
			Action, Package, Test, Output string
		}
		if !bytes.HasPrefix(sc.Bytes(), []byte("{")) || json.Unmarshal(sc.Bytes(), &ev) != nil {
			res.text.WriteString("  | " + sc.Text() + "\n")
			continue
		}
		if ev.Test == "" {
			if ev.Action == "fail" {
				res.failed = append(res.failed, "package "+ev.Package)
			}
			continue
		}
		key := strings.TrimPrefix(ev.Package, "github.com/appmanage/appmanage/") + " " + ev.Test
		switch ev.Action {
		case "output":
			if output[key] == nil {
				output[key] = &strings.Builder{}
			}
			output[key].WriteString(ev.Output)
		case "pass":
			res.passed++
			res.ran[ev.Package] = append(res.ran[ev.Package], key)
		case "fail":
			res.failed = append(res.failed, key)
			if b := output[key]; b != nil {
				res.text.WriteString("  | output of failed " + key + ":\n" + b.String())
			}
		case "skip":
			msg := ""
			if b := output[key]; b != nil {
				msg = lastSkip(b.String())
			}
			res.skipped[key] = msg
			res.ran[ev.Package] = append(res.ran[ev.Package], key)
		}
	}
	return res
}

// lastSkip is the skip message in a test's output (the line after the
// file:line prefix).
func lastSkip(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "---") || strings.HasPrefix(l, "===") || l == "" {
			continue
		}
		if _, rest, ok := strings.Cut(l, ".go:"); ok {
			if _, msg, ok := strings.Cut(rest, ": "); ok {
				return msg
			}
		}
		return l
	}
	return ""
}

// gitea125 adds "username" beside "login" in every JSON object of an
// answer, as Gitea 1.25.4 does (the 1.26 swagger does not list it).
func gitea125(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{header: http.Header{}, status: 200}
		next.ServeHTTP(rec, r)
		body := rec.body.Bytes()
		if strings.HasPrefix(rec.header.Get("Content-Type"), "application/json") {
			var v any
			if json.Unmarshal(body, &v) == nil {
				if b, err := json.Marshal(addUsername(v)); err == nil {
					body = b
				}
			}
		}
		for k, vs := range rec.header {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.status)
		_, _ = w.Write(body)
	})
}

func addUsername(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = addUsername(e)
		}
		if login, ok := x["login"]; ok {
			x["username"] = login
		}
	case []any:
		for i, e := range x {
			x[i] = addUsername(e)
		}
	}
	return v
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.status = code }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }
