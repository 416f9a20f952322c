package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/appmanage/appmanage/cli/gql"
)

func settingsCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "settings",
		Short: "Read and change the server's run-time settings (admin key)",
		Long: `settings reads and changes the server's run-time settings (upstream connections, public
host, ...), which override its flags. Secret values are write-only: they are listed as
"(secret)", never shown.`,
		Example: `  appmanage settings get
  appmanage settings set publicHost=apps.example.com
  appmanage settings set KEY=- < value.txt`,
	}
	get := &cobra.Command{
		Use:     "get [KEY...]",
		Short:   "List the settings, or the named ones",
		Long:    "get lists every run-time setting, or only the named keys, with its value (secret ones as \"(secret)\"), when it was changed and what it does.",
		Example: "  appmanage settings get\n  appmanage settings get publicHost --output json",
		RunE: func(c *cobra.Command, args []string) error {
			cn, err := e.readConn()
			if err != nil {
				return err
			}
			resp, err := gql.Settings(c.Context(), cn.gql)
			if err != nil {
				return classify(err, "settings")
			}
			var rows []gql.SettingsSettingsSetting
			for _, s := range resp.Settings {
				if len(args) == 0 || slices.Contains(args, s.Key) {
					rows = append(rows, s)
				}
			}
			for _, k := range args {
				if !slices.ContainsFunc(rows, func(s gql.SettingsSettingsSetting) bool { return s.Key == k }) {
					return failedf("the server has no setting %q", k)
				}
			}
			if e.output == "json" {
				if rows == nil {
					rows = []gql.SettingsSettingsSetting{}
				}
				return printJSON(e.stdout, rows)
			}
			t := newTable(e.stdout, "KEY", "VALUE", "UPDATED", "DESCRIPTION")
			for _, s := range rows {
				v := cell(s.Value)
				if s.Secret {
					v = "(secret)"
				}
				t.row(s.Key, v, s.UpdatedAt, s.Description)
			}
			return t.flush()
		},
	}
	addOutput(get, e)
	set := &cobra.Command{
		Use:   "set KEY=VALUE...",
		Short: "Change settings (a value of - is read from standard input)",
		Long: `set changes run-time settings in one request. The server tests a changed upstream connection
before it saves anything, and a refused change saves nothing. A value of "-" is read from
standard input (one line), so a secret stays out of the shell history.`,
		Example: "  appmanage settings set publicHost=apps.example.com\n  appmanage settings set KEY=- < value.txt",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			kvs, err := parseKV(args, "setting")
			if err != nil {
				return err
			}
			input := make([]gql.SettingInput, 0, len(kvs))
			stdinUsed := false
			for _, kv := range kvs {
				if kv.Value == "-" {
					if stdinUsed {
						return usageErrorf("only one setting can be read from standard input")
					}
					stdinUsed = true
					if kv.Value, err = readLine(e.stdin); err != nil {
						return err
					}
				}
				input = append(input, gql.SettingInput{Key: kv.Name, Value: kv.Value})
			}
			cn, err := e.connect()
			if err != nil {
				return err
			}
			resp, err := gql.UpdateSettings(c.Context(), cn.gql, input)
			if err != nil {
				return classify(err, "updateSettings")
			}
			for _, s := range resp.UpdateSettings {
				v := cell(s.Value)
				if s.Secret {
					v = "(secret)"
				}
				fmt.Fprintf(e.stdout, "%s = %s\n", s.Key, v)
			}
			return nil
		},
	}
	c.AddCommand(get, set)
	return c
}

func readLine(r io.Reader) (string, error) {
	var sb strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			sb.WriteByte(buf[0])
		}
		if err != nil {
			break
		}
	}
	s := strings.TrimRight(sb.String(), "\r")
	if s == "" {
		return "", usageErrorf("no value on standard input")
	}
	return s, nil
}
