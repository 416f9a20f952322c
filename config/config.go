// Package config turns flags, with APPMANAGE_* environment fallbacks, into a
// validated Config that is passed down explicitly (no globals). Secrets may
// also come from APPMANAGE_*_FILE variables.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
)

// Upstream names used by --sandbox.
const (
	Gitea     = "gitea"
	Portainer = "portainer"
	NPM       = "npm"
)

// AllUpstreams lists the upstreams in install order.
var AllUpstreams = []string{Gitea, Portainer, NPM}

// Config is the server's start-up configuration.
type Config struct {
	Listen         string
	DataDir        string
	LogLevel       slog.Level
	LogFormat      string // text | json
	LibraryDir     string // "" = the embedded library
	Sandbox        []string
	SandboxLatency time.Duration // delays every call to a sandbox fake (--sandbox-latency)
	AllowedOrigins []string
	PublicHost     string // host used in W9_URL when an app has no domain
	WebhookURL     string // appmanage's /hooks/gitea as Gitea reaches it; "" = no push webhooks
	Workers        int
	AdminAPIKey    string
	ShutdownGrace  time.Duration
	// MaxBody caps a /graphql request body, GET query string and websocket
	// message, in bytes (--max-body).
	MaxBody int64

	// RegistryMirrors is "registry=mirror,..." for the image checks
	// (checked by apps.ParseMirrors at start-up); RegistryTimeout bounds
	// one registry answer.
	RegistryMirrors string
	RegistryTimeout time.Duration

	// Library loading, beside LibraryDir.
	CatalogFile       string // product_<locale>.json; "" = look under the library's dist/ folder
	LibraryMaxAppSize int64  // the bytes an app folder may commit

	Gitea     GiteaConfig
	Portainer PortainerConfig
	NPM       NPMConfig
}

// GiteaConfig locates and authenticates the Gitea server.
type GiteaConfig struct {
	URL      string
	CloneURL string // base URL as Portainer reaches Gitea; "" = URL
	Token    string
	User     string
	Password string
	Owner    string
}

// PortainerConfig locates and authenticates Portainer.
type PortainerConfig struct {
	URL             string
	APIKey          string
	User            string
	Password        string
	DefaultEndpoint int
}

// NPMConfig locates and authenticates Nginx Proxy Manager.
type NPMConfig struct {
	URL      string
	Email    string
	Password string
}

// Sandboxed reports whether upstream is faked in-process.
func (c *Config) Sandboxed(upstream string) bool { return slices.Contains(c.Sandbox, upstream) }

// DBPath is the SQLite file.
func (c *Config) DBPath() string { return filepath.Join(c.DataDir, "appmanage.db") }

// option is one flag with its environment variable and help text.
type option struct {
	name, env, usage string
	secret           bool
}

// sandboxValue lets --sandbox be given bare (all upstreams) or with a list.
type sandboxValue struct{ list *[]string }

func (s sandboxValue) String() string {
	if s.list == nil {
		return ""
	}
	return strings.Join(*s.list, ",")
}
func (s sandboxValue) IsBoolFlag() bool { return true }
func (s sandboxValue) Set(v string) error {
	l, err := parseSandbox(v)
	if err != nil {
		return err
	}
	*s.list = l
	return nil
}

