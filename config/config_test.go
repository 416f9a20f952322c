package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestNoBackendMeansSandbox(t *testing.T) {
	c, err := Parse(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Sandbox, AllUpstreams) {
		t.Fatalf("Sandbox = %v, want all", c.Sandbox)
	}
	if c.Listen != "127.0.0.1:8080" || c.Workers != 4 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestSandboxFlagForms(t *testing.T) {
	real := map[string]string{
		"APPMANAGE_GITEA_URL": "http://gitea:3000", "APPMANAGE_GITEA_TOKEN": "t", "APPMANAGE_GITEA_OWNER": "apps",
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--sandbox"}, AllUpstreams},
		{[]string{"--sandbox=portainer,npm"}, []string{Portainer, NPM}},
		{[]string{"--sandbox=all"}, AllUpstreams},
	}
	for _, tt := range tests {
		c, err := Parse(tt.args, env(real), io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if !slices.Equal(c.Sandbox, tt.want) {
			t.Errorf("%v: Sandbox = %v, want %v", tt.args, c.Sandbox, tt.want)
		}
	}
	if _, err := Parse([]string{"--sandbox=docker"}, env(nil), io.Discard); err == nil {
		t.Fatal("unknown upstream accepted")
	}
}

func TestPartialConfigNamesWhatIsMissing(t *testing.T) {
	_, err := Parse([]string{"--sandbox=portainer,npm"}, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--gitea-url") {
		t.Fatalf("err = %v, want it to name --gitea-url", err)
	}
}

func TestFlagsOverrideEnvAndSecretFiles(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]string{"--listen", "127.0.0.1:9999"}, env(map[string]string{
		"APPMANAGE_LISTEN":             "127.0.0.1:1111",
		"APPMANAGE_DATA_DIR":           dir,
		"APPMANAGE_ADMIN_API_KEY_FILE": keyFile,
		"APPMANAGE_WORKERS":            "7",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9999" || c.DataDir != dir || c.AdminAPIKey != "s3cret" || c.Workers != 7 {
		t.Fatalf("got %+v", c)
	}
}

func TestInvalid(t *testing.T) {
	for _, args := range [][]string{
		{"--listen", "nope"},
		{"--log-format", "xml"},
		{"--log-level", "loud"},
		{"--workers", "0"},
		{"--sandbox=portainer,npm", "--gitea-url", "ftp://x", "--gitea-token", "t", "--gitea-owner", "o"},
		{"--sandbox=portainer,npm", "--gitea-url", "http://u:p@x", "--gitea-token", "t", "--gitea-owner", "o"},
		{"extra"},
	} {
		if _, err := Parse(args, env(nil), io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// A URL flag with a password in it is refused without repeating the
// password, whatever else is wrong with it: the error goes to the log.
func TestURLErrorsDoNotEchoCredentials(t *testing.T) {
	for _, u := range []string{"http://u:hunter2@x", "ftp://u:hunter2@x", "http://u:hunter2@x:bad", "http://u:hunter2%zz@x"} {
		_, err := Parse([]string{"--sandbox=portainer,npm", "--gitea-url", u, "--gitea-token", "t", "--gitea-owner", "o"}, env(nil), io.Discard)
		if err == nil {
			t.Errorf("%s accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error for %s repeats the password: %v", u, err)
		}
	}
}

func TestHelpDocumentsEveryFlagAndEnv(t *testing.T) {
	var sb strings.Builder
	_, err := Parse([]string{"--help"}, env(nil), &sb)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	help := sb.String()
	for _, want := range []string{"--listen", "APPMANAGE_LISTEN", "--data-dir", "--sandbox", "APPMANAGE_SANDBOX", "--library-dir",
		"APPMANAGE_LIBRARY_DIR", "--catalog-file", "APPMANAGE_CATALOG_FILE", "--library-max-app-size", "APPMANAGE_LIBRARY_MAX_APP_SIZE", "--gitea-clone-url", "APPMANAGE_PORTAINER_API_KEY", "APPMANAGE_NPM_PASSWORD", "APPMANAGE_ADMIN_API_KEY"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %s", want)
		}
	}
}

func TestLibraryOptions(t *testing.T) {
	c, err := Parse(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.LibraryMaxAppSize != 64<<20 || c.CatalogFile != "" {
		t.Fatalf("defaults: max %d catalog %q", c.LibraryMaxAppSize, c.CatalogFile)
	}
	tests := []struct {
		args []string
		env  map[string]string
		max  int64
	}{
		{[]string{"--library-max-app-size", "200MiB"}, nil, 200 << 20},
		{[]string{"--library-max-app-size=1g"}, nil, 1 << 30},
		{nil, map[string]string{"APPMANAGE_LIBRARY_MAX_APP_SIZE": "32MB"}, 32 << 20},
		{[]string{"--library-max-app-size", "100MiB"}, map[string]string{"APPMANAGE_LIBRARY_MAX_APP_SIZE": "32MB"}, 100 << 20},
	}
	for _, tc := range tests {
		c, err := Parse(tc.args, env(tc.env), io.Discard)
		if err != nil {
			t.Fatalf("%v %v: %v", tc.args, tc.env, err)
		}
		if c.LibraryMaxAppSize != tc.max {
			t.Errorf("%v %v: max = %d, want %d", tc.args, tc.env, c.LibraryMaxAppSize, tc.max)
		}
	}
	for _, bad := range []string{"huge", "0", "-5MiB", ""} {
		if _, err := Parse([]string{"--library-max-app-size", bad}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "--library-max-app-size") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
	c, err = Parse(nil, env(map[string]string{"APPMANAGE_CATALOG_FILE": "/lib/dist/product_en.json"}), io.Discard)
	if err != nil || c.CatalogFile != "/lib/dist/product_en.json" {
		t.Fatalf("catalog file from env: %v %q", err, c.CatalogFile)
	}
}

func TestMaxBody(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want int64
	}{
		{nil, nil, 1 << 20},
		{[]string{"--max-body", "4MiB"}, nil, 4 << 20},
		{[]string{"--max-body=65536"}, nil, 65536},
		{nil, map[string]string{"APPMANAGE_MAX_BODY": "512k"}, 512 << 10},
		{[]string{"--max-body", "2MiB"}, map[string]string{"APPMANAGE_MAX_BODY": "512k"}, 2 << 20},
	}
	for _, tt := range tests {
		c, err := Parse(tt.args, env(tt.env), io.Discard)
		if err != nil {
			t.Fatalf("%v %v: %v", tt.args, tt.env, err)
		}
		if c.MaxBody != tt.want {
			t.Errorf("%v %v: MaxBody = %d, want %d", tt.args, tt.env, c.MaxBody, tt.want)
		}
	}
	for _, bad := range []string{"lots", "-1", "12", "2GiB"} {
		if _, err := Parse([]string{"--max-body", bad}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "--max-body") {
			t.Errorf("--max-body %s: err = %v, want a --max-body error", bad, err)
		}
	}
}
