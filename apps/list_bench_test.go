package apps

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
)

// benchPopulate adds apps from..to-1 straight into the fakes, as an install
// leaves them (repository with the rendered whoami material, git stack with
// its running container, proxy host), without the operation engine.
func benchPopulate(tb testing.TB, e *testEnv, from, to int) {
	tb.Helper()
	app, ok := e.Lib.Get("whoami")
	if !ok {
		tb.Fatal("no whoami in the library")
	}
	ctx := context.Background()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := from; i < to; i++ {
		g.Go(func() error {
			id := fmt.Sprintf("bench%04d", i)
			domain := id + ".example.com"
			in := InstallInput{AppName: "whoami", AppID: id, Version: app.DefaultVersion, EndpointID: 1, URL: domain,
				Domains: []string{domain}, Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: strconv.Itoa(20000 + i)}}}
			files, err := render(app, in)
			if err != nil {
				return err
			}
			repo, err := e.Repos.CreateRepo(gctx, id, gitea.CreateRepoOptions{})
			if err != nil {
				return err
			}
			commit := gitea.Commit{Branch: "main", Message: "bench"}
			for _, p := range sortedKeys(files) {
				commit.Files = append(commit.Files, gitea.FileChange{Operation: gitea.OpCreate, Path: p, Content: files[p]})
			}
			if _, err := e.Repos.CommitFiles(gctx, id, commit); err != nil {
				return err
			}
			if _, err := e.Stacks.CreateStackFromRepository(gctx, 1, portainer.CreateRepositoryStackRequest{
				Name: id, RepositoryURL: repo.CloneURL, RepositoryReferenceName: "refs/heads/main", ComposeFile: "docker-compose.yml",
				RepositoryAuthentication: true, RepositoryUsername: e.Owner, RepositoryPassword: e.Gitea.Token(e.Owner),
			}); err != nil {
				return err
			}
			_, err = e.Proxies.CreateProxyHost(gctx, proxymanager.ProxyHostRequest{DomainNames: []string{domain},
				ForwardScheme: "http", ForwardHost: id, ForwardPort: 80})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		tb.Fatal(err)
	}
}

