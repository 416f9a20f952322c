package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/appmanage/appmanage/cli/gql"
)

func domainsCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "domains",
		Short: "Publish an app on domains through Nginx Proxy Manager",
		Long: `domains reads and changes the NPM proxy hosts that publish an app. Each change runs as an
operation this command follows (--detach: print its id and return).`,
		Example: `  appmanage app domains list blog
  appmanage app domains add blog www.example.com
  appmanage app domains remove blog www.example.com
  appmanage app domains disable blog`,
	}
	list := &cobra.Command{
		Use:               "list ID",
		Short:             "List an app's proxy hosts and their domains",
		Long:              "list prints each NPM proxy host of the app: its id, domains, where it forwards to and whether it is enabled and online.",
		Example:           "  appmanage app domains list blog\n  appmanage app domains list blog --output json",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: e.completeAppIDs,
		RunE: func(c *cobra.Command, args []string) error {
			cn, err := e.readConn()
			if err != nil {
				return err
			}
			resp, err := gql.GetAppProxies(c.Context(), cn.gql, args[0])
			if err != nil {
				return classify(err, "app")
			}
			if resp.App == nil {
				return failedf("no app %s", args[0])
			}
			if e.output == "json" {
				return printJSON(e.stdout, resp.App.Proxies)
			}
			t := newTable(e.stdout, "PROXY", "DOMAINS", "FORWARD", "ENABLED", "ONLINE")
			for _, p := range resp.App.Proxies {
				t.row(p.Id, p.Domains, fmt.Sprintf("%s://%s:%d", p.ForwardScheme, p.ForwardHost, p.ForwardPort), p.Enabled, p.Online)
			}
			return t.flush()
		},
	}
	addOutput(list, e)

	add := &cobra.Command{
		Use:               "add ID DOMAIN...",
		Short:             "Add domains to an app, creating its proxy host when it has none",
		Long:              "add adds the domains to the app's proxy host, creating one when the app has none. A domain another proxy uses is refused.",
		Example:           "  appmanage app domains add blog www.example.com blog.example.org",
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: e.completeAppIDs,
	}
	e.opCommand(add, "addAppDomains", func(_ *cobra.Command, args []string) opStarter {
		return func(ctx context.Context, cn *conn) (*gql.OperationFields, error) {
			r, err := gql.AddAppDomains(ctx, cn.gql, args[0], args[1:])
			if err != nil {
				return nil, err
			}
			return &r.AddAppDomains.OperationFields, nil
		}
	})

	var proxyID int
	update := &cobra.Command{
		Use:   "update ID [--proxy N] DOMAIN...",
		Short: "Replace the domains of one of an app's proxy hosts",
		Long: `update replaces the domains of one proxy host of the app with the given ones. --proxy names
the host ('appmanage app domains list' shows them); it may be left out when the app has one.`,
		Example:           "  appmanage app domains update blog blog.example.com www.example.com\n  appmanage app domains update blog --proxy 7 shop.example.com",
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: e.completeAppIDs,
	}
	update.Flags().IntVar(&proxyID, "proxy", 0, "id of the proxy host (needed when the app has several)")
	e.opCommand(update, "updateAppProxy", func(c *cobra.Command, args []string) opStarter {
		return func(ctx context.Context, cn *conn) (*gql.OperationFields, error) {
			id := proxyID
			if !c.Flags().Changed("proxy") {
				var err error
				if id, err = onlyProxy(ctx, cn, args[0]); err != nil {
					return nil, err
				}
			}
			r, err := gql.UpdateAppProxy(ctx, cn.gql, args[0], id, args[1:])
			if err != nil {
				return nil, err
			}
			return &r.UpdateAppProxy.OperationFields, nil
		}
	})

	var all bool
	remove := &cobra.Command{
		Use:   "remove ID (DOMAIN... | --proxy N | --all)",
		Short: "Remove domains, one proxy host or every proxy host of an app",
		Long: `remove takes domains off the app: the proxy host that holds them keeps its other domains,
and is deleted when none is left. --proxy N deletes one proxy host, --all every one.`,
		Example:           "  appmanage app domains remove blog www.example.com\n  appmanage app domains remove blog --all",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: e.completeAppIDs,
	}
	remove.Flags().IntVar(&proxyID, "proxy", 0, "delete this proxy host")
	remove.Flags().BoolVar(&all, "all", false, "delete every proxy host of the app")
	e.opCommand(remove, "deleteAppProxy", func(c *cobra.Command, args []string) opStarter {
		return func(ctx context.Context, cn *conn) (*gql.OperationFields, error) {
			app, domains := args[0], args[1:]
			byProxy := c.Flags().Changed("proxy")
			if n := btoi(all) + btoi(byProxy) + btoi(len(domains) > 0); n != 1 {
				return nil, usageErrorf("remove needs domains, --proxy N or --all (one of them)")
			}
			switch {
			case all:
				r, err := gql.DeleteAppProxies(ctx, cn.gql, app)
				if err != nil {
					return nil, err
				}
				return &r.DeleteAppProxies.OperationFields, nil
			case byProxy:
				r, err := gql.DeleteAppProxy(ctx, cn.gql, app, proxyID)
				if err != nil {
					return nil, err
				}
				return &r.DeleteAppProxy.OperationFields, nil
			}
			return removeDomains(ctx, cn, app, domains)
		}
	})

	toggles := []*cobra.Command{}
	for _, t := range []struct {
		use, field, short string
		call              func(ctx context.Context, cn *conn, id string) (*gql.OperationFields, error)
	}{
		{"enable", "enableAppProxies", "Enable every proxy host of an app", func(ctx context.Context, cn *conn, id string) (*gql.OperationFields, error) {
			r, err := gql.EnableAppProxies(ctx, cn.gql, id)
			if err != nil {
				return nil, err
			}
			return &r.EnableAppProxies.OperationFields, nil
		}},
		{"disable", "disableAppProxies", "Disable every proxy host of an app (its domains stop answering)", func(ctx context.Context, cn *conn, id string) (*gql.OperationFields, error) {
			r, err := gql.DisableAppProxies(ctx, cn.gql, id)
			if err != nil {
				return nil, err
			}
			return &r.DisableAppProxies.OperationFields, nil
		}},
	} {
		cmd := &cobra.Command{
			Use:               t.use + " ID",
			Short:             t.short,
			Long:              t.use + " switches every NPM proxy host of the app " + map[string]string{"enable": "on", "disable": "off"}[t.use] + "; the hosts and their domains are kept.",
			Example:           fmt.Sprintf("  appmanage app domains %s blog", t.use),
			Args:              cobra.ExactArgs(1),
			ValidArgsFunction: e.completeAppIDs,
		}
		call := t.call
		toggles = append(toggles, e.opCommand(cmd, t.field, func(_ *cobra.Command, args []string) opStarter {
			return func(ctx context.Context, cn *conn) (*gql.OperationFields, error) { return call(ctx, cn, args[0]) }
		}))
	}

	def := &cobra.Command{
		Use:               "default ID DOMAIN",
		Short:             "Make one of an app's domains its default",
		Long:              "default makes DOMAIN, one of the app's domains, its default domain (W9_URL).",
		Example:           "  appmanage app domains default blog www.example.com",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: e.completeAppIDs,
	}
	e.opCommand(def, "setDefaultDomain", func(_ *cobra.Command, args []string) opStarter {
		return func(ctx context.Context, cn *conn) (*gql.OperationFields, error) {
			r, err := gql.SetDefaultDomain(ctx, cn.gql, args[0], args[1])
			if err != nil {
				return nil, err
			}
			return &r.SetDefaultDomain.OperationFields, nil
		}
	})
	c.AddCommand(list, add, update, remove, def)
	c.AddCommand(toggles...)
	return c
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// onlyProxy is the id of the app's one proxy host.
func onlyProxy(ctx context.Context, cn *conn, app string) (int, error) {
	resp, err := gql.GetAppProxies(ctx, cn.gql, app)
	if err != nil {
		return 0, classify(err, "app")
	}
	if resp.App == nil {
		return 0, failedf("no app %s", app)
	}
	switch len(resp.App.Proxies) {
	case 0:
		return 0, failedf("app %s has no proxy host: add domains with 'appmanage app domains add'", app)
	case 1:
		return resp.App.Proxies[0].Id, nil
	}
	return 0, usageErrorf("app %s has %d proxy hosts: name one with --proxy ('appmanage app domains list %s')", app, len(resp.App.Proxies), app)
}

