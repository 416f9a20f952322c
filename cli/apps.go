package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/appmanage/appmanage/cli/gql"
)

func appCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "app",
		Short: "List, install and manage apps",
		Long: `app reads and changes the apps a server runs. Commands that change an app start an
operation on the server and follow it with a live progress bar (plain lines when stdout is
not a terminal) until it ends; --detach prints the operation id and returns at once.`,
		Example: `  appmanage app list
  appmanage app install wordpress --id blog --domain blog.example.com
  appmanage app stop blog`,
	}
	c.AddCommand(appListCmd(e), appGetCmd(e), appInstallCmd(e))
	c.AddCommand(simpleOps(e)...)
	c.AddCommand(appRedeployCmd(e), appUpgradeCmd(e), appHistoryCmd(e), appRollbackCmd(e), appEnvCmd(e), domainsCmd(e))
	return c
}

// completeAppIDs completes an app id argument from the server's apps.
func (e *env) completeAppIDs(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	cn, err := e.connect()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	first := 100
	resp, err := gql.ListApps(c.Context(), cn.gql, &first, nil, nil)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var ids []string
	for _, a := range resp.Apps.Nodes {
		ids = append(ids, a.Id)
	}
	return ids, cobra.ShellCompDirectiveNoFileComp
}

func appListCmd(e *env) *cobra.Command {
	var statuses []string
	var appName string
	var endpoint int
	c := &cobra.Command{
		Use:   "list",
		Short: "List the installed apps",
		Long: `list prints every app the server knows: Portainer stacks, installs in flight or failed, and
compose projects found without a stack (not official). --output json prints a JSON array of
the apps.`,
		Example: `  appmanage app list
  appmanage app list --status ACTIVE --status ERROR
  appmanage app list --output json | jq -r '.[].id'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := e.checkOutput(); err != nil {
				return err
			}
			var filter *gql.AppFilter
			if len(statuses) > 0 || appName != "" || c.Flags().Changed("endpoint") {
				filter = &gql.AppFilter{}
				for _, s := range statuses {
					filter.Status = append(filter.Status, gql.AppStatus(strings.ToUpper(s)))
				}
				if appName != "" {
					filter.AppName = &appName
				}
				if c.Flags().Changed("endpoint") {
					filter.EndpointId = &endpoint
				}
			}
			cn, err := e.connect()
			if err != nil {
				return err
			}
			var apps []gql.AppSummary
			first := 100
			var after *string
			for {
				resp, err := gql.ListApps(c.Context(), cn.gql, &first, after, filter)
				if err != nil {
					return classify(err, "apps")
				}
				for _, n := range resp.Apps.Nodes {
					apps = append(apps, n.AppSummary)
				}
				if !resp.Apps.PageInfo.HasNextPage || resp.Apps.PageInfo.EndCursor == nil {
					break
				}
				after = resp.Apps.PageInfo.EndCursor
			}
			if e.output == "json" {
				if apps == nil {
					apps = []gql.AppSummary{}
				}
				return printJSON(e.stdout, apps)
			}
			t := newTable(e.stdout, "ID", "APP", "VERSION", "STATUS", "DOMAINS", "ENDPOINT", "LAST OPERATION")
			for _, a := range apps {
				last := "-"
				if a.LastOperation != nil {
					last = a.LastOperation.Kind + " " + string(a.LastOperation.Status)
				}
				t.row(a.Id, a.AppName, a.Version, a.Status, a.Domains, a.EndpointId, last)
			}
			return t.flush()
		},
	}
	c.Flags().StringSliceVar(&statuses, "status", nil, "only apps in this status (ACTIVE, INACTIVE, ERROR, INSTALLING, UNINSTALLING, UNKNOWN); repeatable")
	c.Flags().StringVar(&appName, "app-name", "", "only instances of this library app, e.g. wordpress")
	c.Flags().IntVar(&endpoint, "endpoint", 0, "only apps on this Portainer endpoint")
	addOutput(c, e)
	return c
}

func appGetCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:               "get ID",
		Short:             "Show one app: status, domains, proxies, containers, ports, environment",
		Long:              "get prints one app with its proxies, containers, published ports and environment.",
		Example:           "  appmanage app get blog\n  appmanage app get blog --output json",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: e.completeAppIDs,
		RunE: func(c *cobra.Command, args []string) error {
			cn, err := e.readConn()
			if err != nil {
				return err
			}
			resp, err := gql.GetApp(c.Context(), cn.gql, args[0])
			if err != nil {
				return classify(err, "app")
			}
			a := resp.App
			if a == nil {
				return failedf("no app %s", args[0])
			}
			if e.output == "json" {
				return printJSON(e.stdout, a)
			}
			w := e.stdout
			fmt.Fprintf(w, "id:        %s\napp:       %s\nversion:   %s\nstatus:    %s\nendpoint:  %s\ndomains:   %s\ndefault:   %s\nofficial:  %v\ncreated:   %s\n",
				a.Id, cell(a.AppName), cell(a.Version), a.Status, cell(a.EndpointId), cell(a.Domains), cell(a.DefaultDomain), a.Official, cell(a.CreatedAt))
			if a.Repository != nil {
				fmt.Fprintf(w, "repository: %s\n", a.Repository.HtmlUrl)
			}
			if a.LastOperation != nil {
				fmt.Fprintf(w, "last operation: %s %s %s\n", a.LastOperation.Id, a.LastOperation.Kind, a.LastOperation.Status)
			}
			if len(a.Proxies) > 0 {
				fmt.Fprintln(w, "\nPROXIES")
				t := newTable(w, "ID", "DOMAINS", "FORWARD", "ENABLED", "ONLINE")
				for _, p := range a.Proxies {
					t.row(p.Id, p.Domains, fmt.Sprintf("%s:%d", p.ForwardHost, p.ForwardPort), p.Enabled, p.Online)
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			if len(a.Containers) > 0 {
				fmt.Fprintln(w, "\nCONTAINERS")
				t := newTable(w, "NAME", "IMAGE", "STATE", "STATUS", "MAIN")
				for _, ct := range a.Containers {
					t.row(ct.Name, ct.Image, ct.State, ct.Status, ct.Main)
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			if len(a.Ports) > 0 {
				fmt.Fprintln(w, "\nPORTS")
				t := newTable(w, "HOST", "CONTAINER", "PROTOCOL", "SERVICE", "SETTING", "SOURCE")
				for _, p := range a.Ports {
					t.row(p.HostPort, p.ContainerPort, p.Protocol, p.Service, p.Setting, p.Source)
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			if len(a.Env) > 0 {
				fmt.Fprintln(w, "\nENVIRONMENT")
				t := newTable(w, "NAME", "VALUE")
				for _, v := range a.Env {
					t.row(v.Name, v.Value)
				}
				return t.flush()
			}
			return nil
		},
	}
	addOutput(c, e)
	return c
}

// parseKV parses NAME=VALUE arguments.
func parseKV(args []string, what string) ([]gql.EnvVarInput, error) {
	out := make([]gql.EnvVarInput, 0, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, usageErrorf("%s %q: want NAME=VALUE", what, a)
		}
		out = append(out, gql.EnvVarInput{Name: k, Value: v})
	}
	return out, nil
}

func appInstallCmd(e *env) *cobra.Command {
	var in gql.InstallAppInput
	var domains, sets []string
	var defaultDomain, version, idem string
	var endpoint, webPort int
	c := &cobra.Command{
		Use:   "install APP --id ID [--domain DOMAIN]... [flags]",
		Short: "Install an app of the catalog",
		Long: `install installs a library app (see 'appmanage catalog') as an instance named --id: a Gitea
repository with its material, a Portainer stack, and an NPM proxy for its domains. The
server checks the input and the endpoint first (preflight: ports free, domains unused, the
version known); a refused install exits 1 with the reason and changes nothing. The install
then runs as an operation this command follows to its end; one that fails is rolled back.
--dry-run prints what the install would do (the installPlan query: host ports and how each
was chosen, settings, W9_URL, web port; --output json) and installs nothing.`,
		Example: `  appmanage app install wordpress --id blog --domain blog.example.com
  appmanage app install wordpress --id blog --dry-run
  appmanage app install nextcloud --id cloud --domain cloud.example.com --set W9_HTTP_PORT_SET=9080
  appmanage app install whoami --id probe --detach`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			cn, err := e.connect()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			resp, err := gql.Catalog(c.Context(), cn.gql, nil, nil)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			for _, a := range resp.Catalog {
				names = append(names, a.Name)
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
	}
	c.Flags().StringVar(&in.AppId, "id", "", "name of the instance: a lowercase letter, then 1 to 19 lowercase letters or digits (required)")
	c.Flags().StringArrayVar(&domains, "domain", nil, "a domain to publish the app on; repeatable")
	c.Flags().StringVar(&defaultDomain, "default-domain", "", "which of the domains is the default (the first one when omitted)")
	c.Flags().StringVar(&version, "version", "", "a version the catalog lists (the default version when omitted)")
	c.Flags().StringArrayVar(&sets, "set", nil, "a user setting NAME=VALUE (keys ending in _SET, e.g. W9_HTTP_PORT_SET=9080); repeatable")
	c.Flags().IntVar(&endpoint, "endpoint", 0, "Portainer endpoint (the server's default when omitted)")
	c.Flags().IntVar(&webPort, "web-port", 0, "container port the domains forward to, for an app that names none and offers several")
	c.Flags().StringVar(&idem, "idempotency-key", "", "the same key returns the same operation instead of starting a second one")
	var dryRun bool
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print what the install would do (host ports, settings, W9_URL, web port) without installing")
	addOutput(c, e)
	_ = c.MarkFlagRequired("id")
	return e.opCommand(c, "installApp", func(c *cobra.Command, args []string) opStarter {
		return func(ctx context.Context, cn *conn) (*gql.OperationFields, error) {
			input := in
			input.AppName = args[0]
			input.Domains = domains
			if defaultDomain != "" {
				input.DefaultDomain = &defaultDomain
			}
			if version != "" {
				input.Version = &version
			}
			if c.Flags().Changed("endpoint") {
				input.EndpointId = &endpoint
			}
			if c.Flags().Changed("web-port") {
				input.WebPort = &webPort
			}
			if idem != "" {
				input.IdempotencyKey = &idem
			}
			settings, err := parseKV(sets, "--set")
			if err != nil {
				return nil, err
			}
			input.Settings = settings
			if dryRun {
				if err := e.checkOutput(); err != nil {
					return nil, err
				}
				return nil, e.printPlan(ctx, cn, input)
			}
			r, err := gql.InstallApp(ctx, cn.gql, input)
			if err != nil {
				return nil, err
			}
			return &r.InstallApp.OperationFields, nil
		}
	})
}

// printPlan prints installPlan's answer: what the install would do.
func (e *env) printPlan(ctx context.Context, cn *conn, input gql.InstallAppInput) error {
	resp, err := gql.InstallPlan(ctx, cn.gql, input)
	if err != nil {
		return classify(err, "installPlan")
	}
	p := resp.InstallPlan
	if e.output == "json" {
		return printJSON(e.stdout, p)
	}
	w := e.stdout
	fmt.Fprintf(w, "would install %s %s as %s on endpoint %d\nurl:      %s\ndomains:  %s\nweb port: %s %s (%s)\n",
		p.AppName, p.Version, p.AppId, p.EndpointId, p.Url, cell(p.Domains), cell(p.WebPort), cell(p.WebScheme), cell(p.WebPortSource))
	if len(p.Ports) > 0 {
		fmt.Fprintln(w, "\nPORTS")
		t := newTable(w, "HOST", "CONTAINER", "PROTOCOL", "SERVICE", "SETTING", "SOURCE", "PASSED OVER")
		for _, pt := range p.Ports {
			over := "-"
			if pt.Default != nil {
				over = fmt.Sprintf("%d (%s)", *pt.Default, cell(pt.DefaultHolder))
			}
			t.row(pt.HostPort, pt.ContainerPort, pt.Protocol, pt.Service, pt.Setting, pt.Source, over)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if len(p.Settings) > 0 {
		fmt.Fprintln(w, "\nSETTINGS")
		t := newTable(w, "NAME", "VALUE")
		for _, s := range p.Settings {
			t.row(s.Name, s.Value)
		}
		return t.flush()
	}
	return nil
}

// simpleOps are the commands that take only an app id.
func simpleOps(e *env) []*cobra.Command {
	var purge bool
	uninstall := &cobra.Command{
		Use:   "uninstall ID [--purge-data]",
		Short: "Uninstall an app: its repository, proxies and stack",
		Long: `uninstall deletes the app's Gitea repository, then its NPM proxies, then its Portainer
stack. The app's volumes are kept unless --purge-data.`,
		Example: "  appmanage app uninstall blog\n  appmanage app uninstall blog --purge-data",
	}
	uninstall.Flags().BoolVar(&purge, "purge-data", false, "also remove the project's volumes (its data)")
	out := []*cobra.Command{e.opCommand(uninstall, "uninstallApp", func(c *cobra.Command, args []string) opStarter {
		return func(ctx context.Context, cn *conn) (*gql.OperationFields, error) {
			var p *bool
			if c.Flags().Changed("purge-data") {
				p = &purge
			}
			r, err := gql.UninstallApp(ctx, cn.gql, args[0], p)
			if err != nil {
				return nil, err
			}
			return &r.UninstallApp.OperationFields, nil
		}
	})}
	type simple struct {
		use, field, short, long string
		call                    func(ctx context.Context, cn *conn, id string) (*gql.OperationFields, error)
	}
	for _, s := range []simple{
		{"start", "startApp", "Start a stopped app", "start starts the app's Portainer stack.",
			func(ctx context.Context, cn *conn, id string) (*gql.OperationFields, error) {
				r, err := gql.StartApp(ctx, cn.gql, id)
				if err != nil {
					return nil, err
				}
				return &r.StartApp.OperationFields, nil
			}},
		{"stop", "stopApp", "Stop an app", "stop stops the app's Portainer stack; its data and proxies stay.",
			func(ctx context.Context, cn *conn, id string) (*gql.OperationFields, error) {
				r, err := gql.StopApp(ctx, cn.gql, id)
				if err != nil {
					return nil, err
				}
				return &r.StopApp.OperationFields, nil
			}},
		{"restart", "restartApp", "Restart an app (stop, then start)", "restart stops the app's stack, then starts it again.",
			func(ctx context.Context, cn *conn, id string) (*gql.OperationFields, error) {
				r, err := gql.RestartApp(ctx, cn.gql, id)
				if err != nil {
					return nil, err
				}
				return &r.RestartApp.OperationFields, nil
			}},
		{"repair", "repairApp", "Bring an app back to what its repository says",
			"repair compares the app's stack, containers and proxies with its repository and puts back what is missing or different.",
			func(ctx context.Context, cn *conn, id string) (*gql.OperationFields, error) {
				r, err := gql.RepairApp(ctx, cn.gql, id)
				if err != nil {
					return nil, err
				}
				return &r.RepairApp.OperationFields, nil
			}},
	} {
		cmd := &cobra.Command{
			Use:               s.use + " ID",
			Short:             s.short,
			Long:              s.long + " The change runs as an operation this command follows to its end (--detach: print its id and return).",
			Example:           fmt.Sprintf("  appmanage app %s blog\n  appmanage app %s blog --detach", s.use, s.use),
			Args:              cobra.ExactArgs(1),
			ValidArgsFunction: e.completeAppIDs,
		}
		call := s.call
		out = append(out, e.opCommand(cmd, s.field, func(_ *cobra.Command, args []string) opStarter {
			return func(ctx context.Context, cn *conn) (*gql.OperationFields, error) { return call(ctx, cn, args[0]) }
		}))
	}
	uninstall.Args = cobra.ExactArgs(1)
	uninstall.ValidArgsFunction = e.completeAppIDs
	return out
}

