// Package cli is appmanage's command line: a client of a running server's
// GraphQL API (a typed client generated from the schema by genqlient, in
// package cli/gql) built with cobra. The server's own commands (serve,
// apikey) are handed in by package main and keep their flags.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Options wires the CLI to its process.
type Options struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Version        string
	// Serve and APIKey run the server-side commands with their own flag
	// parsing (package main); they return the exit status.
	Serve  func(ctx context.Context, args []string) int
	APIKey func(ctx context.Context, args []string) int
	// Interrupts, when set, replaces SIGINT as the Ctrl-C of a follow
	// (tests).
	Interrupts func(ctx context.Context) <-chan struct{}
	// IsTerminal, when set, decides whether w is a terminal (tests).
	IsTerminal func(w io.Writer) bool
}

// env is what every client command reads: the process, and the global
// flags.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	isTerminal     func(io.Writer) bool
	interrupts     func(context.Context) <-chan struct{}

	server, apiKey, context string
	output                  string
	timeout                 time.Duration
	debug                   bool
}

func (e *env) debugf(format string, a ...any) {
	if e.debug {
		fmt.Fprintf(e.stderr, "debug: "+format+"\n", a...)
	}
}

// connect resolves the server and key (flag, then environment, then the
// saved context) and builds a client.
func (e *env) connect() (*conn, error) {
	server, key := e.server, e.apiKey
	if server == "" {
		server = e.getenv("APPMANAGE_SERVER")
	}
	if key == "" {
		key = e.getenv("APPMANAGE_API_KEY")
	}
	if server == "" || key == "" {
		cfg, path, err := loadConfig(e.getenv)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		name := e.context
		if name == "" {
			name = e.getenv("APPMANAGE_CONTEXT")
		}
		if name == "" {
			name = cfg.Current
		}
		if ctx, ok := cfg.Contexts[name]; ok {
			if server == "" {
				server = ctx.Server
			}
			if key == "" {
				key = ctx.APIKey
			}
		} else if e.context != "" {
			return nil, usageErrorf("no saved context %q in %s", e.context, path)
		}
	}
	return newConn(server, key, e.timeout)
}

// Execute runs the command line and returns the exit status.
func Execute(ctx context.Context, args []string, opts Options) int {
	e := &env{stdin: opts.Stdin, stdout: opts.Stdout, stderr: opts.Stderr, getenv: opts.Getenv,
		isTerminal: opts.IsTerminal, interrupts: opts.Interrupts}
	if e.stdin == nil {
		e.stdin = os.Stdin
	}
	if e.getenv == nil {
		e.getenv = os.Getenv
	}
	if e.isTerminal == nil {
		e.isTerminal = isTerminal
	}
	if e.interrupts == nil {
		e.interrupts = osInterrupts
	}
	root := newRoot(e, opts)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var se *silentExit
	if errors.As(err, &se) {
		return se.code
	}
	var ee *exitError
	if errors.As(err, &ee) {
		fmt.Fprintf(e.stderr, "appmanage: %v\n", ee.err)
		return ee.code
	}
	// cobra's own errors: unknown command or flag, wrong arguments.
	fmt.Fprintf(e.stderr, "appmanage: %v\nRun '%s --help' for usage.\n", err, commandPath(root, args))
	return exitUsage
}