// benchQuery does what `apps { nodes { id status env { name value }
// proxies { domains } repository { htmlUrl } variables } }` does: list,
// then the four lazy fields for every app, concurrently, as the resolvers'
// dataloaders do.
func benchQuery(ctx context.Context, s *Service) (int, error) {
	v := s.NewView()
	v.PrefetchProxies(ctx) // as the resolver does when proxies are selected
	l, err := v.Apps(ctx, ListQuery{})
	if err != nil {
		return 0, err
	}
	if len(l.Problems) > 0 {
		return 0, l.Problems[0]
	}
	refs := make([]AppRef, len(l.Apps))
	for i, a := range l.Apps {
		refs[i] = a.AppRef
	}
	var g errgroup.Group
	check := func(errs []error) error {
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
	g.Go(func() error { _, errs := v.Env(ctx, refs); return check(errs) })
	g.Go(func() error { _, errs := v.rawProxies(ctx, refs); return check(errs) })
	g.Go(func() error { _, errs := v.Repositories(ctx, refs); return check(errs) })
	g.Go(func() error { _, errs := v.Variables(ctx, refs); return check(errs) })
	return len(l.Apps), g.Wait()
}

// listWave fetches, through the clients and at once, every upstream list a
// poll reads (stacks, endpoints, each endpoint's containers, proxy hosts):
// the physical floor of a poll, one round trip carrying those lists.
func listWave(ctx context.Context, e *testEnv) error {
	var g errgroup.Group
	g.Go(func() error { _, err := e.Stacks.ListStacks(ctx, 0); return err })
	g.Go(func() error { _, err := e.Stacks.ListEndpoints(ctx); return err })
	g.Go(func() error {
		_, err := e.Stacks.ListContainers(ctx, 1, portainer.ContainerFilter{All: true})
		return err
	})
	g.Go(func() error { _, err := e.Proxies.ListProxyHosts(ctx); return err })
	return g.Wait()
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkAppsList measures the latency of an apps query against fakes
// that add 5 ms to every upstream call, with 1, 10, 100 and 1000 apps:
//   - poll: what a console polling every few seconds sees: the list cache
//     has expired (lists are read again) and per-app data is cached; the
//     containers have been up for days, as on a server in use;
//   - boot: poll just after the host booted: every container was started
//     at once and its status text ("Up 3 seconds") changes every second,
//     so the container list seldom comes back byte-equal;
//   - cold: nothing cached (first query after a start);
//   - hot: a second query within the list TTL.
//
// It prints p50/p99 and the ratio latency(1000)/latency(1) (goal <= 1.5).
// In poll mode every iteration also times one bare upstream round trip
// (the endpoint list, through the client, at the same injected latency)
// and reports poll_over_roundtrip: p50(poll) / p50(round trip). Every list
// a poll needs is fetched in one concurrent wave, so the floor is 1 (goal
// <= 1.2 at 1 and at 1,000 apps). It also times the raw lists a poll reads,
// fetched at once through the clients (listwave), and reports
// poll_over_listwave: at 1,000 apps the fakes' encoding and the transfer of
// those lists make the wave itself longer than a bare round trip.
func BenchmarkAppsList(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	const latency = 5 * time.Millisecond
	const rttGoal = 1.2
	type stat struct{ p50, p99, rtt, wave time.Duration }
	var mu sync.Mutex
	results := map[string]map[int]stat{}
	sizes := []int{1, 10, 100, 1000}
	modes := []string{"poll", "boot", "cold", "hot"}
	have := 0
	for _, n := range sizes {
		benchPopulate(b, e, have, n)
		have = n
		for _, mode := range modes {
			b.Run(fmt.Sprintf("apps=%d/%s", n, mode), func(b *testing.B) {
				for _, inj := range []interface{ SetLatency(time.Duration) }{e.Gitea.Faults, e.Portainer.Faults, e.NPM.Faults} {
					inj.SetLatency(latency)
					defer inj.SetLatency(0)
				}
				uptime := 72 * time.Hour
				if mode == "boot" {
					uptime = 0
				}
				e.Portainer.SetUptime(uptime)
				// Warm up on fresh lists (benchPopulate went around the
				// service, whose list cache may predate the new apps): the
				// per-app caches, then one poll as the mode runs it.
				for range 2 {
					e.Svc.InvalidateLists()
					if _, err := benchQuery(ctx, e.Svc); err != nil {
						b.Fatal(err)
					}
				}
				var ds, rtts, waves []time.Duration
				for b.Loop() {
					if mode == "poll" {
						start := time.Now()
						if _, err := e.Stacks.ListEndpoints(ctx); err != nil {
							b.Fatal(err)
						}
						rtts = append(rtts, time.Since(start))
						start = time.Now()
						if err := listWave(ctx, e); err != nil {
							b.Fatal(err)
						}
						waves = append(waves, time.Since(start))
					}
					switch mode {
					case "poll", "boot":
						e.Svc.InvalidateLists()
					case "cold":
						e.Svc.InvalidateLists()
						e.Svc.details = newDetailCache()
					}
					start := time.Now()
					got, err := benchQuery(ctx, e.Svc)
					ds = append(ds, time.Since(start))
					if err != nil {
						b.Fatal(err)
					}
					if got != n {
						b.Fatalf("listed %d apps, want %d", got, n)
					}
				}
				st := stat{percentile(ds, 0.50), percentile(ds, 0.99), percentile(rtts, 0.50), percentile(waves, 0.50)}
				b.ReportMetric(float64(st.p50.Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(st.p99.Microseconds())/1000, "p99-ms")
				if st.rtt > 0 {
					b.ReportMetric(float64(st.rtt.Microseconds())/1000, "roundtrip-p50-ms")
					b.ReportMetric(ms(st.p50)/ms(st.rtt), "poll_over_roundtrip(goal<=1.2)")
					b.ReportMetric(ms(st.wave), "listwave-p50-ms")
					b.ReportMetric(ms(st.p50)/ms(st.wave), "poll_over_listwave")
				}
				mu.Lock()
				if results[mode] == nil {
					results[mode] = map[int]stat{}
				}
				results[mode][n] = st
				mu.Unlock()
			})
		}
	}
	w := os.Stdout
	fmt.Fprintf(w, "\napps query latency, %s per upstream call (p50 / p99):\n", latency)
	for _, mode := range modes {
		fmt.Fprintf(w, "  %-5s", mode)
		for _, n := range sizes {
			st := results[mode][n]
			fmt.Fprintf(w, "  %d apps %6.2f / %6.2f ms", n, ms(st.p50), ms(st.p99))
		}
		if one, top := results[mode][1], results[mode][1000]; one.p50 > 0 {
			fmt.Fprintf(w, "   ratio(1000/1) p50 %.2f p99 %.2f", ms(top.p50)/ms(one.p50), ms(top.p99)/ms(one.p99))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "poll / one upstream round trip (p50, goal <= %.1f at 1 and 1000 apps; the floor is 1), and poll / the wave of raw lists a poll reads:\n", rttGoal)
	for _, n := range sizes {
		if st := results["poll"][n]; st.rtt > 0 && st.wave > 0 {
			r := ms(st.p50) / ms(st.rtt)
			verdict := "ok"
			if r > rttGoal {
				verdict = "MISSED"
			}
			fmt.Fprintf(w, "  %4d apps  poll_over_roundtrip %.2f (%.2f / %.2f ms, %s)  poll_over_listwave %.2f (wave %.2f ms)\n",
				n, r, ms(st.p50), ms(st.rtt), verdict, ms(st.p50)/ms(st.wave), ms(st.wave))
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