func appRedeployCmd(e *env) *cobra.Command {
	var pull bool
	c := &cobra.Command{
		Use:               "redeploy ID [--pull-images]",
		Short:             "Pull the app's repository again and recreate its containers",
		Long:              "redeploy has Portainer pull the app's repository again and recreate its containers; --pull-images also pulls the images anew.",
		Example:           "  appmanage app redeploy blog\n  appmanage app redeploy blog --pull-images",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: e.completeAppIDs,
	}
	c.Flags().BoolVar(&pull, "pull-images", false, "pull the images again")
	return e.opCommand(c, "redeployApp", func(c *cobra.Command, args []string) opStarter {
		return func(ctx context.Context, cn *conn) (*gql.OperationFields, error) {
			var p *bool
			if c.Flags().Changed("pull-images") {
				p = &pull
			}
			r, err := gql.RedeployApp(ctx, cn.gql, args[0], p)
			if err != nil {
				return nil, err
			}
			return &r.RedeployApp.OperationFields, nil
		}
	})
}

func appUpgradeCmd(e *env) *cobra.Command {
	var version string
	var healthTimeout time.Duration
	c := &cobra.Command{
		Use:   "upgrade ID --version VERSION [--health-timeout 2m]",
		Short: "Move an app to another version its catalog entry lists",
		Long: `upgrade moves the app to another version listed in its variables.json (see 'appmanage catalog APP'
for the versions, 'appmanage app get ID' for the newer ones) as an operation this command follows:
preflight (the new images present or pullable, host ports free), a pull of the new images while
the old version runs (its progress shown per layer), one commit of the .env, a redeploy and a
health gate. A failed gate reverts the commit and redeploys the old version: the operation ends
ROLLED_BACK with the reason (exit 1). --health-timeout bounds the gate (5s to 15m; the server's
default is 2m). The version may also be given as the second argument.`,
		Example:           "  appmanage app upgrade blog --version 6.5\n  appmanage app upgrade blog --version 6.5 --health-timeout 5m --detach",
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: e.completeAppIDs,
	}
	c.Flags().StringVar(&version, "version", "", "the version to move to (one the app's variables.json lists)")
	c.Flags().DurationVar(&healthTimeout, "health-timeout", 0, "how long the health gate waits for the new version (e.g. 90s, 5m; whole seconds)")
	return e.opCommand(c, "upgradeApp", func(c *cobra.Command, args []string) opStarter {
		return func(ctx context.Context, cn *conn) (*gql.OperationFields, error) {
			v := version
			if len(args) == 2 {
				if v != "" && v != args[1] {
					return nil, usageErrorf("two versions given: %q and --version %q", args[1], v)
				}
				v = args[1]
			}
			if v == "" {
				return nil, usageErrorf("give the version to upgrade to: --version VERSION")
			}
			var ht *int
			if c.Flags().Changed("health-timeout") {
				if healthTimeout <= 0 || healthTimeout%time.Second != 0 {
					return nil, usageErrorf("--health-timeout %s: want a positive whole number of seconds, e.g. 90s or 5m", healthTimeout)
				}
				ht = new(int(healthTimeout / time.Second))
			}
			r, err := gql.UpgradeApp(ctx, cn.gql, args[0], v, ht)
			if err != nil {
				return nil, err
			}
			return &r.UpgradeApp.OperationFields, nil
		}
	})
}

