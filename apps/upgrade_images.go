package apps

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/ops"
)

// PullProgress is one progress report of an image pull, as Docker's
// images/create stream gives it: a layer, its status ("Downloading",
// "Extracting", "Pull complete", ...) and, while bytes move, how many of
// how many.
type PullProgress struct {
	Layer   string `json:"layer,omitempty"`
	Status  string `json:"status"`
	Current int64  `json:"current,omitempty"`
	Total   int64  `json:"total,omitempty"`
}

// PullEvent is the structured detail of a pull's events (ops.Event.Detail
// holds {"pull": PullEvent}).
type PullEvent struct {
	Image string `json:"image"`
	PullProgress
}

type pullDetail struct {
	Pull *PullEvent `json:"pull,omitempty"`
}

// EventPull decodes the pull progress an event's detail carries; nil when
// it carries none.
func EventPull(detail string) *PullEvent {
	if detail == "" {
		return nil
	}
	var d pullDetail
	if json.Unmarshal([]byte(detail), &d) != nil {
		return nil
	}
	return d.Pull
}

// Images is what the upgrade needs of an endpoint's images beyond the
// checks the install shares (checkImages): the pull (Portainer's Docker
// proxy, images/create).
type Images interface {
	// PullImage pulls the image, calling progress for every report of the
	// stream, and fails when the stream ends in an error.
	PullImage(ctx context.Context, endpointID int, ref string, progress func(PullProgress)) error
}

// UseImages sets the image route the upgrade's pre-pull uses.
func (s *Service) UseImages(im Images) { s.images = im }

// pullEvery bounds how often one layer's byte counts become an event.
const pullEvery = 500 * time.Millisecond

// pullImage pulls ref, turning Docker's progress stream into events: each
// layer's status changes, and its byte counts at most every pullEvery or
// every tenth of the layer.
func (s *Service) pullImage(ctx context.Context, r *ops.Run, endpoint int, ref string) error {
	if s.images == nil {
		return apperr.NotImplementedYet("image pull through Portainer (the upgrade's pre-pull)")
	}
	type layerSeen struct {
		status  string
		current int64
		at      time.Time
	}
	seen := map[string]*layerSeen{}
	var bytes int64
	r.Logf("pulling image %s on endpoint %d", ref, endpoint)
	err := s.images.PullImage(ctx, endpoint, ref, func(p PullProgress) {
		detail := pullDetail{Pull: &PullEvent{Image: ref, PullProgress: p}}
		if p.Layer == "" {
			if p.Status != "" {
				r.LogDetail(detail, "pull %s: %s", ref, p.Status)
			}
			return
		}
		l := seen[p.Layer]
		if l == nil {
			l = &layerSeen{}
			seen[p.Layer] = l
		}
		now := time.Now()
		changed := p.Status != l.status
		grew := p.Total > 0 && p.Current > l.current && (p.Current-l.current >= p.Total/10 || now.Sub(l.at) >= pullEvery || p.Current == p.Total)
		if !changed && !grew {
			return
		}
		if p.Total > 0 && p.Current > l.current {
			bytes += p.Current - l.current
			l.current = p.Current
		}
		l.status, l.at = p.Status, now
		if p.Total > 0 {
			r.LogDetail(detail, "pull %s: layer %s %s %d/%d bytes", ref, p.Layer, p.Status, p.Current, p.Total)
		} else {
			r.LogDetail(detail, "pull %s: layer %s %s", ref, p.Layer, p.Status)
		}
	})
	if err != nil {
		return retryIfTransient(upstreamErr("portainer", err, fmt.Sprintf("pull image %s", ref)))
	}
	r.Logf("pulled image %s: %d layers, %d bytes", ref, len(seen), bytes)
	return nil
}
