package apps

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/library/dotenv"
	"github.com/appmanage/appmanage/ops"
)

// An app's desired state must be recoverable from its repository alone, so
// that repairApp can rebuild whatever was lost upstream. Most of it is
// already there: the compose file and .env (the stack, its settings, W9_URL
// = the default domain, W9_HTTP_PORT / W9_HTTPS_PORT and the containers'
// labels = the proxy's forward port and scheme), src/nginx_proxy.conf (the
// proxy's extra configuration). The one thing no file of the material says
// is the full list of the app's domains: desiredFile records it.
//
//	{"domains": ["blog.example.com", "www.example.com"]}
//
// Install writes it when the install has domains; every domain operation
// that changes the app's domains (addAppDomains, updateAppProxy,
// deleteAppProxy, deleteAppProxies) rewrites it in its "url" step, in the
// same commit as a W9_URL change, undone with the operation. Compose ignores
// the file, so a commit that changes only it does not make the stack
// STACK_BEHIND. Without the file (an app installed before it existed, or
// never given a domain) the desired domains are the host of W9_URL when it
// is a domain name (not host:port).
const desiredFile = ".appmanage.json"

type desiredRecord struct {
	Domains []string `json:"domains"`
}

// encodeDesired is the record of domains: lower-cased, each once, in order.
func encodeDesired(domains []string) []byte {
	rec := desiredRecord{Domains: []string{}}
	for _, d := range domains {
		if d = strings.ToLower(strings.TrimSpace(d)); d != "" && !slices.Contains(rec.Domains, d) {
			rec.Domains = append(rec.Domains, d)
		}
	}
	b, _ := json.MarshalIndent(rec, "", "  ")
	return append(b, '\n')
}

// desiredDomains are the domains the app should be published under, read
// through read (one commit of its repository), and where they come from.
func desiredDomains(ctx context.Context, read repoReader, env *dotenv.File) ([]string, string, error) {
	b, found, err := read(ctx, desiredFile)
	if err != nil {
		return nil, "", err
	}
	if found {
		var rec desiredRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, "", fmt.Errorf("%s cannot be read: %w", desiredFile, err)
		}
		out := make([]string, 0, len(rec.Domains))
		for _, d := range rec.Domains {
			if d = strings.ToLower(strings.TrimSpace(d)); d != "" && !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
		return out, desiredFile, nil
	}
	if env == nil {
		return nil, "none", nil
	}
	raw, _ := env.Get("W9_URL")
	if domainURL(raw) {
		return []string{urlHost(raw)}, ".env W9_URL", nil
	}
	return nil, "none", nil
}

// domainURL reports whether a W9_URL value names a domain (an install with
// domains writes the bare default domain) rather than host:port or an IP.
func domainURL(raw string) bool {
	raw = strings.TrimSpace(raw)
	if raw == "" || strings.Contains(raw, "://") {
		return false
	}
	if strings.Contains(raw, ":") || strings.Contains(raw, "/") {
		return false
	}
	_, err := NormalizeDomain("W9_URL", raw)
	return err == nil && strings.Contains(raw, ".")
}

// --- the record, kept by the domain operations' "url" step -----------------

const keyRecord = "recordBefore" // recordChange

// recordChange is the journalled edit of desiredFile.
type recordChange struct {
	Existed bool   `json:"existed"`
	Old     []byte `json:"old,omitempty"`
	New     []byte `json:"new"`
	Changed bool   `json:"changed"`
}

