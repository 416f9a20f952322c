package apps

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/appmanage/appmanage/ops"
)

// InstallPlan is what Install would submit for a request, and the web port
// its domains would be forwarded to.
type InstallPlan struct {
	Input InstallInput
	Web   WebPortInfo // Port 0: not known
}

// PlanInstall runs Install's validation and preflight without writing or
// reserving anything, and returns the install it would start: the endpoint,
// W9_URL, the settings (with the port settings it chose), every published
// host port and the web port. It refuses what Install would refuse, with
// the same errors.
func (s *Service) PlanInstall(ctx context.Context, req InstallRequest) (*InstallPlan, error) {
	in, app, err := s.validateInstall(req)
	if err != nil {
		return nil, err
	}
	ep, err := s.pickEndpoint(ctx, req.EndpointID)
	if err != nil {
		return nil, err
	}
	in.EndpointID = ep.ID
	if plan, done, err := s.kubePlan(ctx, in, app, ep); done {
		if err == nil {
			err = s.kubePreflight(ctx, plan.Input)
		}
		if err != nil {
			return nil, err
		}
		return plan, s.refuseActive(ctx, in.AppID)
	}
	web, err := s.planPorts(ctx, app, &in, nil)
	if err != nil {
		return nil, err
	}
	if in.URL == "" {
		in.URL = s.fallbackURL(ep, s.publicHost(ctx), in)
	}
	if err := s.refuseActive(ctx, in.AppID); err != nil {
		return nil, err
	}
	if err := s.preflight(ctx, in); err != nil {
		if rp, ok := errors.AsType[*repickError](err); ok {
			return nil, rp.err
		}
		return nil, err
	}
	if err := s.refuseReserved(ctx, in); err != nil {
		return nil, err
	}
	return &InstallPlan{Input: in, Web: web}, nil
}

// refuseReserved answers as Submit would when an in-flight operation holds
// one of the install's ports or domains.
func (s *Service) refuseReserved(ctx context.Context, in InstallInput) error {
	rl, ok := s.engine.(reservationLister)
	if !ok {
		return nil
	}
	want := map[string]bool{}
	for _, k := range portKeys(in) {
		want[k] = true
	}
	for _, d := range in.Domains {
		want["domain:"+d] = true
	}
	for _, prefix := range []string{"port:" + strconv.Itoa(in.EndpointID) + ":", "domain:"} {
		rs, err := rl.Reservations(ctx, prefix)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if want[r.Resource] {
				return installReservationErr(in, &ops.ReservationError{Resource: r.Resource, OperationID: r.OperationID, Kind: r.Kind, AppID: r.AppID})
			}
		}
	}
	return nil
}

// latestOfKind is the optional engine method behind App.ports (ops.Engine
// has it).
type latestOfKind interface {
	LatestOfKind(ctx context.Context, kind string, appIDs []string) (map[string]*ops.Operation, error)
}

// Ports returns each app's host ports as its newest install chose them
// (journalled with that operation), in one SQLite read; nil for an app
// appmanage did not install, or installed on another endpoint.
func (v *View) Ports(ctx context.Context, refs []AppRef) ([][]PlannedPort, []error) {
	lk, ok := v.s.engine.(latestOfKind)
	if !ok {
		return fill(refs, nil, func(int) ([]PlannedPort, error) { return nil, nil })
	}
	seen := map[string]bool{}
	var ids []string
	for _, r := range refs {
		if !seen[r.ID] {
			seen[r.ID] = true
			ids = append(ids, r.ID)
		}
	}
	latest, err := latestInstalls(ctx, lk, ids)
	return fill(refs, err, func(i int) ([]PlannedPort, error) {
		op := latest[refs[i].ID]
		if op == nil {
			return nil, nil
		}
		var in InstallInput
		if err := json.Unmarshal(op.Input, &in); err != nil || !strings.EqualFold(in.AppID, refs[i].ID) {
			return nil, nil
		}
		if refs[i].EndpointID != 0 && in.EndpointID != refs[i].EndpointID {
			return nil, nil
		}
		return in.Ports, nil
	})
}
