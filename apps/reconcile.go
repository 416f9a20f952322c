package apps

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/ops"
)

// DefaultReconcileInterval is how often the reconciler computes the drift
// of every app when the reconcileInterval setting is unset.
const DefaultReconcileInterval = 5 * time.Minute

// minReconcileInterval bounds the setting from below.
const minReconcileInterval = 10 * time.Second

// DriftReport is the reconciler's last pass.
type DriftReport struct {
	// At is when the last pass finished (zero before the first).
	At time.Time
	// Apps is how many apps the pass looked at; Drifting how many had an
	// issue.
	Apps, Drifting int
	// Issues counts the issues by kind (every kind present, 0 included).
	Issues map[DriftKind]int
	// Repairs lists the repair operations the pass started (autoRepair).
	Repairs []string
	// AutoRepair is the setting the pass ran with.
	AutoRepair bool
	// Error is why the last pass failed ("" when it did not).
	Error string
	// Interval is the interval in force.
	Interval time.Duration
}

type driftState struct {
	mu       sync.Mutex
	report   DriftReport
	repoSeen map[string]time.Time // repository (lower case) -> updated_at last seen
}

// DriftReport returns a copy of the last pass.
func (s *Service) DriftReport() DriftReport {
	s.drift.mu.Lock()
	defer s.drift.mu.Unlock()
	r := s.drift.report
	r.Issues = make(map[DriftKind]int, len(DriftKinds))
	for _, k := range DriftKinds {
		r.Issues[k] = s.drift.report.Issues[k]
	}
	r.Repairs = append([]string(nil), s.drift.report.Repairs...)
	if r.Interval == 0 {
		r.Interval = DefaultReconcileInterval
	}
	return r
}

// ReconcileInterval is the interval the reconcileInterval setting gives.
func (s *Service) ReconcileInterval(ctx context.Context) time.Duration {
	if v := s.setting(ctx, "reconcileInterval"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d >= minReconcileInterval {
			return d
		}
	}
	return DefaultReconcileInterval
}

func (s *Service) autoRepair(ctx context.Context) bool {
	b, _ := strconv.ParseBool(s.setting(ctx, "autoRepair"))
	return b
}

// Reconcile is one pass of the reconciler: it learns which repositories
// changed (one repository list; the head of a repository whose updated_at
// moved is read again, so a push nobody told appmanage about is seen
// within one interval), computes every app's drift from the same lists
// the apps query reads, and, when the autoRepair setting is on, starts a
// repair of every app whose issues are all repairable.
func (s *Service) Reconcile(ctx context.Context) (DriftReport, error) {
	rep := DriftReport{Issues: map[DriftKind]int{}, AutoRepair: s.autoRepair(ctx), Interval: s.ReconcileInterval(ctx)}
	err := s.reconcile(ctx, &rep)
	rep.At = time.Now()
	if err != nil {
		rep.Error = err.Error()
	}
	s.drift.mu.Lock()
	s.drift.report = rep
	s.drift.mu.Unlock()
	return s.DriftReport(), err
}

func (s *Service) reconcile(ctx context.Context, rep *DriftReport) error {
	s.refreshHeads(ctx)
	s.lists.invalidate() // a pass reads what the upstreams say now
	v := s.NewView()
	list, err := v.Apps(ctx, ListQuery{})
	if err != nil {
		return err
	}
	refs := make([]AppRef, len(list.Apps))
	for i, a := range list.Apps {
		refs[i] = a.AppRef
	}
	issues, errs := v.Drift(ctx, refs)
	latest, lerrs := v.LastOperations(ctx, refs)
	rep.Apps = len(refs)
	var failed []error
	for i, ref := range refs {
		if errs[i] != nil {
			failed = append(failed, errs[i])
			continue
		}
		if len(issues[i]) == 0 {
			continue
		}
		rep.Drifting++
		repairable := true
		for _, is := range issues[i] {
			rep.Issues[is.Kind]++
			repairable = repairable && is.Repairable
		}
		if !rep.AutoRepair || !repairable {
			continue
		}
		// A repair that failed is not started again every pass: the next
		// one waits for another operation on the app (a repairApp by hand
		// included).
		if lerrs[i] == nil && latest[i] != nil && latest[i].Kind == KindRepair && latest[i].Status != ops.StatusSucceeded {
			continue
		}
		op, err := s.RepairApp(ctx, ref.ID)
		if err != nil {
			if ae, ok := apperr.As(err); !ok || ae.Code != apperr.Conflict {
				s.log.WarnContext(ctx, "auto-repair", "app", ref.ID, "error", err)
			}
			continue
		}
		rep.Repairs = append(rep.Repairs, op.ID)
		s.log.InfoContext(ctx, "auto-repair started", "app", ref.ID, "operation", op.ID, "issues", len(issues[i]))
	}
	failed = append(failed, list.Problems...)
	return errors.Join(failed...)
}

// refreshHeads forgets the branch heads of the repositories whose
// updated_at moved since the last pass (all of them on the first): one
// repository list, however many apps. A failed list forgets every head.
func (s *Service) refreshHeads(ctx context.Context) {
	repos, err := s.repos.ListRepos(ctx)
	s.drift.mu.Lock()
	defer s.drift.mu.Unlock()
	if err != nil {
		s.log.WarnContext(ctx, "reconcile: list repositories", "error", err)
		for name := range s.drift.repoSeen {
			s.history.forget(name)
		}
		s.drift.repoSeen = nil
		return
	}
	seen := make(map[string]time.Time, len(repos))
	for _, r := range repos {
		k := strings.ToLower(r.Name)
		if at, ok := s.drift.repoSeen[k]; !ok || at.IsZero() || !at.Equal(r.UpdatedAt) {
			s.history.forget(k)
		}
		// updated_at has a resolution of one second: a push within the
		// same second as a recent one would not move it, so a recent value
		// is not trusted (the next pass reads the head again).
		if time.Since(r.UpdatedAt) > 2*time.Second {
			seen[k] = r.UpdatedAt
		} else {
			seen[k] = time.Time{}
		}
	}
	s.drift.repoSeen = seen
}

// reconcileCheck is how often RunReconciler looks at the interval
// setting, so a change of it applies within this long.
const reconcileCheck = 2 * time.Second

// RunReconciler runs Reconcile every reconcileInterval until ctx ends, the
// first pass one interval after it starts (App.drift is computed live; the
// passes feed health, /metrics and autoRepair). It returns when the pass
// in progress has ended.
func (s *Service) RunReconciler(ctx context.Context) {
	last := time.Now()
	tick := time.NewTicker(reconcileCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if time.Since(last) < s.ReconcileInterval(ctx) {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		if _, err := s.Reconcile(pctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "reconcile", "error", err)
		}
		cancel()
		last = time.Now()
	}
}
