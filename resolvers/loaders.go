package resolvers

import (
	"cmp"
	"context"
	"encoding/base64"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vikstrous/dataloadgen"

	"github.com/appmanage/appmanage/apperr"

	"github.com/appmanage/appmanage/apps"
	"github.com/appmanage/appmanage/graph/model"
	"github.com/appmanage/appmanage/ops"
)

// loaderWait is how long a loader collects keys before it fetches: the
// App fields of one listing are resolved concurrently, so a short wait
// gathers all of them into one batch.
const loaderWait = 2 * time.Millisecond

// Loaders are one request's dataloaders for the App aggregate's lazy
// fields. All share one apps.View, so every upstream list is read at most
// once per request, whichever fields ask for it.
type Loaders struct {
	view          *apps.View
	stack         *dataloadgen.Loader[apps.AppRef, *apps.Stack]
	env           *dataloadgen.Loader[apps.AppRef, apps.AppEnv]
	containers    *dataloadgen.Loader[apps.AppRef, []apps.Container]
	proxies       *dataloadgen.Loader[apps.AppRef, []apps.ProxyHost]
	domains       *dataloadgen.Loader[apps.AppRef, []string]
	defaultDomain *dataloadgen.Loader[apps.AppRef, string]
	variables     *dataloadgen.Loader[apps.AppRef, map[string]any]
	repository    *dataloadgen.Loader[apps.AppRef, *apps.RepoLinks]
	lastOperation *dataloadgen.Loader[apps.AppRef, *ops.Operation]
	proxySources  *dataloadgen.Loader[apps.AppRef, *apps.ProxySources]
	ports         *dataloadgen.Loader[apps.AppRef, []apps.PlannedPort]
	history       *dataloadgen.Loader[apps.HistoryKey, *apps.History]
	drift         *dataloadgen.Loader[apps.AppRef, []apps.DriftIssue]
}

// NewLoaders builds the loaders of one request.
func NewLoaders(svc *apps.Service) *Loaders {
	v := svc.NewView()
	opt := dataloadgen.WithWait(loaderWait)
	return &Loaders{
		view:          v,
		stack:         dataloadgen.NewLoader(v.Stacks, opt),
		env:           dataloadgen.NewLoader(v.Env, opt),
		containers:    dataloadgen.NewLoader(v.Containers, opt),
		proxies:       dataloadgen.NewLoader(v.Proxies, opt),
		domains:       dataloadgen.NewLoader(v.Domains, opt),
		defaultDomain: dataloadgen.NewLoader(v.DefaultDomains, opt),
		variables:     dataloadgen.NewLoader(v.Variables, opt),
		repository:    dataloadgen.NewLoader(v.Repositories, opt),
		lastOperation: dataloadgen.NewLoader(v.LastOperations, opt),
		proxySources:  dataloadgen.NewLoader(v.ProxySources, opt),
		ports:         dataloadgen.NewLoader(v.Ports, opt),
		history:       dataloadgen.NewLoader(v.Histories, opt),
		drift:         dataloadgen.NewLoader(v.Drift, opt),
	}
}

type loadersKey struct{}

// WithLoaders gives every GraphQL operation fresh loaders, whatever carries
// it: a POST or GET, SSE, or one of the many operations of a websocket
// connection (loaders and their memoized lists must not outlive one
// operation, and must be shared by all the fields of one).
func WithLoaders(r *Resolver) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if r.Domain == nil {
			return next(ctx)
		}
		return next(context.WithValue(ctx, loadersKey{}, NewLoaders(r.Domain)))
	}
}

// loaders returns the operation's loaders, or fresh ones when it has none
// (tests calling resolvers directly).
func (r *Resolver) loaders(ctx context.Context) *Loaders {
	if l, ok := ctx.Value(loadersKey{}).(*Loaders); ok {
		return l
	}
	return NewLoaders(r.Domain)
}

// --- mapping of the App aggregate's pieces --------------------------------

func appRef(obj *model.App) apps.AppRef {
	return apps.AppRef{ID: obj.ID, EndpointID: deref(obj.EndpointID)}
}

func mapAppSummary(a apps.AppSummary) *model.App {
	return &model.App{
		ID: a.ID, Status: model.AppStatus(a.Status), EndpointID: ptr(a.EndpointID), Official: a.Official,
		CreatedAt: a.CreatedAt, StackID: a.StackID, OperationID: a.OperationID,
	}
}

func mapStack(st *apps.Stack) *model.Stack {
	if st == nil {
		return nil
	}
	m := &model.Stack{ID: st.ID, Name: st.Name, Status: st.Status, EndpointID: st.EndpointID,
		CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt}
	if g := st.Git; g != nil {
		m.Git = &model.StackGit{URL: g.URL, ReferenceName: ptr(g.ReferenceName), ConfigFilePath: ptr(g.ConfigFilePath),
			ConfigHash: ptr(g.ConfigHash), Authenticated: g.Authenticated, AutoUpdateInterval: ptr(g.AutoUpdateInterval)}
	}
	return m
}

func mapContainer(c apps.Container, appID string) model.Container {
	m := model.Container{ID: c.ID, Name: c.Name, Image: c.Image, State: c.State, Status: ptr(c.Status),
		Service: ptr(c.Service), Main: c.IsMainOf(appID), Ports: make([]model.PortMapping, 0, len(c.Ports))}
	for _, p := range c.Ports {
		m.Ports = append(m.Ports, model.PortMapping{PrivatePort: p.PrivatePort, PublicPort: ptr(p.PublicPort), IP: ptr(p.IP), Type: p.Type})
	}
	return m
}

