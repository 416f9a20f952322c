package fake

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// endpointJSON renders the Endpoint fields the 2.21 spec knows.
func endpointJSON(e Endpoint) map[string]any {
	return map[string]any{
		"Id":        e.ID,
		"Name":      e.Name,
		"Type":      e.Type,
		"URL":       e.URL,
		"GroupId":   1,
		"PublicURL": e.PublicURL,
		"Status":    e.Status,
		"Snapshots": []any{},
		"TagIds":    []int{},
		"TLSConfig": map[string]any{"TLS": false, "TLSSkipVerify": false},
		"SecuritySettings": map[string]any{
			"allowBindMountsForRegularUsers": true, "allowPrivilegedModeForRegularUsers": true,
			"allowVolumeBrowserForRegularUsers": false, "allowHostNamespaceForRegularUsers": true,
			"allowDeviceMappingForRegularUsers": true, "allowStackManagementForRegularUsers": true,
			"allowContainerCapabilitiesForRegularUsers": true, "allowSysctlSettingForRegularUsers": true,
			"enableHostManagementFeatures": false,
		},
		"UserAccessPolicies":  map[string]any{},
		"TeamAccessPolicies":  map[string]any{},
		"EdgeCheckinInterval": 0,
		"Kubernetes":          map[string]any{"Snapshots": []any{}, "Configuration": map[string]any{}},
		"Agent":               map[string]any{"Version": ""},
		"Heartbeat":           false,
		"QueryDate":           0,
		"Gpus":                []any{},
	}
}

// intsParam reads an array query parameter sent as name[]=1&name[]=2 (or
// the bare name).
func intsParam(r *http.Request, name string) []int {
	q := r.URL.Query()
	var out []int
	for _, raw := range append(q[name+"[]"], q[name]...) {
		for _, part := range strings.Split(raw, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(part)); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func (s *Server) handleListEndpoints(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, search := q.Get("name"), strings.ToLower(q.Get("search"))
	types, status, ids := intsParam(r, "types"), intsParam(r, "status"), intsParam(r, "endpointIds")
	s.mu.Lock()
	var list []Endpoint
	for _, e := range s.endpoints {
		if name != "" && e.Name != name {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(e.Name), search) {
			continue
		}
		if len(types) > 0 && !slices.Contains(types, e.Type) {
			continue
		}
		if len(status) > 0 && !slices.Contains(status, e.Status) {
			continue
		}
		if len(ids) > 0 && !slices.Contains(ids, e.ID) {
			continue
		}
		list = append(list, e)
	}
	total := len(s.endpoints)
	s.mu.Unlock()
	count := len(list)
	start, _ := strconv.Atoi(q.Get("start"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	if start > 0 { // 1-based
		list = list[min(start-1, len(list)):]
	}
	if limit > 0 {
		list = list[:min(limit, len(list))]
	}
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		out = append(out, endpointJSON(e))
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(count))
	w.Header().Set("X-Total-Available", strconv.Itoa(total))
	writeJSON(w, 200, out)
}

func (s *Server) handleGetEndpoint(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		writeErr(w, perr(400, "Invalid environment identifier route variable", "invalid syntax"))
		return
	}
	s.mu.Lock()
	e, found := s.endpointLocked(id)
	var body map[string]any
	if found {
		body = endpointJSON(*e)
	}
	s.mu.Unlock()
	if !found {
		writeErr(w, errEnvNotFound)
		return
	}
	writeJSON(w, 200, body)
}
