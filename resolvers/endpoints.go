package resolvers

import (
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/graph/model"
)

// mapEndpoint maps an endpoint with its app count.
func mapEndpoint(e portainer.Endpoint, appCount int) model.Endpoint {
	st := model.EndpointStatusDown
	if e.Status == portainer.EndpointStatusUp {
		st = model.EndpointStatusUp
	}
	k := e.Kind()
	return model.Endpoint{ID: e.ID, Name: e.Name, Type: e.Type, Kind: model.EndpointKind(k), Docker: k.Docker(),
		Kubernetes: k.Kubernetes(), URL: ptr(e.URL), Status: st, AppCount: appCount}
}
