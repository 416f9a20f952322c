package apps

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/library/dotenv"
)

// InstallInput is the validated, normalised install request, as journalled
// with the operation. It holds no secret: passwords are generated when the
// material is written.
type InstallInput struct {
	AppName       string       `json:"appName"`
	AppID         string       `json:"appId"`
	Domains       []string     `json:"domains,omitempty"`
	DefaultDomain string       `json:"defaultDomain,omitempty"`
	Version       string       `json:"version"`
	Dist          string       `json:"dist,omitempty"`
	Settings      []EnvSetting `json:"settings,omitempty"`
	EndpointID    int          `json:"endpointId"`
	// URL is W9_URL: the default domain, or host:port without one.
	URL string `json:"url"`
	// HostPorts are the values of the app's port settings (…_SET): the
	// user's, or those preflight chose for the settings not given.
	HostPorts []int `json:"hostPorts,omitempty"`
	// Ports are every host port the compose file publishes with the
	// install's .env applied, and how each was chosen.
	Ports []PlannedPort `json:"ports,omitempty"`
	// WebPort is the container port NPM forwards the domains to, written to
	// the .env as W9_HTTP_PORT, for a web app whose material names none
	// (chosen by the user, or the only TCP port its main service offers).
	WebPort int `json:"webPort,omitempty"`
	// Actor is the API key's name, named in the install's commit.
	Actor string `json:"actor,omitempty"`
	// Images are the image references preflight rewrote, by service: a
	// registry mirror has the image, so the committed compose file names
	// the mirror's reference.
	Images map[string]string `json:"images,omitempty"`
	// Material is what a Kubernetes endpoint deploys: MaterialKubernetes
	// or MaterialHelm ("" = compose; kubernetes.go).
	Material string `json:"material,omitempty"`
}

// EnvSetting is one .env key and value.
type EnvSetting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// render copies the library folder and edits its .env for this instance:
// a line-preserving round trip that keeps comments and order.
func render(app *library.App, in InstallInput) (map[string][]byte, error) {
	files := app.Files()
	out := make(map[string][]byte, len(files))
	for p, b := range files {
		out[p] = b
	}
	raw, ok := out[".env"]
	if !ok {
		return nil, apperr.New(apperr.Internal, "library app %s has no .env", app.Name)
	}
	env, err := dotenv.Parse(raw)
	if err != nil {
		return nil, apperr.Wrap(apperr.Internal, err, "library app %s: parse .env", app.Name)
	}
	set := func(k, v string) error {
		if err := env.Set(k, v); err != nil {
			return apperr.Invalid("settings", "%s: %v", k, err)
		}
		return nil
	}
	edits := []EnvSetting{{"W9_ID", in.AppID}, {"W9_APP_NAME", in.AppName}, {"W9_VERSION", in.Version}}
	if in.Dist != "" {
		edits = append(edits, EnvSetting{"W9_DIST", in.Dist})
	}
	for _, k := range []string{"W9_POWER_PASSWORD", "W9_RCODE"} {
		if _, ok := env.Get(k); ok {
			pw, err := GeneratePassword(20)
			if err != nil {
				return nil, err
			}
			edits = append(edits, EnvSetting{k, pw})
		}
	}
	edits = append(edits, in.Settings...)
	if in.WebPort != 0 {
		edits = append(edits, EnvSetting{"W9_HTTP_PORT", strconv.Itoa(in.WebPort)})
	}
	if _, ok := env.Get("W9_URL"); ok {
		edits = append(edits, EnvSetting{"W9_URL", in.URL})
	}
	for _, e := range edits {
		if err := set(e.Name, e.Value); err != nil {
			return nil, err
		}
	}
	out[".env"] = env.Bytes()
	if len(in.Images) > 0 {
		compose, err := rewriteImages(out["docker-compose.yml"], in.Images)
		if err != nil {
			return nil, apperr.Wrap(apperr.Internal, err, "library app %s: point docker-compose.yml at the registry mirror", app.Name)
		}
		out["docker-compose.yml"] = compose
	}
	if len(in.Domains) > 0 {
		out[desiredFile] = encodeDesired(in.Domains) // see desired.go
	}
	return out, nil
}

// hostPorts returns the host ports an app will publish: the values of its
// port settings (keys ending in _SET with PORT in their name) after the
// user's settings are applied.
func hostPorts(app *library.App, settings []EnvSetting) ([]int, error) {
	given := map[string]string{}
	for _, s := range settings {
		given[s.Name] = s.Value
	}
	var ports []int
	for _, st := range app.Settings {
		if !st.Port {
			continue
		}
		v := st.Default
		if g, ok := given[st.Key]; ok {
			v = g
		}
		v = strings.Trim(v, `'" `)
		if v == "" {
			continue
		}
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return nil, apperr.Invalid("settings", "%s: %q is not a port number (1-65535)", st.Key, clip(v))
		}
		ports = append(ports, p)
	}
	return ports, nil
}

const (
	pwLower   = "abcdefghijkmnopqrstuvwxyz"
	pwUpper   = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	pwDigits  = "23456789"
	pwSymbols = "!-_."
)

// GeneratePassword returns a random password of n characters with at least
// one lower-case letter, upper-case letter, digit and symbol. The symbols
// are safe in .env files, compose interpolation, shells and URLs ($, quotes,
// # and backslashes never appear).
func GeneratePassword(n int) (string, error) {
	if n < 12 {
		n = 12
	}
	classes := []string{pwLower, pwUpper, pwDigits, pwSymbols}
	all := strings.Join(classes, "")
	pick := func(set string) (byte, error) {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return 0, fmt.Errorf("generate password: %w", err)
		}
		return set[i.Int64()], nil
	}
	b := make([]byte, n)
	for i := range b {
		set := all
		if i < len(classes) {
			set = classes[i]
		}
		c, err := pick(set)
		if err != nil {
			return "", err
		}
		b[i] = c
	}
	// Shuffle so the guaranteed classes are not always in front; the first
	// character stays a letter for tools that dislike a leading symbol.
	for i := len(b) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", fmt.Errorf("generate password: %w", err)
		}
		b[i], b[j.Int64()] = b[j.Int64()], b[i]
	}
	if !strings.ContainsRune(pwLower+pwUpper, rune(b[0])) {
		for i := 1; i < len(b); i++ {
			if strings.ContainsRune(pwLower+pwUpper, rune(b[i])) {
				b[0], b[i] = b[i], b[0]
				break
			}
		}
	}
	return string(b), nil
}