func commandPath(root *cobra.Command, args []string) string {
	c, _, err := root.Find(args)
	if err != nil || c == nil {
		return root.Name()
	}
	return c.CommandPath()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newRoot(e *env, opts Options) *cobra.Command {
	root := &cobra.Command{
		Use:   "appmanage",
		Short: "Install and run self-hosted apps through Gitea, Portainer and Nginx Proxy Manager",
		Long: `appmanage installs and runs self-hosted apps: it writes an app's compose material into a
Gitea repository, deploys it as a Portainer stack and publishes its domains through Nginx
Proxy Manager, behind a GraphQL API.

'appmanage serve' runs the server. Every other command except 'apikey' is a client of a
running server's GraphQL API: it finds the server and API key in --server / --api-key, then
APPMANAGE_SERVER / APPMANAGE_API_KEY, then the context saved by 'appmanage login'.

Commands that start an operation follow it and draw its progress until it ends (--detach
returns at once with the operation id; Ctrl-C asks whether to cancel it or detach).

Exit status: 0 success, 1 the operation failed or rolled back, or the server refused the
request (preflight, validation, conflict), 2 bad usage or a feature the server does not
offer, 3 the server could not be reached.`,
		Example: `  appmanage serve --sandbox
  appmanage login --server http://127.0.0.1:8080 --api-key "$(cat data/admin.key)"
  appmanage catalog wordpress
  appmanage app install wordpress --id blog --domain blog.example.com
  appmanage app list --output json`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       opts.Version,
		Args:          cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			c.SetOut(e.stderr)
			_ = c.Help()
			return &silentExit{code: exitUsage}
		},
	}
	root.SetVersionTemplate("appmanage {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&e.server, "server", "", "server URL, e.g. http://127.0.0.1:8080 ($APPMANAGE_SERVER)")
	pf.StringVar(&e.apiKey, "api-key", "", "API key ($APPMANAGE_API_KEY)")
	pf.StringVar(&e.context, "context", "", "saved login context to use ($APPMANAGE_CONTEXT; default: the current one)")
	pf.DurationVar(&e.timeout, "timeout", 30*time.Second, "timeout of each request to the server")
	pf.BoolVar(&e.debug, "debug", false, "print what the client does (never the API key)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v\nRun '%s --help' for usage.", err, c.CommandPath())
	})

	root.AddCommand(
		serverCommands(opts)...,
	)
	root.AddCommand(
		loginCmd(e), logoutCmd(e),
		appCmd(e), catalogCmd(e), opCmd(e), settingsCmd(e), auditCmd(e),
		versionCmd(opts),
	)
	// A group of commands run bare, or with a command it does not have,
	// is bad usage.
	var groups func(c *cobra.Command)
	groups = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.HasSubCommands() && sub.Run == nil && sub.RunE == nil {
				sub.Args = cobra.ArbitraryArgs
				sub.RunE = func(c *cobra.Command, args []string) error {
					if len(args) > 0 {
						return usageErrorf("unknown command %q for %q\nRun '%s --help' for usage.", args[0], c.CommandPath(), c.CommandPath())
					}
					c.SetOut(e.stderr)
					_ = c.Help()
					return &silentExit{code: exitUsage}
				}
			}
			groups(sub)
		}
	}
	groups(root)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	// cobra's own commands, made now so they can carry examples too (the
	// completion command keeps the writer it finds now).
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Long = "help prints the help of any command: what it does, its flags and examples."
			c.Example = "  appmanage help app install\n  appmanage app install --help"
		case "completion":
			c.Example = "  source <(appmanage completion bash)\n  appmanage completion zsh > \"${fpath[1]}/_appmanage\""
			for _, sh := range c.Commands() {
				sh.Example = completionExamples[sh.Name()]
			}
		}
	}
	return root
}

var completionExamples = map[string]string{
	"bash":       "  source <(appmanage completion bash)\n  appmanage completion bash > /etc/bash_completion.d/appmanage",
	"zsh":        "  appmanage completion zsh > \"${fpath[1]}/_appmanage\"",
	"fish":       "  appmanage completion fish > ~/.config/fish/completions/appmanage.fish",
	"powershell": "  appmanage completion powershell | Out-String | Invoke-Expression",
}

// addOutput adds --output table|json to a read command.
func addOutput(c *cobra.Command, e *env) {
	c.Flags().StringVarP(&e.output, "output", "o", "table", "output format: table or json")
	c.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) { //nolint:errcheck
		return []string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp
	})
}

