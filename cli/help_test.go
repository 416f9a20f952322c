package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func testOptions(stdout, stderr *bytes.Buffer) Options {
	return Options{
		Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr,
		Getenv:  func(string) string { return "" },
		Version: "test",
		Serve: func(_ context.Context, args []string) int {
			stdout.WriteString("Usage: appmanage serve [flags]\n")
			return 0
		},
		APIKey: func(context.Context, []string) int { return 0 },
	}
}

func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}

// Acceptance 5: every command says what it does, with an example, in its
// --help.
func TestEveryCommandHasHelpWithAnExample(t *testing.T) {
	var out, errb bytes.Buffer
	opts := testOptions(&out, &errb)
	root := newRoot(&env{getenv: opts.Getenv}, opts)
	var paths [][]string
	walk(root, func(c *cobra.Command) {
		path := strings.Fields(c.CommandPath())[1:]
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%q: Short %q, Long %q, Example %q: want all three", c.CommandPath(), c.Short, c.Long, c.Example)
		}
		paths = append(paths, path)
	})
	if len(paths) < 40 {
		t.Fatalf("walked %d commands, want the whole tree (40 or more)", len(paths))
	}
	for _, p := range paths {
		out.Reset()
		errb.Reset()
		code := Execute(context.Background(), append(p, "--help"), opts)
		c, _, _ := root.Find(p)
		help := out.String()
		if code != 0 {
			t.Errorf("appmanage %s --help: exit %d, stderr %s", strings.Join(p, " "), code, errb.String())
			continue
		}
		if c.Name() == "serve" {
			// serve's flags are printed by its own parser, then the examples.
			if !strings.Contains(help, "Usage: appmanage serve") || !strings.Contains(help, "Examples:\n"+c.Example) {
				t.Errorf("appmanage serve --help = %q", help)
			}
			continue
		}
		firstLong := strings.SplitN(c.Long, "\n", 2)[0]
		if !strings.Contains(help, firstLong) || !strings.Contains(help, "Examples:\n"+c.Example) {
			t.Errorf("appmanage %s --help does not show its description and example:\n%s", strings.Join(p, " "), help)
		}
	}
}

func TestCompletionScriptNamesTheCommands(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Execute(context.Background(), []string{"completion", "bash"}, testOptions(&out, &errb)); code != 0 {
		t.Fatalf("completion bash: exit %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "__appmanage_") {
		t.Fatalf("bash completion script does not look like one:\n%.300s", out.String())
	}
	out.Reset()
	// The hidden __complete command cobra's scripts call.
	if code := Execute(context.Background(), []string{"__complete", "app", "dom"}, testOptions(&out, &errb)); code != 0 {
		t.Fatalf("__complete: exit %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "domains") {
		t.Fatalf("completing 'app dom' = %q, want domains", out.String())
	}
}
