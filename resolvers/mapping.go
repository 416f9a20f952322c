package resolvers

import (
	"time"

	"github.com/appmanage/appmanage/apps"
	"github.com/appmanage/appmanage/auth"
	"github.com/appmanage/appmanage/graph/model"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/ops"
)

func ptr[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func mapOperation(op *ops.Operation) *model.Operation {
	if op == nil {
		return nil
	}
	m := &model.Operation{
		ID: op.ID, Kind: op.Kind, AppID: op.AppID, Status: model.OperationStatus(op.Status),
		Progress: op.Progress, Error: ptr(op.Error), CreatedAt: op.CreatedAt,
		StartedAt: op.StartedAt, FinishedAt: op.FinishedAt, Steps: make([]model.OperationStep, 0, len(op.Steps)),
	}
	for _, s := range op.Steps {
		st := model.OperationStep{Name: s.Name, Status: model.StepStatus(s.Status), Error: ptr(s.Error),
			Attempts: s.Attempts, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt}
		if s.StartedAt != nil && s.FinishedAt != nil {
			ms := int(s.FinishedAt.Sub(*s.StartedAt) / time.Millisecond)
			st.DurationMs = &ms
		}
		m.Steps = append(m.Steps, st)
	}
	return m
}

func mapEvent(e ops.Event) *model.OperationEvent {
	m := &model.OperationEvent{Seq: e.Seq, OperationID: e.OperationID, At: e.At, Step: ptr(e.Step),
		Status: e.Status, Progress: e.Progress, Message: ptr(e.Message), Terminal: e.Terminal}
	if p := apps.EventPull(e.Detail); p != nil {
		m.Pull = &model.PullProgress{Image: p.Image, Layer: ptr(p.Layer), Status: p.Status,
			Current: ptr(int(p.Current)), Total: ptr(int(p.Total))}
	}
	return m
}

func mapCatalogApp(a *library.App) model.CatalogApp {
	m := model.CatalogApp{
		Name: a.Name, Trademark: a.Trademark, Summary: ptr(a.Summary), Overview: ptr(a.Overview),
		Categories: nonNil(a.Categories), Logo: ptr(a.Logo), WebsiteURL: ptr(a.WebsiteURL),
		DefaultVersion: ptr(a.DefaultVersion), Web: a.Web, HTTPPort: ptr(a.HTTPPort), HTTPSPort: ptr(a.HTTPSPort),
		Versions: nonNil(a.Versions()), Editions: []model.Edition{}, Settings: []model.CatalogSetting{},
	}
	for _, e := range a.Editions {
		m.Editions = append(m.Editions, model.Edition{Dist: e.Dist, Versions: nonNil(e.Versions)})
	}
	r := a.Requirements
	if r.CPU != "" || r.Memory != "" || r.Disk != "" || r.URL != "" {
		m.Requirements = &model.Requirements{CPU: ptr(r.CPU), Memory: ptr(r.Memory), Disk: ptr(r.Disk), URL: ptr(r.URL)}
	}
	for _, s := range a.Settings {
		m.Settings = append(m.Settings, model.CatalogSetting{Key: s.Key, Default: ptr(s.Default), Port: s.Port})
	}
	m.MaterialKinds = []model.MaterialKind{}
	for _, k := range a.MaterialKinds() {
		m.MaterialKinds = append(m.MaterialKinds, model.MaterialKind(k))
	}
	return m
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func mapAPIKey(k auth.Key) *model.APIKey {
	return &model.APIKey{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scope: string(k.Scope), CreatedAt: k.CreatedAt,
		LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

func mapSettings(views []apps.SettingView) []model.Setting {
	out := make([]model.Setting, 0, len(views))
	for _, v := range views {
		out = append(out, model.Setting{Key: v.Key, Value: v.Value, Secret: v.Secret, Description: v.Description, UpdatedAt: v.UpdatedAt})
	}
	return out
}

func mapHistory(h *apps.History, paged bool) *model.CommitConnection {
	c := &model.CommitConnection{Nodes: make([]model.Commit, 0, len(h.Commits)), Edges: make([]model.CommitEdge, 0, len(h.Commits)),
		PageInfo: &model.PageInfo{HasNextPage: h.HasNextPage, HasPreviousPage: paged}}
	if h.TotalCount >= 0 {
		n := h.TotalCount
		c.TotalCount = &n
	}
	for _, e := range h.Commits {
		n := model.Commit{Sha: e.SHA, Message: e.Message, Author: ptr(e.Author), Files: make([]model.CommitFile, 0, len(e.Files)), Deployed: e.Deployed}
		if !e.CommittedAt.IsZero() {
			t := e.CommittedAt
			n.CommittedAt = &t
		}
		for _, f := range e.Files {
			n.Files = append(n.Files, model.CommitFile{Path: f.Path, Status: f.Status})
		}
		c.Nodes = append(c.Nodes, n)
		c.Edges = append(c.Edges, model.CommitEdge{Cursor: e.SHA, Node: &c.Nodes[len(c.Nodes)-1]})
	}
	if len(c.Edges) > 0 {
		c.PageInfo.StartCursor = &c.Edges[0].Cursor
		c.PageInfo.EndCursor = &c.Edges[len(c.Edges)-1].Cursor
	}
	return c
}

func mapOrphans(list []apps.Orphan) []model.Orphan {
	out := make([]model.Orphan, len(list))
	for i, o := range list {
		out[i] = model.Orphan{Kind: model.OrphanKind(o.Kind), Name: o.Name, App: o.App, ProxyID: ptr(o.ProxyID),
			EndpointID: ptr(o.EndpointID), Reason: o.Reason, Removed: o.Removed, Error: ptr(o.Error)}
	}
	return out
}

func mapDriftSummary(rep apps.DriftReport) *model.DriftSummary {
	m := &model.DriftSummary{Apps: rep.Apps, Drifting: rep.Drifting, AutoRepair: rep.AutoRepair,
		Repairs: nonNil(rep.Repairs), IntervalSeconds: int(rep.Interval.Seconds()), Error: ptr(rep.Error)}
	if !rep.At.IsZero() {
		at := rep.At
		m.CheckedAt = &at
	}
	for _, k := range apps.DriftKinds {
		m.Issues = append(m.Issues, model.DriftCount{Kind: model.DriftKind(k), Count: rep.Issues[k]})
	}
	return m
}
