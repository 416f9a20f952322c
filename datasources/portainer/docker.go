package portainer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/appmanage/appmanage/datasources/upstream"
)

// Calls through Portainer's Docker proxy: /endpoints/{id}/docker/<Docker
// Engine path>, answered in Docker's own shapes.

func dockerPath(endpointID int, format string, args ...any) string {
	return fmt.Sprintf("/endpoints/%d/docker", endpointID) + fmt.Sprintf(format, args...)
}

func labelFilters(labels []string) (string, bool) {
	if len(labels) == 0 {
		return "", false
	}
	b, _ := json.Marshal(map[string][]string{"label": labels})
	return string(b), true
}

// ListContainers lists the containers of endpointID matching f.
// The list is shared with other callers that got the same answer: do not
// modify it.
func (c *Client) ListContainers(ctx context.Context, endpointID int, f ContainerFilter) ([]Container, error) {
	q := url.Values{}
	if f.All {
		q.Set("all", "1")
	}
	if s, ok := labelFilters(f.Labels); ok {
		q.Set("filters", s)
	}
	var out []Container
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/endpoints/{id}/docker/containers/json",
		Path: dockerPath(endpointID, "/containers/json"), Query: q, Result: &out, Memo: &c.lists,
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []Container{}
	}
	return out, nil
}

// InspectContainer returns Docker's inspect answer; ErrNotFound for an
// unknown container.
func (c *Client) InspectContainer(ctx context.Context, endpointID int, id string) (*ContainerJSON, error) {
	var out ContainerJSON
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/endpoints/{id}/docker/containers/{cid}/json",
		Path: dockerPath(endpointID, "/containers/%s/json", url.PathEscape(id)), Result: &out,
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListVolumes lists the volumes of endpointID carrying all of labels
// ("key" or "key=value").
func (c *Client) ListVolumes(ctx context.Context, endpointID int, labels []string) ([]Volume, error) {
	q := url.Values{}
	if s, ok := labelFilters(labels); ok {
		q.Set("filters", s)
	}
	var out struct {
		Volumes []Volume `json:"Volumes"`
	}
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/endpoints/{id}/docker/volumes",
		Path: dockerPath(endpointID, "/volumes"), Query: q, Result: &out,
	})
	if err != nil {
		return nil, err
	}
	if out.Volumes == nil {
		out.Volumes = []Volume{}
	}
	return out.Volumes, nil
}

// DeleteVolume removes a volume; ErrNotFound when it does not exist and
// ErrConflict while a container uses it.
func (c *Client) DeleteVolume(ctx context.Context, endpointID int, name string) error {
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodDelete, Route: "/endpoints/{id}/docker/volumes/{name}",
		Path: dockerPath(endpointID, "/volumes/%s", url.PathEscape(name)),
	})
	return err
}
