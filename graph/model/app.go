package model

import "time"

// App is the GraphQL App aggregate's root. Only the fields every listing
// needs are filled eagerly; the rest (env, proxies, containers, ...) are
// resolved lazily through per-request dataloaders, so a query that asks for
// `id status` costs one stack list and nothing more.
type App struct {
	ID         string     `json:"id"`
	Status     AppStatus  `json:"status"`
	EndpointID *int       `json:"endpointId,omitempty"`
	Official   bool       `json:"official"`
	CreatedAt  *time.Time `json:"createdAt,omitempty"`

	// StackID is the Portainer stack id, 0 when the app has no stack (an
	// in-flight or failed install, or an unmanaged compose project).
	StackID int `json:"-"`
	// OperationID is the in-flight or failed operation that put the app in
	// the list when it has no stack.
	OperationID string `json:"-"`
}
