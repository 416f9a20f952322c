package main

import (
	"strings"
	"testing"

	"github.com/appmanage/appmanage/web/graphiql/browsertest"
)

// GraphiQL loads from the server alone (every other host is blocked) and
// runs a query against the real schema with an API key.
func TestGraphiQLInHeadlessChromium(t *testing.T) {
	browsertest.Chromium(t) // skips without Chromium unless CI is set
	s := startServer(t)
	out := browsertest.RunQuery(t, s.URL+"/graphiql", adminKey, `{ health { sandbox upstreams { name up } } }`)
	for _, want := range []string{`"sandbox": true`, `"gitea"`, `"portainer"`, `"npm"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("GraphiQL result lacks %s:\n%s", want, out)
		}
	}
}