// removeDomains starts the one operation that takes the domains off the
// proxy host holding them all: an update with the rest, or a delete when
// none is left.
func removeDomains(ctx context.Context, cn *conn, app string, domains []string) (*gql.OperationFields, error) {
	resp, err := gql.GetAppProxies(ctx, cn.gql, app)
	if err != nil {
		return nil, classify(err, "app")
	}
	if resp.App == nil {
		return nil, failedf("no app %s", app)
	}
	for _, p := range resp.App.Proxies {
		if !slices.Contains(p.Domains, domains[0]) {
			continue
		}
		var keep []string
		for _, d := range p.Domains {
			if !slices.Contains(domains, d) {
				keep = append(keep, d)
			}
		}
		for _, d := range domains {
			if !slices.Contains(p.Domains, d) {
				return nil, usageErrorf("%s and %s are on different proxy hosts of %s: remove them one command each", domains[0], d, app)
			}
		}
		if len(keep) == 0 {
			r, err := gql.DeleteAppProxy(ctx, cn.gql, app, p.Id)
			if err != nil {
				return nil, err
			}
			return &r.DeleteAppProxy.OperationFields, nil
		}
		r, err := gql.UpdateAppProxy(ctx, cn.gql, app, p.Id, keep)
		if err != nil {
			return nil, err
		}
		return &r.UpdateAppProxy.OperationFields, nil
	}
	return nil, failedf("app %s has no domain %s", app, domains[0])
}
