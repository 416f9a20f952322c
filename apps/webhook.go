package apps

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/ops"
	"github.com/appmanage/appmanage/store"
)

// A Gitea push webhook on each app repository tells appmanage that the
// material changed (a user edited it in Gitea's UI, the spec's "Modify"),
// and appmanage redeploys the app. Each installation has its own secret,
// kept in the settings store as a secret (never listed, never logged);
// Gitea signs every delivery with it (X-Gitea-Signature: hex HMAC-SHA256 of
// the body).

// webhookRecord is what the settings store keeps per installation.
type webhookRecord struct {
	Operation string `json:"op"`     // the install that created it
	HookID    int64  `json:"hookId"` // 0 until Gitea answered
	Secret    string `json:"secret"`
}

func webhookKey(appID string) string { return "webhook:" + strings.ToLower(appID) }

func (s *Service) webhookRecord(ctx context.Context, appID string) (*webhookRecord, error) {
	if s.settings == nil {
		return nil, nil
	}
	st, err := s.settings.GetSetting(ctx, webhookKey(appID))
	if errors.Is(err, store.ErrSettingNotFound) || err == nil && st.Value == "" {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec webhookRecord
	if err := json.Unmarshal([]byte(st.Value), &rec); err != nil || rec.Secret == "" {
		return nil, nil // unreadable: as good as none
	}
	return &rec, nil
}

func (s *Service) saveWebhook(ctx context.Context, appID string, rec *webhookRecord) error {
	value := ""
	if rec != nil {
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		value = string(b)
	}
	return s.settings.SetSetting(ctx, webhookKey(appID), value, true)
}

// stepWebhook creates the repository's push webhook (install). Without a
// webhook URL (--webhook-url) or a settings store it does nothing. Run
// again it finds the hook it created (by URL: the repository is this
// install's own) and creates none.
func (s *Service) stepWebhook(ctx context.Context, r *ops.Run) error {
	if s.cfg.WebhookURL == "" || s.settings == nil {
		r.Logf("no webhook URL configured: Gitea will not report pushes (redeploy by hand after editing in Gitea)")
		return nil
	}
	appID := r.AppID()
	rec, err := s.webhookRecord(ctx, appID)
	if err != nil {
		return err
	}
	if rec != nil && rec.Operation == r.OperationID() && rec.HookID != 0 {
		r.Logf("push webhook %d already exists", rec.HookID)
		return nil
	}
	if rec == nil || rec.Operation != r.OperationID() {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		rec = &webhookRecord{Operation: r.OperationID(), Secret: hex.EncodeToString(secret)}
		if err := s.saveWebhook(ctx, appID, rec); err != nil {
			return err
		}
	}
	hooks, err := s.repos.ListHooks(ctx, appID)
	if err != nil {
		return retryIfTransient(upstreamErr("gitea", err, "list webhooks"))
	}
	for _, h := range hooks {
		if h.URL == s.cfg.WebhookURL {
			// Created by an attempt whose answer was lost, with rec's secret.
			rec.HookID = h.ID
		}
	}
	if rec.HookID == 0 {
		branch := "main"
		if ok, err := r.Get(keySourceBranch, &branch); err != nil || !ok {
			branch = "main" // an install: its material is on main
		}
		h, err := s.repos.CreateHook(ctx, appID, gitea.HookOptions{URL: s.cfg.WebhookURL, Secret: rec.Secret, BranchFilter: branch})
		if err != nil {
			return retryIfTransient(upstreamErr("gitea", err, "create the push webhook"))
		}
		rec.HookID = h.ID
	}
	if err := s.saveWebhook(ctx, appID, rec); err != nil {
		return err
	}
	r.Logf("push webhook %d reports changes of %s to %s", rec.HookID, appID, s.cfg.WebhookURL)
	return nil
}

// undoWebhook removes the webhook and forgets its secret. Both "already
// gone" and "never created" are done.
func (s *Service) undoWebhook(ctx context.Context, r *ops.Run) error {
	appID := r.AppID()
	rec, err := s.webhookRecord(ctx, appID)
	if err != nil || rec == nil {
		return err
	}
	if isInstallKind(r.Kind()) && rec.Operation != r.OperationID() {
		return nil // another installation's
	}
	if rec.HookID != 0 {
		if err := s.repos.DeleteHook(ctx, appID, rec.HookID); err != nil && !notFound(err) {
			return upstreamErr("gitea", err, "delete the push webhook")
		}
		r.Logf("deleted push webhook %d", rec.HookID)
	} else if hooks, err := s.repos.ListHooks(ctx, appID); err == nil {
		for _, h := range hooks {
			if h.URL == s.cfg.WebhookURL && s.cfg.WebhookURL != "" {
				if err := s.repos.DeleteHook(ctx, appID, h.ID); err != nil && !notFound(err) {
					return upstreamErr("gitea", err, "delete the push webhook")
				}
			}
		}
	} else if !notFound(err) {
		return upstreamErr("gitea", err, "list webhooks")
	}
	return s.saveWebhook(ctx, appID, nil)
}

// stepDeleteWebhook is uninstall's: remove the webhook (before the
// repository, which would take it along) and forget the secret.
func (s *Service) stepDeleteWebhook(ctx context.Context, r *ops.Run) error {
	if err := s.undoWebhook(ctx, r); err != nil {
		return err
	}
	return s.saveSourceRecord(ctx, r.AppID(), nil) // an app built from source is one no more
}

// PushResult says what a push webhook delivery did.
type PushResult struct {
	Operation *ops.Operation // the redeploy it started, nil when none was needed
	Message   string
}

// SignatureHeader is the header Gitea signs deliveries with.
const SignatureHeader = "X-Gitea-Signature"

// GiteaPush handles one delivery of a repository's push webhook: the body
// must be signed with that installation's secret (else UNAUTHENTICATED,
// and nothing runs); a repository that is not an app of ours is NOT_FOUND.
// A push to the branch the stack deploys starts one redeploy operation
// (the same push delivered again returns the same operation); a push the
// stack already runs, or to another branch, starts nothing.
func (s *Service) GiteaPush(ctx context.Context, event, signature string, body []byte) (*PushResult, error) {
	if signature == "" {
		return nil, apperr.New(apperr.Unauthenticated, "the delivery is not signed (%s)", SignatureHeader)
	}
	var p struct {
		Ref        string `json:"ref"`
		After      string `json:"after"`
		Repository struct {
			Name     string `json:"name"`
			FullName string `json:"full_name"`
		} `json:"repository"`
		HeadCommit *struct {
			Message string `json:"message"`
		} `json:"head_commit"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, apperr.New(apperr.Unauthenticated, "the delivery cannot be verified: its body is not a push payload")
	}
	owner, name, ok := strings.Cut(p.Repository.FullName, "/")
	if !ok || name == "" {
		owner, name = "", p.Repository.Name
	}
	if o := s.repos.Owner(); owner != "" && o != "" && !strings.EqualFold(o, owner) {
		return nil, apperr.New(apperr.NotFound, "repository %s is not one of appmanage's", clip(p.Repository.FullName))
	}
	if ValidateAppID("repository", name) != nil {
		return nil, apperr.New(apperr.NotFound, "repository %s is not an app of appmanage's", clip(p.Repository.FullName))
	}
	rec, err := s.webhookRecord(ctx, name)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, apperr.New(apperr.NotFound, "app %s has no push webhook", name)
	}
	mac := hmac.New(sha256.New, []byte(rec.Secret))
	mac.Write(body)
	got, err := hex.DecodeString(strings.TrimSpace(strings.TrimPrefix(signature, "sha256=")))
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return nil, apperr.New(apperr.Unauthenticated, "the delivery's signature does not match app %s's webhook secret", name)
	}
	if event != "" && event != "push" {
		return &PushResult{Message: "event " + clip(event) + " ignored"}, nil
	}
	s.history.forget(name)
	st, err := s.locateStack(ctx, name)
	if err != nil {
		return nil, err
	}
	if st.GitConfig == nil {
		return &PushResult{Message: "app " + name + " is not deployed from git: nothing to redeploy"}, nil
	}
	ref := st.GitConfig.ReferenceName
	if ref == "" {
		ref = "refs/heads/main"
	}
	if p.Ref != ref {
		return &PushResult{Message: "push to " + clip(p.Ref) + " ignored: the stack deploys " + ref}, nil
	}
	if p.After != "" && strings.EqualFold(p.After, st.GitConfig.ConfigHash) {
		return &PushResult{Message: "commit " + shortID(p.After) + " is already deployed"}, nil
	}
	if p.HeadCommit != nil && strings.Contains(p.HeadCommit.Message, operationTrailer) {
		// Our own commit: the operation that wrote it deploys it (or, having
		// failed, has reverted it).
		return &PushResult{Message: "commit " + shortID(p.After) + " was written by an appmanage operation, which deploys it"}, nil
	}
	key := ""
	if fullSHA(p.After) {
		key = "gitea-push:" + name + ":" + strings.ToLower(p.After)
	}
	op, err := s.RedeployApp(ctx, name, false, key)
	if err != nil {
		return nil, err
	}
	return &PushResult{Operation: op, Message: "redeploying " + name + " at " + shortID(p.After)}, nil
}