func mapProxy(h apps.ProxyHost) model.Proxy {
	m := model.Proxy{ID: h.ID, Domains: nonNil(h.Domains), ForwardScheme: h.ForwardScheme, ForwardHost: h.ForwardHost,
		ForwardPort: h.ForwardPort, Enabled: h.Enabled, Online: h.Online, AdvancedConfig: ptr(h.AdvancedConfig)}
	if c := h.Certificate; c != nil {
		m.Certificate = &model.Certificate{ID: c.ID, NiceName: ptr(c.NiceName), Provider: ptr(c.Provider), Domains: nonNil(c.Domains), ExpiresOn: c.ExpiresOn}
	}
	return m
}

// --- listing: selection and pagination --------------------------------------

// appSelection is what a query reads of the apps it lists.
type appSelection struct {
	// idsOnly: nothing but the id; the listing then skips the container
	// lists (one stack list).
	idsOnly bool
	// proxies: a field read from NPM's proxy host list; that list is then
	// fetched alongside the stack and container lists, not after them.
	proxies bool
}

// selectedAppFields tells what the current Query.apps (nodes, edges.node) or
// Query.app field reads of its apps.
func selectedAppFields(ctx context.Context) appSelection {
	fc := graphql.GetFieldContext(ctx)
	oc := graphql.GetOperationContext(ctx)
	if fc == nil || oc == nil {
		return appSelection{proxies: true}
	}
	sel := appSelection{idsOnly: true}
	add := func(set ast.SelectionSet) {
		for _, f := range graphql.CollectFields(oc, set, nil) {
			switch f.Name {
			case "id", "__typename":
				continue
			case "proxies", "domains", "defaultDomain", "drift":
				sel.proxies = true
			}
			sel.idsOnly = false
		}
	}
	if fc.Field.Name == "app" {
		add(fc.Field.Selections)
		return sel
	}
	for _, f := range graphql.CollectFields(oc, fc.Field.Selections, nil) {
		switch f.Name {
		case "nodes":
			add(f.Selections)
		case "edges":
			for _, e := range graphql.CollectFields(oc, f.Selections, nil) {
				if e.Name == "node" {
					add(e.Selections)
				}
			}
		}
	}
	return sel
}

// maxPage caps `first`.
const maxPage = 1000

type page struct {
	first    int // 0 = everything
	afterRef *apps.AppRef
}

// Cursors are opaque: base64 of "app:<endpoint>:<id>", the listing's order.
func encodeCursor(ref apps.AppRef) string {
	return base64.RawURLEncoding.EncodeToString([]byte("app:" + strconv.Itoa(ref.EndpointID) + ":" + ref.ID))
}

func decodeCursor(c string) (*apps.AppRef, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, false
	}
	rest, ok := strings.CutPrefix(string(raw), "app:")
	if !ok {
		return nil, false
	}
	ep, id, ok := strings.Cut(rest, ":")
	n, err := strconv.Atoi(ep)
	if !ok || err != nil || id == "" {
		return nil, false
	}
	return &apps.AppRef{ID: id, EndpointID: n}, true
}

func parsePage(first *int, after *string) (page, error) {
	var p page
	if first != nil {
		if *first < 0 || *first > maxPage {
			return p, apperr.Invalid("first", "want 0..%d", maxPage)
		}
		p.first = *first
		if p.first == 0 {
			p.first = -1 // first: 0 asks for no node
		}
	}
	if after != nil && *after != "" {
		ref, ok := decodeCursor(*after)
		if !ok {
			return p, apperr.Invalid("after", "not a cursor of this listing")
		}
		p.afterRef = ref
	}
	return p, nil
}

// connection pages a listing sorted by (id, endpoint).
func (p page) connection(list []apps.AppSummary) *model.AppConnection {
	start := 0
	if a := p.afterRef; a != nil {
		start = sort.Search(len(list), func(i int) bool {
			return cmp.Or(strings.Compare(list[i].ID, a.ID), list[i].EndpointID-a.EndpointID) > 0
		})
	}
	end := len(list)
	switch {
	case p.first > 0:
		end = min(end, start+p.first)
	case p.first < 0:
		end = start
	}
	conn := &model.AppConnection{
		Nodes: make([]model.App, 0, end-start), Edges: make([]model.AppEdge, 0, end-start), TotalCount: len(list),
		PageInfo: &model.PageInfo{HasNextPage: end < len(list), HasPreviousPage: start > 0},
	}
	for _, a := range list[start:end] {
		n := mapAppSummary(a)
		conn.Nodes = append(conn.Nodes, *n)
		conn.Edges = append(conn.Edges, model.AppEdge{Cursor: encodeCursor(a.AppRef), Node: n})
	}
	if len(conn.Edges) > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[len(conn.Edges)-1].Cursor
	}
	return conn
}

// proxySources reads where a proxy's port and configuration come from, once
// per app and operation, batched with every other app's.
func (r *Resolver) proxySources(ctx context.Context, p *model.Proxy) (*apps.ProxySources, error) {
	if err := apps.ValidateAppID("id", p.ForwardHost); err != nil {
		return nil, err // a host someone else forwards to something that cannot be an app
	}
	return r.loaders(ctx).proxySources.Load(ctx, apps.AppRef{ID: p.ForwardHost})
}
