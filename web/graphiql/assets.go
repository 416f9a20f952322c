package graphiql

import (
	"bufio"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
)

// vendorFS holds the npm files that fetch-assets.sh puts in assets/ (not in
// git). On a fresh clone it holds only README.md, so the package still builds.
//
//go:embed assets
var vendorFS embed.FS

// staticFS holds our own committed files: the boot script (kept out of the
// HTML so the CSP needs no inline script) and the page stylesheet.
//
//go:embed static
var staticFS embed.FS

// checksumsFile pins the SHA-256 of each vendor file. fetch-assets.sh checks
// downloads against the same file, so there is one source of truth.
//
//go:embed checksums.sha256
var checksumsFile string

// ErrAssetsMissing reports that the vendor files were not fetched before the
// build, or do not match their pinned checksums.
var ErrAssetsMissing = errors.New("graphiql: vendor assets missing or invalid; run `make web-assets` and rebuild")

// asset is one file served under {BasePath}/assets/.
type asset struct {
	name        string
	body        []byte
	contentType string
	sha256Hex   string
	sri         string // Subresource Integrity value for the page's tags
	vendor      bool   // fetched from npm, as opposed to our own static file
}

// version is a short content hash appended to asset URLs so they can be
// cached as immutable and still change when the content does.
func (a *asset) version() string { return a.sha256Hex[:16] }

func newAsset(name string, body []byte, vendor bool) *asset {
	sum := sha256.Sum256(body)
	ct := "application/octet-stream"
	switch path.Ext(name) {
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".css":
		ct = "text/css; charset=utf-8"
	}
	return &asset{
		name:        name,
		body:        body,
		contentType: ct,
		sha256Hex:   hex.EncodeToString(sum[:]),
		sri:         "sha256-" + base64.StdEncoding.EncodeToString(sum[:]),
		vendor:      vendor,
	}
}

// pinnedChecksums parses checksums.sha256 ("<hex>  <name>" per line) into
// name → lowercase hex.
func pinnedChecksums() (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(checksumsFile))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 || len(fields[0]) != sha256.Size*2 {
			return nil, fmt.Errorf("checksums.sha256 line %d: want \"<sha256>  <file>\"", n)
		}
		if _, err := hex.DecodeString(fields[0]); err != nil {
			return nil, fmt.Errorf("checksums.sha256 line %d: %w", n, err)
		}
		out[fields[1]] = strings.ToLower(fields[0])
	}
	if len(out) == 0 {
		return nil, errors.New("checksums.sha256 is empty")
	}
	return out, nil
}

// assetSet is the result of loading and verifying every file once.
type assetSet struct {
	byName map[string]*asset
	// err is non-nil (wrapping ErrAssetsMissing) when a vendor file is absent
	// or does not match its pin; the page then answers 503.
	err error
}

// loadAssets reads the vendor files from vendor (rooted at the assets
// folder) and our static files, and checks every vendor file against its pin.
func loadAssets(vendor fs.FS) assetSet {
	set := assetSet{byName: map[string]*asset{}}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // embedded at build time; cannot fail
	}
	entries, err := fs.ReadDir(static, ".")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		body, err := fs.ReadFile(static, e.Name())
		if err != nil {
			panic(err)
		}
		set.byName[e.Name()] = newAsset(e.Name(), body, false)
	}

	pins, err := pinnedChecksums()
	if err != nil {
		set.err = fmt.Errorf("%w: %w", ErrAssetsMissing, err)
		return set
	}
	var missing, mismatched []string
	for _, name := range slices.Sorted(maps.Keys(pins)) {
		body, err := fs.ReadFile(vendor, name)
		if err != nil {
			missing = append(missing, name)
			continue
		}
		a := newAsset(name, body, true)
		if a.sha256Hex != pins[name] {
			mismatched = append(mismatched, name)
			continue
		}
		set.byName[name] = a
	}
	switch {
	case len(missing) > 0:
		set.err = fmt.Errorf("%w (not embedded: %s)", ErrAssetsMissing, strings.Join(missing, ", "))
	case len(mismatched) > 0:
		set.err = fmt.Errorf("%w (SHA-256 differs from checksums.sha256: %s)", ErrAssetsMissing, strings.Join(mismatched, ", "))
	}
	return set
}

// embeddedVendor is the assets folder of the binary.
func embeddedVendor() fs.FS {
	sub, err := fs.Sub(vendorFS, "assets")
	if err != nil {
		panic(err)
	}
	return sub
}

// CheckAssets reports whether this binary embeds the GraphiQL vendor files
// with their pinned checksums. It returns an error wrapping ErrAssetsMissing
// otherwise; callers log it at start-up (the handler answers 503 meanwhile).
func CheckAssets() error {
	return loadAssets(embeddedVendor()).err
}
