package npmschema

import (
	"os"
	"path/filepath"
	"sync"
)

// DirEnv overrides where the NPM schema tree is looked for.
const DirEnv = "APPMANAGE_NPM_SCHEMA_DIR"

// Dir returns the schema tree's folder: $APPMANAGE_NPM_SCHEMA_DIR, else
// shared/specs/npm beside the module root (the nearest folder above the
// working directory holding go.mod). The tree is reference data that stays
// out of the source tree.
func Dir() string {
	if d := os.Getenv(DirEnv); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return filepath.Join("..", "shared", "specs", "npm")
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "..", "shared", "specs", "npm")
		}
		parent := filepath.Dir(d)
		if parent == d {
			return filepath.Join(wd, "..", "shared", "specs", "npm")
		}
		d = parent
	}
}

// TB is the part of testing.TB that ForTest needs.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

var (
	cacheOnce sync.Once
	cached    *Spec
	cacheErr  error
)

// ForTest returns the spec from Dir with fresh counters (the compiled tree is
// loaded once per process). When the tree is missing the test is skipped,
// unless CI is set, where it fails: the contract must be checked in CI.
func ForTest(t TB) *Spec {
	t.Helper()
	dir := Dir()
	if _, err := os.Stat(filepath.Join(dir, "swagger.json")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("NPM schema tree missing at %s (CI is set; set %s): %v", dir, DirEnv, err)
		}
		t.Skipf("NPM schema tree missing at %s (set %s): %v", dir, DirEnv, err)
	}
	cacheOnce.Do(func() { cached, cacheErr = Load(dir) })
	if cacheErr != nil {
		t.Fatalf("load NPM schema: %v", cacheErr)
	}
	return &Spec{routes: cached.routes, components: cached.components, errSchema: cached.errSchema,
		checked: map[string]int{}}
}
