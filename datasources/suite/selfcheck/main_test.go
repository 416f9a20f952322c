package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	events := strings.Join([]string{
		`test-real: what runs with the variables set here:`,
		`{"Action":"run","Package":"github.com/appmanage/appmanage/datasources/proxymanager","Test":"TestA"}`,
		`{"Action":"output","Package":"github.com/appmanage/appmanage/datasources/proxymanager","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"github.com/appmanage/appmanage/datasources/proxymanager","Test":"TestA","Output":"    npm.go:71: real-server run: set APPMANAGE_TEST_NPM_URL, APPMANAGE_TEST_NPM_EMAIL to run TestA against a real server\n"}`,
		`{"Action":"output","Package":"github.com/appmanage/appmanage/datasources/proxymanager","Test":"TestA","Output":"--- SKIP: TestA (0.00s)\n"}`,
		`{"Action":"skip","Package":"github.com/appmanage/appmanage/datasources/proxymanager","Test":"TestA"}`,
		`{"Action":"pass","Package":"github.com/appmanage/appmanage/datasources/gitea","Test":"TestB"}`,
		`{"Action":"output","Package":"github.com/appmanage/appmanage/apps","Test":"TestC","Output":"boom\n"}`,
		`{"Action":"fail","Package":"github.com/appmanage/appmanage/apps","Test":"TestC"}`,
		`{"Action":"fail","Package":"github.com/appmanage/appmanage/apps"}`,
	}, "\n")
	res := parse(strings.NewReader(events))
	if res.passed != 1 || len(res.failed) != 2 || res.failed[0] != "apps TestC" || res.failed[1] != "package github.com/appmanage/appmanage/apps" {
		t.Fatalf("passed %d failed %q", res.passed, res.failed)
	}
	msg := res.skipped["datasources/proxymanager TestA"]
	if m := skipVars.FindStringSubmatch(msg); m == nil || m[1] != "APPMANAGE_TEST_NPM_URL, APPMANAGE_TEST_NPM_EMAIL" {
		t.Fatalf("skip message %q", msg)
	}
	if got := res.ranIn("datasources/proxymanager"); len(got) != 1 {
		t.Fatalf("ranIn = %q", got)
	}
	if !strings.Contains(res.text.String(), "| test-real: what runs") || !strings.Contains(res.text.String(), "output of failed apps TestC:\nboom") {
		t.Fatalf("text = %q", res.text.String())
	}
}

func TestGitea125AddsUsername(t *testing.T) {
	h := gitea125(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_, _ = io.WriteString(w, `{"owner":{"login":"a"},"list":[{"author":{"login":"b"}}],"name":"x"}`)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/repos/a/x", nil))
	var v struct {
		Owner map[string]string
		List  []struct{ Author map[string]string }
		Name  string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 201 || v.Owner["username"] != "a" || v.List[0].Author["username"] != "b" || v.Name != "x" {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
}