// commitURLAndRecord commits, as one commit, the W9_URL change ch (when it
// changed) and the record of the app's domains as its NPM hosts carry them
// now (when the record differs). The record's old state is journalled on
// the first attempt, so undoURL can put it back; a retried or resumed
// step finds what already landed and commits only the rest. env (at blob
// envSHA) is the .env stepURL read, or nil.
func (s *Service) commitURLAndRecord(ctx context.Context, r *ops.Run, appID string, ch urlChange, env *dotenv.File, envSHA string) (bool, error) {
	var rc recordChange
	ok, err := r.Get(keyRecord, &rc)
	if err != nil {
		return false, err
	}
	cur, recSHA, found, err := s.readRecord(ctx, appID)
	if err != nil {
		return false, err
	}
	if !ok {
		own, err := s.appProxies(ctx, appID)
		if err != nil {
			return false, err
		}
		slices.SortFunc(own, func(x, y proxymanager.ProxyHost) int { return x.ID - y.ID })
		rc = recordChange{Existed: found, Old: cur, New: encodeDesired(allDomains(own))}
		rc.Changed = !found || !bytes.Equal(cur, rc.New)
		if err := r.Set(keyRecord, rc); err != nil {
			return false, err
		}
	}
	var files []gitea.FileChange
	msg := "Record the domains of " + appID + " in " + desiredFile
	if ch.Changed {
		if env == nil {
			if env, envSHA, err = s.envFile(ctx, appID); err != nil {
				return false, err
			}
		}
		if old, _ := env.Get("W9_URL"); old != ch.New {
			if err := env.Set("W9_URL", ch.New); err != nil {
				return false, apperr.Invalid("domains", "W9_URL: %v", err)
			}
			files = append(files, gitea.FileChange{Operation: gitea.OpUpdate, Path: ".env", Content: env.Bytes(), SHA: envSHA})
			msg = fmt.Sprintf("Set W9_URL of %s to %s", appID, ch.New)
		}
	}
	if rc.Changed && (!found || !bytes.Equal(cur, rc.New)) {
		files = append(files, recordFile(rc.New, recSHA, found))
		if len(files) == 2 {
			msg += " and record its domains in " + desiredFile
		}
	}
	if len(files) == 0 {
		return false, nil
	}
	if _, err := s.repos.CommitFiles(ctx, appID, gitea.Commit{Branch: "main", Message: msg, Files: files}); err != nil {
		return false, upstreamErr("gitea", err, "commit .env and "+desiredFile)
	}
	if rc.Changed {
		r.Logf("recorded the app's domains in %s", desiredFile)
	}
	return true, nil
}

func recordFile(content []byte, sha string, exists bool) gitea.FileChange {
	if exists {
		return gitea.FileChange{Operation: gitea.OpUpdate, Path: desiredFile, Content: content, SHA: sha}
	}
	return gitea.FileChange{Operation: gitea.OpCreate, Path: desiredFile, Content: content}
}

func (s *Service) undoRecordDomains(ctx context.Context, r *ops.Run) error {
	var ch recordChange
	if ok, err := r.Get(keyRecord, &ch); err != nil || !ok || !ch.Changed {
		return err
	}
	cur, sha, found, err := s.readRecord(ctx, r.AppID())
	if err != nil {
		return err
	}
	msg := "Restore " + desiredFile + " of " + r.AppID()
	switch {
	case !ch.Existed && !found, ch.Existed && found && bytes.Equal(cur, ch.Old):
		return nil
	case !ch.Existed:
		_, err = s.repos.CommitFiles(ctx, r.AppID(), gitea.Commit{Branch: "main", Message: msg,
			Files: []gitea.FileChange{{Operation: gitea.OpDelete, Path: desiredFile, SHA: sha}}})
		if err != nil {
			return upstreamErr("gitea", err, "delete "+desiredFile)
		}
	default:
		if err := s.writeRecord(ctx, r.AppID(), ch.Old, sha, found, msg); err != nil {
			return err
		}
	}
	r.Logf("%s restored", desiredFile)
	return nil
}

// readRecord reads desiredFile at the head of main.
func (s *Service) readRecord(ctx context.Context, appID string) (content []byte, sha string, found bool, err error) {
	f, err := s.repos.GetFile(ctx, appID, desiredFile, "main")
	if notFound(err) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, upstreamErr("gitea", err, "read "+desiredFile)
	}
	return f.Content, f.SHA, true, nil
}

func (s *Service) writeRecord(ctx context.Context, appID string, content []byte, sha string, exists bool, msg string) error {
	if _, err := s.repos.CommitFiles(ctx, appID, gitea.Commit{Branch: "main", Message: msg,
		Files: []gitea.FileChange{recordFile(content, sha, exists)}}); err != nil {
		return upstreamErr("gitea", err, "commit "+desiredFile)
	}
	return nil
}
