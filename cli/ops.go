package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/appmanage/appmanage/cli/gql"
)

// opStarter sends the mutation that starts an operation.
type opStarter func(ctx context.Context, cn *conn) (*gql.OperationFields, error)

// opCommand is a command whose mutation starts an operation: it follows
// the operation unless --detach.
func (e *env) opCommand(c *cobra.Command, field string, start func(c *cobra.Command, args []string) opStarter) *cobra.Command {
	var detach bool
	c.Flags().BoolVarP(&detach, "detach", "d", false, "print the operation id and return at once, without following it")
	c.RunE = func(c *cobra.Command, args []string) error {
		s := start(c, args)
		if s == nil {
			return nil
		}
		cn, err := e.connect()
		if err != nil {
			return err
		}
		op, err := s(c.Context(), cn)
		if err != nil {
			return classify(err, field)
		}
		if op == nil { // nothing started (a dry run)
			return nil
		}
		if detach {
			fmt.Fprintln(e.stdout, op.Id)
			return nil
		}
		return e.followOperation(c.Context(), cn, *op)
	}
	return c
}

func opCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "op",
		Short: "Show, follow and cancel operations",
		Long: `Every change to an app (install, uninstall, start, a domain change, ...) runs as a durable
operation on the server, made of steps; op reads, follows and cancels them by id.`,
		Example: `  appmanage op list --app blog
  appmanage op watch 01J9Z3K6W4...
  appmanage op cancel 01J9Z3K6W4...`,
	}
	get := &cobra.Command{
		Use:     "get ID",
		Short:   "Show an operation and its steps",
		Long:    "get prints an operation's kind, app, status, progress and error, and each step with its status, attempts, duration and error.",
		Example: "  appmanage op get 01J9Z3K6W4...\n  appmanage op get 01J9Z3K6W4... --output json",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cn, err := e.readConn()
			if err != nil {
				return err
			}
			resp, err := gql.GetOperation(c.Context(), cn.gql, args[0])
			if err != nil {
				return classify(err, "operation")
			}
			if resp.Operation == nil {
				return failedf("no operation %s", args[0])
			}
			op := resp.Operation.OperationFields
			if e.output == "json" {
				return printJSON(e.stdout, op)
			}
			return printOperation(e, &op)
		},
	}
	addOutput(get, e)
	var app string
	var first int
	list := &cobra.Command{
		Use:     "list [--app ID]",
		Short:   "List recent operations, newest first",
		Long:    "list prints the newest operations (of one app with --app), newest first.",
		Example: "  appmanage op list\n  appmanage op list --app blog --first 5 --output json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cn, err := e.readConn()
			if err != nil {
				return err
			}
			var appID *string
			if app != "" {
				appID = &app
			}
			resp, err := gql.ListOperations(c.Context(), cn.gql, appID, &first)
			if err != nil {
				return classify(err, "operations")
			}
			ops := make([]gql.OperationFields, 0, len(resp.Operations))
			for _, o := range resp.Operations {
				ops = append(ops, o.OperationFields)
			}
			if e.output == "json" {
				return printJSON(e.stdout, ops)
			}
			t := newTable(e.stdout, "ID", "KIND", "APP", "STATUS", "PROGRESS", "CREATED", "ERROR")
			for _, o := range ops {
				t.row(o.Id, o.Kind, o.AppId, o.Status, fmt.Sprintf("%d%%", o.Progress), o.CreatedAt, o.Error)
			}
			return t.flush()
		},
	}
	list.Flags().StringVar(&app, "app", "", "only this app's operations")
	list.Flags().IntVar(&first, "first", 20, "how many")
	addOutput(list, e)
	watch := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow an operation to its end, drawing its progress",
		Long: `watch follows an operation's events (the operationEvents subscription) and draws its
progress and current step until it ends; it exits 0 when the operation succeeded and 1 when
it failed, rolled back or was cancelled, printing the failing step's error. Ctrl-C asks
whether to cancel the operation or stop watching.`,
		Example: "  appmanage op watch 01J9Z3K6W4...",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cn, err := e.connect()
			if err != nil {
				return err
			}
			resp, err := gql.GetOperation(c.Context(), cn.gql, args[0])
			if err != nil {
				return classify(err, "operation")
			}
			if resp.Operation == nil {
				return failedf("no operation %s", args[0])
			}
			return e.followOperation(c.Context(), cn, resp.Operation.OperationFields)
		},
	}
	cancel := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a queued or running operation",
		Long: `cancel asks the server to cancel an operation; the steps it completed are undone. It then
follows the operation to its end (unless --detach).`,
		Example: "  appmanage op cancel 01J9Z3K6W4...",
		Args:    cobra.ExactArgs(1),
	}
	e.opCommand(cancel, "cancelOperation", func(_ *cobra.Command, args []string) opStarter {
		return func(ctx context.Context, cn *conn) (*gql.OperationFields, error) {
			r, err := gql.CancelOperation(ctx, cn.gql, args[0])
			if err != nil {
				return nil, err
			}
			return &r.CancelOperation.OperationFields, nil
		}
	})
	c.AddCommand(get, list, watch, cancel)
	return c
}

func printOperation(e *env, op *gql.OperationFields) error {
	t := newTable(e.stdout, "OPERATION", "KIND", "APP", "STATUS", "PROGRESS", "CREATED", "FINISHED")
	t.row(op.Id, op.Kind, op.AppId, op.Status, fmt.Sprintf("%d%%", op.Progress), op.CreatedAt, op.FinishedAt)
	if err := t.flush(); err != nil {
		return err
	}
	if op.Error != nil && *op.Error != "" {
		fmt.Fprintf(e.stdout, "error: %s\n", *op.Error)
	}
	if len(op.Steps) == 0 {
		return nil
	}
	fmt.Fprintln(e.stdout)
	t = newTable(e.stdout, "STEP", "STATUS", "ATTEMPTS", "MS", "ERROR")
	for _, s := range op.Steps {
		t.row(s.Name, s.Status, s.Attempts, s.DurationMs, s.Error)
	}
	return t.flush()
}
