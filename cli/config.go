package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/appmanage/appmanage/cli/gql"
)

// savedContext is one server the user logged in to.
type savedContext struct {
	Server string `json:"server"`
	APIKey string `json:"apiKey"`
}

// fileConfig is the CLI's config file: APPMANAGE_CONFIG, else
// <user config dir>/appmanage/config.json, mode 0600 (it holds API keys).
type fileConfig struct {
	Current  string                   `json:"current"`
	Contexts map[string]*savedContext `json:"contexts"`
}

func configPath(getenv func(string) string) (string, error) {
	if p := getenv("APPMANAGE_CONFIG"); p != "" {
		return p, nil
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		d, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("find the config folder: %w (set APPMANAGE_CONFIG)", err)
		}
		dir = d
	}
	return filepath.Join(dir, "appmanage", "config.json"), nil
}

func loadConfig(getenv func(string) string) (*fileConfig, string, error) {
	path, err := configPath(getenv)
	if err != nil {
		return nil, "", err
	}
	cfg := &fileConfig{Contexts: map[string]*savedContext{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, path, nil
	}
	if err != nil {
		return nil, path, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, cfg); err != nil {
		return nil, path, fmt.Errorf("read %s: %w", path, err)
	}
	if cfg.Contexts == nil {
		cfg.Contexts = map[string]*savedContext{}
	}
	return cfg, path, nil
}

// save writes the file atomically with mode 0600 in a 0700 folder.
func (c *fileConfig) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.json")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func loginCmd(e *env) *cobra.Command {
	var name string
	var keyStdin bool
	c := &cobra.Command{
		Use:   "login --server URL [--api-key KEY | --api-key-stdin] [--name NAME]",
		Short: "Check a server and API key, and save them as a context",
		Long: `login checks that the server answers and accepts the API key, then saves both as a named
context (default "default") in the CLI's config file (APPMANAGE_CONFIG, else
<user config dir>/appmanage/config.json, written with mode 0600) and makes it the current
one. Later commands use it when --server / --api-key and APPMANAGE_SERVER /
APPMANAGE_API_KEY are not given. Without --api-key the key is read from standard input
(without echo on a terminal), so it stays out of the shell history.`,
		Example: `  appmanage login --server http://127.0.0.1:8080 --api-key-stdin < data/admin.key
  appmanage login --server https://apps.example.com --name prod
  appmanage --context prod app list`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			server := e.server
			if server == "" {
				server = e.getenv("APPMANAGE_SERVER")
			}
			if server == "" {
				return usageErrorf("login needs --server URL")
			}
			key := e.apiKey
			if key == "" && !keyStdin {
				key = e.getenv("APPMANAGE_API_KEY")
			}
			if key == "" {
				var err error
				if key, err = e.readSecret("API key: "); err != nil {
					return err
				}
			}
			cn, err := newConn(server, key, e.timeout)
			if err != nil {
				return err
			}
			if _, err := gql.ServerInfo(c.Context(), cn.gql); err != nil {
				return classify(err, "login")
			}
			cfg, path, err := loadConfig(e.getenv)
			if err != nil {
				return failedf("%v", err)
			}
			cfg.Contexts[name] = &savedContext{Server: strings.TrimSuffix(cn.endpoint, "/graphql"), APIKey: key}
			cfg.Current = name
			if err := cfg.save(path); err != nil {
				return failedf("%v", err)
			}
			fmt.Fprintf(e.stdout, "logged in to %s as context %q (saved in %s)\n", cfg.Contexts[name].Server, name, path)
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "default", "name of the context to save")
	c.Flags().BoolVar(&keyStdin, "api-key-stdin", false, "read the API key from standard input")
	return c
}

// readSecret reads one line from stdin, without echo on a terminal.
func (e *env) readSecret(prompt string) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", failedf("read the API key: %v", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	s, err := readLine(e.stdin)
	if err != nil {
		return "", usageErrorf("no API key on standard input")
	}
	return strings.TrimSpace(s), nil
}

func logoutCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [NAME]",
		Short: "Forget a saved context (its server and API key)",
		Long: `logout removes a context saved by 'appmanage login' from the config file, the current one
when no name is given.`,
		Example: `  appmanage logout
  appmanage logout prod`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, path, err := loadConfig(e.getenv)
			if err != nil {
				return failedf("%v", err)
			}
			name := cfg.Current
			if len(args) == 1 {
				name = args[0]
			}
			if _, ok := cfg.Contexts[name]; !ok || name == "" {
				var names []string
				for n := range cfg.Contexts {
					names = append(names, n)
				}
				sort.Strings(names)
				return failedf("no saved context %q (saved: %s)", name, strings.Join(names, ", "))
			}
			delete(cfg.Contexts, name)
			if cfg.Current == name {
				cfg.Current = ""
			}
			if err := cfg.save(path); err != nil {
				return failedf("%v", err)
			}
			fmt.Fprintf(e.stdout, "forgot context %q\n", name)
			return nil
		},
	}
}