func parseSandbox(v string) ([]string, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false", "0", "no", "off", "none":
		return nil, nil
	case "true", "1", "yes", "on", "all":
		return slices.Clone(AllUpstreams), nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		if !slices.Contains(AllUpstreams, p) {
			return nil, fmt.Errorf("unknown upstream %q (want gitea, portainer, npm)", p)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Parse reads args (without the program and subcommand names) and env.
// It returns flag.ErrHelp after printing help for -h/--help.
func Parse(args []string, getenv func(string) string, out io.Writer) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := &Config{}
	fs := flag.NewFlagSet("appmanage serve", flag.ContinueOnError)
	fs.SetOutput(out)
	var opts []option
	str := func(p *string, name, env, def, usage string, secret bool) {
		fs.StringVar(p, name, def, usage)
		opts = append(opts, option{name, env, usage, secret})
	}
	var logLevel, origins, maxAppSize, maxBody string
	var workers, endpoint int
	var grace time.Duration
	str(&c.Listen, "listen", "APPMANAGE_LISTEN", "127.0.0.1:8080", "address to serve HTTP on", false)
	str(&c.DataDir, "data-dir", "APPMANAGE_DATA_DIR", "./data", "folder for the SQLite database and admin.key", false)
	str(&logLevel, "log-level", "APPMANAGE_LOG_LEVEL", "info", "debug, info, warn or error", false)
	str(&c.LogFormat, "log-format", "APPMANAGE_LOG_FORMAT", "text", "text or json", false)
	str(&c.LibraryDir, "library-dir", "APPMANAGE_LIBRARY_DIR", "", "app library folder to use instead of the embedded one", false)
	str(&c.CatalogFile, "catalog-file", "APPMANAGE_CATALOG_FILE", "", "product catalog (product_<locale>.json) for categories and logos; default: the one under the library's dist/ folder", false)
	str(&maxAppSize, "library-max-app-size", "APPMANAGE_LIBRARY_MAX_APP_SIZE", "64MiB", "most an app folder of the library may commit (e.g. 64MiB, 200MB)", false)
	fs.Var(sandboxValue{&c.Sandbox}, "sandbox", "fake upstreams in-process: bare for all, or a list such as portainer,npm")
	opts = append(opts, option{"sandbox", "APPMANAGE_SANDBOX", "fake upstreams in-process: bare (or true) for all, or a list such as portainer,npm; the default when no upstream is configured", false})
	fs.DurationVar(&c.SandboxLatency, "sandbox-latency", 0, "delay every call to a sandbox fake by this much (e.g. 200ms), to watch progress; 0 = none")
	opts = append(opts, option{"sandbox-latency", "APPMANAGE_SANDBOX_LATENCY", "delay every call to a sandbox fake by this much (e.g. 200ms), to watch progress; 0 = none", false})
	str(&origins, "allowed-origins", "APPMANAGE_ALLOWED_ORIGINS", "", "extra websocket origins (comma-separated host patterns) besides the server's own", false)
	str(&c.PublicHost, "public-host", "APPMANAGE_PUBLIC_HOST", "", "host name or IP used in an app's W9_URL when it has no domain (host:port)", false)
	str(&c.WebhookURL, "webhook-url", "APPMANAGE_WEBHOOK_URL", "", "this server's /hooks/gitea as Gitea reaches it, e.g. http://appmanage:8080/hooks/gitea: installs create a push webhook there and a push redeploys the app", false)
	str(&maxBody, "max-body", "APPMANAGE_MAX_BODY", "1MiB", "largest /graphql request body, GET query string or websocket message (bytes, or e.g. 512KiB, 4MiB); larger ones get 413 REQUEST_TOO_LARGE", false)
	str(&c.RegistryMirrors, "registry-mirrors", "APPMANAGE_REGISTRY_MIRRORS", "", "registry mirrors image checks try before an image's own registry, e.g. docker.io=mirror.example:5000 (comma-separated; a mirror may have a /path prefix and http://); an image only a mirror has is committed under the mirror's reference", false)
	fs.DurationVar(&c.RegistryTimeout, "registry-timeout", 5*time.Second, "how long an image check waits for one registry's answer")
	opts = append(opts, option{"registry-timeout", "APPMANAGE_REGISTRY_TIMEOUT", "how long an image check waits for one registry's answer", false})
	fs.IntVar(&workers, "workers", 4, "operations run at the same time")
	opts = append(opts, option{"workers", "APPMANAGE_WORKERS", "operations run at the same time", false})
	fs.DurationVar(&grace, "shutdown-grace", 30*time.Second, "how long shutdown waits for requests and running steps")
	opts = append(opts, option{"shutdown-grace", "APPMANAGE_SHUTDOWN_GRACE", "how long shutdown waits for requests and running steps", false})

	str(&c.Gitea.URL, "gitea-url", "APPMANAGE_GITEA_URL", "", "Gitea root URL, e.g. http://gitea:3000", false)
	str(&c.Gitea.CloneURL, "gitea-clone-url", "APPMANAGE_GITEA_CLONE_URL", "", "Gitea root URL as Portainer reaches it (default: --gitea-url)", false)
	str(&c.Gitea.Token, "gitea-token", "APPMANAGE_GITEA_TOKEN", "", "Gitea access token (write:repository)", true)
	str(&c.Gitea.User, "gitea-user", "APPMANAGE_GITEA_USER", "", "Gitea user name (with --gitea-password, or as the clone user)", false)
	str(&c.Gitea.Password, "gitea-password", "APPMANAGE_GITEA_PASSWORD", "", "Gitea password", true)
	str(&c.Gitea.Owner, "gitea-owner", "APPMANAGE_GITEA_OWNER", "", "user or organisation owning app repositories (default: --gitea-user)", false)

	str(&c.Portainer.URL, "portainer-url", "APPMANAGE_PORTAINER_URL", "", "Portainer URL, e.g. http://portainer:9000", false)
	str(&c.Portainer.APIKey, "portainer-api-key", "APPMANAGE_PORTAINER_API_KEY", "", "Portainer API key (ptr_...)", true)
	str(&c.Portainer.User, "portainer-user", "APPMANAGE_PORTAINER_USER", "", "Portainer user name (when no API key)", false)
	str(&c.Portainer.Password, "portainer-password", "APPMANAGE_PORTAINER_PASSWORD", "", "Portainer password", true)
	fs.IntVar(&endpoint, "portainer-endpoint", 0, "default Portainer endpoint (environment) id; 0 = the first one that is up")
	opts = append(opts, option{"portainer-endpoint", "APPMANAGE_PORTAINER_ENDPOINT", "default Portainer endpoint (environment) id; 0 = the first one that is up", false})

	str(&c.NPM.URL, "npm-url", "APPMANAGE_NPM_URL", "", "Nginx Proxy Manager admin URL, e.g. http://npm:81", false)
	str(&c.NPM.Email, "npm-email", "APPMANAGE_NPM_EMAIL", "", "NPM user e-mail", false)
	str(&c.NPM.Password, "npm-password", "APPMANAGE_NPM_PASSWORD", "", "NPM password", true)
	opts = append(opts, option{"", "APPMANAGE_ADMIN_API_KEY", "an API key that is always accepted with the admin scope", true})

	fs.Usage = func() { usage(out, fs, opts) }

	// Environment first, flags override it.
	for _, o := range opts {
		if o.name == "" {
			continue
		}
		v, ok, err := lookupEnv(getenv, o.env, o.secret)
		if err != nil {
			return nil, err
		}
		if ok {
			if err := fs.Set(o.name, v); err != nil {
				return nil, fmt.Errorf("%s: %w", o.env, err)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	key, _, err := lookupEnv(getenv, "APPMANAGE_ADMIN_API_KEY", true)
	if err != nil {
		return nil, err
	}
	c.AdminAPIKey = key
	c.Workers = workers
	c.Portainer.DefaultEndpoint = endpoint
	c.ShutdownGrace = grace
	if c.MaxBody, err = parseSize(maxBody); err != nil {
		return nil, fmt.Errorf("--max-body: %w", err)
	}
	if err := c.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	n, err := units.RAMInBytes(strings.TrimSpace(maxAppSize))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("--library-max-app-size %q: want a size such as 64MiB", maxAppSize)
	}
	c.LibraryMaxAppSize = n
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.AllowedOrigins = append(c.AllowedOrigins, o)
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// lookupEnv reads NAME, or for secrets NAME_FILE (a file holding the value).
func lookupEnv(getenv func(string) string, name string, secret bool) (string, bool, error) {
	if v := getenv(name); v != "" {
		return v, true, nil
	}
	if !secret {
		return "", false, nil
	}
	path := getenv(name + "_FILE")
	if path == "" {
		return "", false, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false, fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimRight(string(b), "\r\n"), true, nil
}

func (c *Config) validate() error {
	var errs []error
	if c.WebhookURL != "" {
		if err := checkURL("--webhook-url", c.WebhookURL); err != nil {
			errs = append(errs, err)
		}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: %w", c.Listen, err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", c.LogFormat))
	}
	if c.Workers < 1 || c.Workers > 64 {
		errs = append(errs, fmt.Errorf("--workers %d: want 1..64", c.Workers))
	}
	// With no upstream configured at all and no explicit choice, run the
	// sandbox: that is what `make run` on a fresh machine does.
	if len(c.Sandbox) == 0 && c.Gitea.URL == "" && c.Portainer.URL == "" && c.NPM.URL == "" {
		c.Sandbox = slices.Clone(AllUpstreams)
	}
	if !c.Sandboxed(Gitea) {
		if err := checkURL("--gitea-url", c.Gitea.URL); err != nil {
			errs = append(errs, err)
		}
		if c.Gitea.CloneURL != "" {
			if err := checkURL("--gitea-clone-url", c.Gitea.CloneURL); err != nil {
				errs = append(errs, err)
			}
		}
		if c.Gitea.Token == "" && (c.Gitea.User == "" || c.Gitea.Password == "") {
			errs = append(errs, errors.New("gitea: give --gitea-token, or --gitea-user with --gitea-password"))
		}
		if c.Gitea.Owner == "" {
			c.Gitea.Owner = c.Gitea.User
		}
		if c.Gitea.Owner == "" {
			errs = append(errs, errors.New("gitea: give --gitea-owner (the user or organisation owning app repositories)"))
		}
	}
	if !c.Sandboxed(Portainer) {
		if err := checkURL("--portainer-url", c.Portainer.URL); err != nil {
			errs = append(errs, err)
		}
		if c.Portainer.APIKey == "" && (c.Portainer.User == "" || c.Portainer.Password == "") {
			errs = append(errs, errors.New("portainer: give --portainer-api-key, or --portainer-user with --portainer-password"))
		}
	}
	if c.Portainer.DefaultEndpoint < 0 {
		errs = append(errs, errors.New("--portainer-endpoint must be >= 0"))
	}
	if !c.Sandboxed(NPM) {
		if err := checkURL("--npm-url", c.NPM.URL); err != nil {
			errs = append(errs, err)
		}
		if c.NPM.Email == "" || c.NPM.Password == "" {
			errs = append(errs, errors.New("npm: give --npm-email and --npm-password"))
		}
	}
	return errors.Join(errs...)
}

// parseSize reads a byte count: a number with an optional binary unit
// (KiB, MiB, GiB; k, m, g alike), between 1 KiB and 1 GiB.
func parseSize(v string) (int64, error) {
	n, err := units.RAMInBytes(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%q: want a size such as 1048576, 512KiB or 4MiB", v)
	}
	if n < 1<<10 || n > 1<<30 {
		return 0, fmt.Errorf("%q: want 1KiB..1GiB", v)
	}
	return n, nil
}

func checkURL(flagName, v string) error {
	if v == "" {
		return fmt.Errorf("%s is required (or fake it with --sandbox)", flagName)
	}
	u, err := url.Parse(v)
	if err == nil && u.User != nil {
		return fmt.Errorf("%s: put credentials in their own flags, not in the URL", flagName)
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The value is echoed only when it cannot hold credentials: a URL
		// that does not parse may still carry "user:password@".
		if err != nil && strings.Contains(v, "@") {
			return fmt.Errorf("%s: want an http(s) URL without credentials", flagName)
		}
		return fmt.Errorf("%s %q: want an http(s) URL", flagName, v)
	}
	return nil
}

func usage(w io.Writer, fs *flag.FlagSet, opts []option) {
	fmt.Fprintf(w, "Usage: appmanage serve [flags]\n\nStarts the GraphQL API server. Every flag has an environment variable;\na flag given on the command line wins. Secrets (marked *) may also come from\nNAME_FILE, a file holding the value.\n\n")
	for _, o := range opts {
		mark := ""
		if o.secret {
			mark = " *"
		}
		if o.name == "" {
			fmt.Fprintf(w, "  (env only) %s%s\n      %s\n", o.env, mark, o.usage)
			continue
		}
		f := fs.Lookup(o.name)
		def := ""
		if f != nil && f.DefValue != "" && f.DefValue != "0" {
			def = " (default " + strconv.Quote(f.DefValue) + ")"
		}
		fmt.Fprintf(w, "  --%s  $%s%s\n      %s%s\n", o.name, o.env, mark, o.usage, def)
	}
}