// readConn is what a read command does first: check --output, then
// connect to the server.
func (e *env) readConn() (*conn, error) {
	if err := e.checkOutput(); err != nil {
		return nil, err
	}
	return e.connect()
}

func (e *env) checkOutput() error {
	switch e.output {
	case "table", "json", "":
		return nil
	}
	return usageErrorf("--output %q: want table or json", e.output)
}

// hasHelp reports whether args ask for help (commands that parse their own
// flags).
func hasHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "-h" || a == "--help" || a == "-help" {
			return true
		}
	}
	return false
}

func serverCommands(opts Options) []*cobra.Command {
	serve := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Start the API server",
		Long: `serve starts the GraphQL API server. Every flag has an APPMANAGE_* environment variable;
with no upstream configured it runs in sandbox mode, with in-process fakes of Gitea,
Portainer and Nginx Proxy Manager. 'appmanage serve -help' lists the flags.`,
		Example: `  appmanage serve --sandbox --listen 127.0.0.1:8080
  APPMANAGE_GITEA_URL=https://git.example.com APPMANAGE_GITEA_TOKEN=... appmanage serve`,
		DisableFlagParsing: true,
		RunE: func(c *cobra.Command, args []string) error {
			code := opts.Serve(c.Context(), args)
			if hasHelp(args) && code == 0 {
				fmt.Fprintf(c.OutOrStdout(), "\nExamples:\n%s\n", c.Example)
			}
			return exitCode(code)
		},
	}
	apikey := &cobra.Command{
		Use:   "apikey",
		Short: "Create, list and revoke API keys in the server's database (run on the server)",
		Long: `apikey manages API keys directly in the server's SQLite database (--data-dir, default
./data or $APPMANAGE_DATA_DIR), without a running server. A new key is printed once; only
its hash is stored.`,
		Example: `  appmanage apikey create --name console --scope write
  appmanage apikey list
  appmanage apikey revoke am_1a2b3c`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("apikey needs a command: create, list or revoke")
			}
			return usageErrorf("unknown apikey command %q: want create, list or revoke", args[0])
		},
	}
	for _, s := range []struct{ use, short, long, example string }{
		{"create --name NAME --scope read|write|admin [--data-dir DIR]", "Create an API key and print it once",
			"create makes a key with a name and a scope (read: queries and subscriptions; write: also mutations; admin: also keys and settings) and prints it once on stdout.",
			"  appmanage apikey create --name console --scope write"},
		{"list [--data-dir DIR]", "List the API keys", "list prints every key's id, name, prefix, scope and when it was created, last used and revoked.",
			"  appmanage apikey list --data-dir /var/lib/appmanage"},
		{"revoke [--data-dir DIR] ID|PREFIX", "Revoke an API key", "revoke makes a key unusable at once; it stays listed, with the time it was revoked.",
			"  appmanage apikey revoke am_1a2b3c"},
	} {
		name := strings.Fields(s.use)[0]
		apikey.AddCommand(&cobra.Command{
			Use: s.use, Short: s.short, Long: s.long, Example: s.example,
			DisableFlagParsing: true,
			RunE: func(c *cobra.Command, args []string) error {
				if hasHelp(args) {
					return c.Help()
				}
				return exitCode(opts.APIKey(c.Context(), append([]string{name}, args...)))
			},
		})
	}
	return []*cobra.Command{serve, apikey}
}

// exitCode passes a server command's status through Execute silently.
func exitCode(code int) error {
	if code == 0 {
		return nil
	}
	return &silentExit{code: code}
}

type silentExit struct{ code int }

func (s *silentExit) Error() string { return fmt.Sprintf("exit status %d", s.code) }

func versionCmd(opts Options) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of this binary",
		Long:    "version prints the version this binary was built as (set with -ldflags \"-X main.version=...\").",
		Example: "  appmanage version",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintln(c.OutOrStdout(), "appmanage", opts.Version)
			return nil
		},
	}
}
