package portainer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/appmanage/appmanage/datasources/upstream"
)

// Image is the Docker Engine's image inspect answer (GET /images/{name}/json),
// the fields appmanage reads.
type Image struct {
	ID           string   `json:"Id"`
	RepoTags     []string `json:"RepoTags"`
	RepoDigests  []string `json:"RepoDigests"`
	Created      string   `json:"Created"`
	Size         int64    `json:"Size"`
	Architecture string   `json:"Architecture"`
	Os           string   `json:"Os"`
	RootFS       struct {
		Type   string   `json:"Type"`
		Layers []string `json:"Layers"`
	} `json:"RootFS"`
}

// RegistryAuth is the credential Docker reads from X-Registry-Auth
// (base64url-encoded JSON) for a pull from a private registry.
type RegistryAuth struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	ServerAddress string `json:"serveraddress,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// header encodes a as Docker wants it: URL-safe base64 of the JSON.
func (a *RegistryAuth) header() string {
	b, _ := json.Marshal(a) // plain strings: cannot fail
	return base64.URLEncoding.EncodeToString(b)
}

// PullProgress is one line of Docker's pull progress. ID is the layer
// ("a2318d6c47ec") or, on the first line, the tag; it is empty on the
// closing lines ("Digest: sha256:...", "Status: Downloaded newer image
// for ..."). Current and Total are bytes while Status is "Downloading" or
// "Extracting", and 0 otherwise.
type PullProgress struct {
	ID      string
	Status  string
	Current int64
	Total   int64
}

// PullError is a pull that the daemon reported failed inside its 200
// progress stream ({"error":..., "errorDetail":{...}}): the registry
// broke off, a layer did not verify, the disk is full. A pull the daemon
// refused before streaming (unknown repository or tag, access denied)
// is an *upstream.APIError matching ErrNotFound instead.
type PullError struct {
	Ref     string
	Message string
}

func (e *PullError) Error() string {
	return fmt.Sprintf("portainer: pull %s: %s", e.Ref, e.Message)
}

// imagePath escapes each segment of a reference for the Docker path
// /images/{name}/json, whose name may hold slashes (registry/repo) that
// Docker's router takes as part of the name.
func imagePath(ref string) string {
	parts := strings.Split(ref, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// InspectImage returns the endpoint's image ref (a name with a tag or a
// digest, or an image id); ErrNotFound when the endpoint does not have it.
func (c *Client) InspectImage(ctx context.Context, endpointID int, ref string) (*Image, error) {
	if strings.TrimSpace(ref) == "" {
		return nil, errors.New("portainer: inspect image: empty reference")
	}
	var out Image
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/endpoints/{id}/docker/images/{name}/json",
		Path: dockerPath(endpointID, "/images/%s/json", imagePath(ref)), Result: &out,
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// splitRef cuts a reference into Docker's fromImage and tag parameters:
// "nginx:1.27" -> ("nginx", "1.27"), "reg:5000/a/b" -> ("reg:5000/a/b",
// "latest"), "nginx@sha256:..." -> ("nginx", "sha256:..."). A tag is
// always sent: an empty one makes Docker pull every tag of the repository.
func splitRef(ref string) (name, tag string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, "latest"
}

// pullLine is one line of Docker's JSON-lines pull answer.
type pullLine struct {
	Status         string `json:"status"`
	ID             string `json:"id"`
	ProgressDetail struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	} `json:"progressDetail"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// PullImage pulls ref onto the endpoint (POST /images/create), calling
// progress (when not nil) for each progress line as it arrives. auth, when
// not nil, is sent as X-Registry-Auth. The pull is bounded by the deploy
// timeout. A pull is idempotent, so a connection that fails or breaks off
// is retried (the daemon keeps the layers it already has); a refusal
// (ErrNotFound for an unknown repository, tag or denied access) and a
// *PullError from the stream are not.
func (c *Client) PullImage(ctx context.Context, endpointID int, ref string, auth *RegistryAuth, progress func(PullProgress)) error {
	if strings.TrimSpace(ref) == "" {
		return errors.New("portainer: pull image: empty reference")
	}
	name, tag := splitRef(ref)
	var h http.Header
	if auth != nil {
		h = http.Header{"X-Registry-Auth": {auth.header()}}
	}
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodPost, Route: "/endpoints/{id}/docker/images/create",
		Path:       dockerPath(endpointID, "/images/create"),
		Query:      url.Values{"fromImage": {name}, "tag": {tag}},
		Header:     h,
		Timeout:    c.deployTimeout,
		Idempotent: upstream.Bool(true),
		Stream: func(body io.Reader) error {
			dec := json.NewDecoder(body)
			for {
				var l pullLine
				if err := dec.Decode(&l); err != nil {
					if errors.Is(err, io.EOF) {
						return nil
					}
					var se *json.SyntaxError
					var te *json.UnmarshalTypeError
					if errors.As(err, &se) || errors.As(err, &te) {
						return fmt.Errorf("portainer: pull %s: undecodable progress: %w", ref, err)
					}
					return err // a read failure: the caller retries
				}
				if l.Error != "" || l.ErrorDetail != nil {
					msg := l.Error
					if msg == "" {
						msg = l.ErrorDetail.Message
					}
					return &PullError{Ref: ref, Message: msg}
				}
				if progress != nil {
					progress(PullProgress{ID: l.ID, Status: l.Status, Current: l.ProgressDetail.Current, Total: l.ProgressDetail.Total})
				}
			}
		},
	})
	return err
}
