package cli

import (
	"github.com/spf13/cobra"

	"github.com/appmanage/appmanage/cli/gql"
)

func catalogCmd(e *env) *cobra.Command {
	var category string
	c := &cobra.Command{
		Use:   "catalog [SEARCH]",
		Short: "List or search the apps the server can install",
		Long: `catalog lists the apps of the server's library, those whose name or description matches
SEARCH when given (and of one category with --category), with their versions: the names
'appmanage app install' takes.`,
		Example: `  appmanage catalog
  appmanage catalog wordpress
  appmanage catalog --category cms --output json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cn, err := e.readConn()
			if err != nil {
				return err
			}
			var search, cat *string
			if len(args) == 1 {
				search = &args[0]
			}
			if category != "" {
				cat = &category
			}
			resp, err := gql.Catalog(c.Context(), cn.gql, search, cat)
			if err != nil {
				return classify(err, "catalog")
			}
			if e.output == "json" {
				return printJSON(e.stdout, resp.Catalog)
			}
			t := newTable(e.stdout, "NAME", "TITLE", "DEFAULT", "VERSIONS", "WEB", "SUMMARY")
			for _, a := range resp.Catalog {
				summary := cell(a.Summary)
				if len(summary) > 60 {
					summary = summary[:57] + "..."
				}
				t.row(a.Name, a.Trademark, a.DefaultVersion, a.Versions, a.Web, summary)
			}
			return t.flush()
		},
	}
	c.Flags().StringVar(&category, "category", "", "only apps of this category")
	addOutput(c, e)
	return c
}
