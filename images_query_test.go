package main

import (
	"encoding/json"
	"strings"
	"testing"
)

type imageRow struct {
	Ref       string
	Services  []string
	Present   *bool
	Reachable bool
	Via       *string
	Tried     []string
}

// In sandbox mode the in-process registry holds the embedded library's
// images: catalog images are reachable, an install passes the image
// preflight without any network, and App.images then shows them present.
func TestSandboxImages(t *testing.T) {
	s := startServer(t)
	_, resp := s.gql(t, adminKey, `{ catalog(search: "whoami") { name images { ref services present reachable via tried } } }`, nil)
	if len(resp.Errors) > 0 {
		t.Fatalf("catalog images: %+v", resp.Errors)
	}
	var cat struct {
		Catalog []struct {
			Name   string
			Images []imageRow
		}
	}
	if err := json.Unmarshal(resp.Data, &cat); err != nil {
		t.Fatal(err)
	}
	if len(cat.Catalog) != 1 {
		t.Fatalf("catalog = %+v", cat.Catalog)
	}
	im := cat.Catalog[0].Images
	if len(im) != 1 || !strings.HasPrefix(im[0].Ref, "traefik/whoami:") || !im[0].Reachable || im[0].Present != nil ||
		im[0].Via == nil || *im[0].Via != im[0].Ref {
		t.Fatalf("catalog images = %+v", im)
	}
	op := installOp(t, s, "imgs1")
	if st := waitTerminal(t, s, op); st != "SUCCEEDED" {
		t.Fatalf("install: %s", st)
	}
	_, resp = s.gql(t, adminKey, `{ app(id: "imgs1") { images { ref services present reachable via } } }`, nil)
	if len(resp.Errors) > 0 {
		t.Fatalf("app images: %+v", resp.Errors)
	}
	var app struct{ App struct{ Images []imageRow } }
	if err := json.Unmarshal(resp.Data, &app); err != nil {
		t.Fatal(err)
	}
	if a := app.App.Images; len(a) != 1 || a[0].Ref != im[0].Ref || a[0].Present == nil || !*a[0].Present || !a[0].Reachable {
		t.Fatalf("app images = %+v", a)
	}
	_, resp = s.gql(t, adminKey, `{ catalog(search: "whoami") { images(version: "no-such") { ref } } }`, nil)
	if resp.code() != "VALIDATION_FAILED" {
		t.Fatalf("unknown version: %+v", resp.Errors)
	}
}