func appHistoryCmd(e *env) *cobra.Command {
	var first int
	var after string
	c := &cobra.Command{
		Use:   "history ID",
		Short: "List the commits of an app's repository, newest first",
		Long: `history lists the commits of the branch the app's stack deploys, newest first, marking the
one that runs. 'appmanage app rollback ID SHA' makes the material equal to one of them.`,
		Example:           "  appmanage app history blog\n  appmanage app history blog --first 50 --output json",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: e.completeAppIDs,
		RunE: func(c *cobra.Command, args []string) error {
			cn, err := e.readConn()
			if err != nil {
				return err
			}
			var a *string
			if after != "" {
				a = &after
			}
			resp, err := gql.AppHistory(c.Context(), cn.gql, args[0], &first, a)
			if err != nil {
				return classify(err, "history")
			}
			if resp.App == nil {
				return failedf("no app %s", args[0])
			}
			h := resp.App.History
			if h == nil {
				return failedf("app %s is not deployed from a repository of this server's Gitea: it has no history", args[0])
			}
			if e.output == "json" {
				return printJSON(e.stdout, h)
			}
			t := newTable(e.stdout, "SHA", "DEPLOYED", "COMMITTED", "AUTHOR", "MESSAGE")
			for _, n := range h.Nodes {
				dep := ""
				if n.Deployed {
					dep = "*"
				}
				t.row(n.Sha[:min(12, len(n.Sha))], dep, n.CommittedAt, n.Author, firstLine(n.Message))
			}
			if err := t.flush(); err != nil {
				return err
			}
			if h.PageInfo.HasNextPage && h.PageInfo.EndCursor != nil {
				fmt.Fprintf(e.stderr, "more: appmanage app history %s --after %s\n", args[0], *h.PageInfo.EndCursor)
			}
			return nil
		},
	}
	c.Flags().IntVar(&first, "first", 20, "how many commits (1..100)")
	c.Flags().StringVar(&after, "after", "", "start after this commit sha (the next page)")
	addOutput(c, e)
	return c
}

func appRollbackCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "rollback ID COMMIT",
		Short: "Make an app's material equal to an earlier commit, then redeploy",
		Long: `rollback writes one new commit that makes the app's material equal to an earlier commit of
its branch (history is never rewritten), then redeploys; if the redeploy fails the operation
undoes its commit and deploys what ran before (ROLLED_BACK, exit 1). 'appmanage app history'
lists the commits.`,
		Example:           "  appmanage app rollback blog 3f2a9c1d0b7e",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: e.completeAppIDs,
	}
	return e.opCommand(c, "rollbackApp", func(_ *cobra.Command, args []string) opStarter {
		return func(ctx context.Context, cn *conn) (*gql.OperationFields, error) {
			r, err := gql.RollbackApp(ctx, cn.gql, args[0], args[1])
			if err != nil {
				return nil, err
			}
			return &r.RollbackApp.OperationFields, nil
		}
	})
}

func appEnvCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:     "env",
		Short:   "Read and change an app's environment",
		Long:    "env lists an app's environment (its stack's Env merged with the main container's) and changes its .env.",
		Example: "  appmanage app env list blog\n  appmanage app env set blog WORDPRESS_DEBUG=1",
	}
	list := &cobra.Command{
		Use:               "list ID",
		Short:             "List an app's environment variables",
		Long:              "list prints the app's environment: its stack's Env merged with the main container's Config.Env.",
		Example:           "  appmanage app env list blog\n  appmanage app env list blog --output json",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: e.completeAppIDs,
		RunE: func(c *cobra.Command, args []string) error {
			cn, err := e.readConn()
			if err != nil {
				return err
			}
			resp, err := gql.GetApp(c.Context(), cn.gql, args[0])
			if err != nil {
				return classify(err, "app")
			}
			if resp.App == nil {
				return failedf("no app %s", args[0])
			}
			if e.output == "json" {
				return printJSON(e.stdout, resp.App.Env)
			}
			t := newTable(e.stdout, "NAME", "VALUE")
			for _, v := range resp.App.Env {
				t.row(v.Name, v.Value)
			}
			return t.flush()
		},
	}
	addOutput(list, e)
	set := &cobra.Command{
		Use:   "set ID NAME=VALUE...",
		Short: "Change variables of an app's .env, then redeploy",
		Long: `set commits the changed variables to the .env of the app's repository, then redeploys the
app, as an operation this command follows.`,
		Example:           "  appmanage app env set blog WORDPRESS_DEBUG=1 TZ=Europe/Berlin",
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: e.completeAppIDs,
	}
	e.opCommand(set, "updateAppEnv", func(_ *cobra.Command, args []string) opStarter {
		return func(ctx context.Context, cn *conn) (*gql.OperationFields, error) {
			changes, err := parseKV(args[1:], "variable")
			if err != nil {
				return nil, err
			}
			r, err := gql.UpdateAppEnv(ctx, cn.gql, args[0], changes)
			if err != nil {
				return nil, err
			}
			return &r.UpdateAppEnv.OperationFields, nil
		}
	})
	c.AddCommand(list, set)
	return c
}
