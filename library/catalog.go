package library

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// product is one entry of Websoft9's product catalog (product_<locale>.json),
// reduced to the fields we show. The catalog is generated from a CMS; fields
// may be missing or null.
type product struct {
	Key               string          `json:"key"`
	Trademark         string          `json:"trademark"`
	Summary           string          `json:"summary"`
	Overview          string          `json:"overview"`
	Description       string          `json:"description"`
	WebsiteURL        string          `json:"websiteurl"`
	Logo              json.RawMessage `json:"logo"` // {"imageurl": "..."} upstream; a plain string is accepted too
	CatalogCollection *catalogItems   `json:"catalogCollection"`
}

type catalogItems struct {
	Items []catalogItem `json:"items"`
}

// catalogItem is a category. In a product, the items are the product's
// sub-categories and each item's own catalogCollection names its parents.
type catalogItem struct {
	Key               string        `json:"key"`
	Title             string        `json:"title"`
	CatalogCollection *catalogItems `json:"catalogCollection"`
}

func (p *product) logoURL() string {
	if len(p.Logo) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(p.Logo, &s) == nil {
		return s
	}
	var o struct {
		ImageURL string `json:"imageurl"`
	}
	if json.Unmarshal(p.Logo, &o) == nil {
		return o.ImageURL
	}
	return ""
}

// categories returns the product's category keys (each sub-category, then
// its parents, without repeats) and their titles.
func (p *product) categories() ([]string, map[string]string) {
	var keys []string
	titles := map[string]string{}
	var walk func(items *catalogItems)
	walk = func(items *catalogItems) {
		if items == nil {
			return
		}
		for _, it := range items.Items {
			if it.Key != "" {
				if _, seen := titles[it.Key]; !seen {
					keys = append(keys, it.Key)
					titles[it.Key] = it.Title
				}
			}
		}
		for _, it := range items.Items {
			walk(it.CatalogCollection)
		}
	}
	walk(p.CatalogCollection)
	return keys, titles
}

// parseProducts reads a product list (a JSON array of products).
func parseProducts(data []byte) ([]product, error) {
	var ps []product
	if err := json.Unmarshal(data, &ps); err != nil {
		return nil, fmt.Errorf("product catalog: %w", err)
	}
	return ps, nil
}

// parseAppCatalog reads an app folder's catalog.json: one product object, or
// a product list holding the app's entry.
func parseAppCatalog(name string, data []byte) (*product, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		ps, err := parseProducts(trimmed)
		if err != nil {
			return nil, fmt.Errorf("catalog.json: %w", err)
		}
		for i := range ps {
			if ps[i].Key == name {
				return &ps[i], nil
			}
		}
		return nil, fmt.Errorf("catalog.json has no entry with key %q", name)
	}
	var p product
	if err := json.Unmarshal(trimmed, &p); err != nil {
		return nil, fmt.Errorf("catalog.json: %w", err)
	}
	if p.Key != "" && p.Key != name {
		return nil, fmt.Errorf("catalog.json key %q does not match folder %q", p.Key, name)
	}
	return &p, nil
}

var (
	mdLinkRe   = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	mdStrongRe = regexp.MustCompile(`(\*\*|__|\*|` + "`" + `)`)
)

// readmeSummary returns the README's first paragraph of prose as plain text.
func readmeSummary(readme []byte) string {
	for para := range strings.SplitSeq(strings.ReplaceAll(string(readme), "\r\n", "\n"), "\n\n") {
		para = strings.TrimSpace(para)
		if para == "" || strings.HasPrefix(para, "#") || strings.HasPrefix(para, "-") ||
			strings.HasPrefix(para, "*") && !strings.HasPrefix(para, "**") || strings.HasPrefix(para, "<") ||
			strings.HasPrefix(para, "```") || strings.HasPrefix(para, "|") || strings.HasPrefix(para, "!") {
			continue
		}
		s := mdLinkRe.ReplaceAllString(para, "$1")
		s = mdStrongRe.ReplaceAllString(s, "")
		return strings.Join(strings.Fields(s), " ")
	}
	return ""
}

// catalogSource is a product catalog found outside the app folders: a
// product_<locale>.json and, when it exists beside it, the category tree
// catalog_<locale>.json of the same locale.
type catalogSource struct {
	file, treeFile string
	explicit       bool // given by WithCatalogFile
	products       map[string]*product
	titles         map[string]string // category key -> title, from the tree
	problems       []Problem
}

