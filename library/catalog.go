package library

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
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
