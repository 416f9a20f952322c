package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/appmanage/appmanage/apperr"
)

// GiteaWebhook handles one signed delivery of a Gitea push webhook: event
// is X-Gitea-Event, signature X-Gitea-Signature. It returns the operation
// it started ("" when none was needed) and a message.
type GiteaWebhook func(ctx context.Context, event, signature string, body []byte) (operationID, message string, err error)

// maxWebhookBody bounds a delivery (Gitea's push payloads are a few KiB,
// with at most 20 commits listed).
const maxWebhookBody = 1 << 20

// giteaWebhookHandler serves POST /hooks/gitea. It needs no API key: the
// body's HMAC signature with the installation's secret is the credential.
// Answers: 202 with the operation started, 200 when nothing had to run,
// 401 unsigned or wrongly signed, 404 a repository that is not an app of
// ours, 409 another operation holds the app. Error details stay in the log
// at debug level; the answer says only what Gitea's delivery log needs.
func giteaWebhookHandler(h GiteaWebhook, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			writeHookJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large or unreadable"})
			return
		}
		event := r.Header.Get("X-Gitea-Event")
		if event == "" {
			event = r.Header.Get("X-Gogs-Event")
		}
		opID, msg, err := h(r.Context(), event, r.Header.Get("X-Gitea-Signature"), body)
		if err != nil {
			status := http.StatusInternalServerError
			code := apperr.CodeOf(err)
			switch code {
			case apperr.Unauthenticated:
				status = http.StatusUnauthorized
			case apperr.NotFound:
				status = http.StatusNotFound
			case apperr.Conflict:
				status = http.StatusConflict
			case apperr.ValidationFailed, apperr.PreconditionFailed:
				status = http.StatusUnprocessableEntity
			case apperr.UpstreamUnavailable, apperr.UpstreamRejected:
				status = http.StatusBadGateway
			}
			text := string(code)
			var ae *apperr.Error
			if errors.As(err, &ae) && code != apperr.Internal && code != apperr.Unauthenticated {
				text = ae.Error()
			}
			log.DebugContext(r.Context(), "gitea webhook refused", "status", status, "error", err)
			writeHookJSON(w, status, map[string]string{"error": text})
			return
		}
		if opID == "" {
			writeHookJSON(w, http.StatusOK, map[string]string{"message": msg})
			return
		}
		writeHookJSON(w, http.StatusAccepted, map[string]string{"operationId": opID, "message": msg})
	})
}

func writeHookJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
