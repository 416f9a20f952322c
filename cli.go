package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/appmanage/appmanage/auth"
	"github.com/appmanage/appmanage/cli"
	"github.com/appmanage/appmanage/config"
	"github.com/appmanage/appmanage/store"
)

func main() {
	// SIGTERM ends every command; SIGINT ends serve (see cmdServe) and
	// is Ctrl-C for the client commands, which ask before they stop
	// following an operation.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv, nil))
}

// run is main without the process: tests call it directly. ready, when
// non-nil, receives the address serve listens on. The command line is
// package cli's; serve and apikey are handed to it with their own flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, ready func(net.Addr)) int {
	return cli.Execute(ctx, args, cli.Options{
		Stdout:  stdout,
		Stderr:  stderr,
		Getenv:  getenv,
		Version: version,
		Serve: func(ctx context.Context, args []string) int {
			return cmdServe(ctx, args, stdout, stderr, getenv, ready)
		},
		APIKey: func(ctx context.Context, args []string) int {
			return cmdAPIKey(ctx, args, stdout, stderr, getenv)
		},
	})
}

func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, ready func(net.Addr)) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Parse(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "appmanage serve: %v\n", err)
		return 2
	}
	log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	srv, err := newServer(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	if err := srv.serve(ctx, ready); err != nil {
		log.Error("server stopped", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func cmdAPIKey(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("appmanage apikey "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	defDir := getenv("APPMANAGE_DATA_DIR")
	if defDir == "" {
		defDir = "./data"
	}
	dataDir := fs.String("data-dir", defDir, "data folder of the server ($APPMANAGE_DATA_DIR)")
	name := fs.String("name", "", "what the key is for (create)")
	scope := fs.String("scope", "read", "read, write or admin (create)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	db, err := store.Open(ctx, filepath.Join(*dataDir, "appmanage.db"), nil)
	if err != nil {
		fmt.Fprintf(stderr, "open database: %v\n", err)
		return 1
	}
	defer db.Close()
	svc := auth.NewService(db, slog.New(slog.DiscardHandler))
	switch sub {
	case "create":
		sc, err := auth.ParseScope(*scope)
		if err != nil || *name == "" {
			fmt.Fprintln(stderr, "apikey create needs --name and --scope read|write|admin")
			return 2
		}
		key, rec, err := svc.Create(ctx, *name, sc)
		if err != nil {
			fmt.Fprintf(stderr, "create key: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "created key %s (%s, scope %s); it is shown once:\n", rec.ID, rec.Name, rec.Scope)
		fmt.Fprintln(stdout, key)
		return 0
	case "list":
		keys, err := svc.List(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "list keys: %v\n", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tSCOPE\tCREATED\tLAST USED\tREVOKED")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, k.Scope,
				k.CreatedAt.Format(time.RFC3339), fmtTime(k.LastUsedAt), fmtTime(k.RevokedAt))
		}
		if err := tw.Flush(); err != nil {
			fmt.Fprintf(stderr, "list keys: %v\n", err)
			return 1
		}
		return 0
	case "revoke":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "apikey revoke needs one ID or prefix")
			return 2
		}
		if _, err := svc.Revoke(ctx, fs.Arg(0)); err != nil {
			fmt.Fprintf(stderr, "revoke: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "revoked %s\n", fs.Arg(0))
		return 0
	}
	fmt.Fprintf(stderr, "unknown apikey command %q\n", sub)
	return 2
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