// treeNode is one entry of catalog_<locale>.json: a top-level category and,
// under linkedFrom, its sub-categories.
type treeNode struct {
	Key        string `json:"key"`
	Title      string `json:"title"`
	LinkedFrom *struct {
		CatalogCollection *struct {
			Items []treeNode `json:"items"`
		} `json:"catalogCollection"`
	} `json:"linkedFrom"`
}

// parseTree returns category key -> title from a catalog_<locale>.json.
func parseTree(data []byte) (map[string]string, error) {
	var nodes []treeNode
	if err := json.Unmarshal(data, &nodes); err != nil {
		return nil, fmt.Errorf("category tree: %w", err)
	}
	titles := map[string]string{}
	var walk func([]treeNode)
	walk = func(ns []treeNode) {
		for _, n := range ns {
			if n.Key != "" && n.Title != "" {
				if _, seen := titles[n.Key]; !seen {
					titles[n.Key] = n.Title
				}
			}
			if n.LinkedFrom != nil && n.LinkedFrom.CatalogCollection != nil {
				walk(n.LinkedFrom.CatalogCollection.Items)
			}
		}
	}
	walk(nodes)
	return titles, nil
}

// productLocale returns the locale of a product_<locale>.json name, or ""
// when name is not one.
func productLocale(name string) string {
	if !strings.HasPrefix(name, "product_") || !strings.HasSuffix(name, ".json") {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(name, "product_"), ".json")
}

// readCatalog reads the product list at file in fsys and the category tree
// beside it. A missing tree is not a problem; a bad one is.
func readCatalog(fsys fs.FS, file, shown string) (*catalogSource, error) {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("catalog file: %w", err)
	}
	ps, err := parseProducts(data)
	if err != nil {
		return nil, fmt.Errorf("catalog file %s: %w", shown, err)
	}
	c := &catalogSource{file: shown, products: map[string]*product{}, titles: map[string]string{}}
	for i := range ps {
		if k := strings.TrimSpace(ps[i].Key); k != "" && c.products[k] == nil {
			c.products[k] = &ps[i]
		}
	}
	base := path.Base(file)
	tree := "catalog.json"
	if loc := productLocale(base); loc != "" {
		tree = "catalog_" + loc + ".json"
	}
	treePath := path.Join(path.Dir(file), tree)
	if b, err := fs.ReadFile(fsys, treePath); err == nil {
		c.treeFile = path.Join(path.Dir(shown), tree)
		if c.titles, err = parseTree(b); err != nil {
			c.titles = map[string]string{}
			c.problems = append(c.problems, Problem{Dir: c.treeFile, Reason: err.Error()})
		}
	}
	return c, nil
}

// fileCatalog reads an explicit catalog file (WithCatalogFile).
func fileCatalog(file string) (*catalogSource, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("catalog file: %w", err)
	}
	c, err := readCatalog(os.DirFS(filepath.Dir(abs)), filepath.Base(abs), file)
	if err != nil {
		return nil, err
	}
	c.explicit = true
	return c, nil
}

// maxDistDepth bounds the search under dist/: Websoft9 writes its catalog
// a few folders down (dist/catalog-fixture/, dist/<run>/appstore/<channel>/catalog/).
const maxDistDepth = 5

// findDistCatalog looks under a dist folder (shown is its name for
// messages) for the product catalogs Websoft9 publishes there and returns
// the best one: product_en.json before other locales, then the one nearest
// the top, then by path. nil when there is none (or no dist folder).
func findDistCatalog(dist fs.FS, shown string) *catalogSource {
	var found []string
	_ = fs.WalkDir(dist, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err // no dist folder
			}
			return nil
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || strings.Count(p, "/")+1 > maxDistDepth) {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && productLocale(d.Name()) != "" {
			found = append(found, p)
		}
		return nil
	})
	if len(found) == 0 {
		return nil
	}
	rank := func(p string) int {
		if path.Base(p) == "product_en.json" {
			return 0
		}
		return 1
	}
	slices.SortFunc(found, func(a, b string) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(strings.Count(a, "/"), strings.Count(b, "/")), cmp.Compare(a, b))
	})
	for _, f := range found {
		c, err := readCatalog(dist, f, path.Join(shown, f))
		if err != nil {
			continue
		}
		return c
	}
	return nil
}
