package apps

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/store"
)

// SettingsStore keeps run-time settings (SQLite).
type SettingsStore interface {
	GetSetting(ctx context.Context, key string) (store.Setting, error)
	SetSetting(ctx context.Context, key, value string, secret bool) error
	ListSettings(ctx context.Context) ([]store.Setting, error)
}

// SettingDef is a run-time setting users may change through the API.
type SettingDef struct {
	Key         string
	Description string
	Secret      bool
	// Upstream names the connection the setting belongs to ("" for none):
	// a change to it is tested live before it is saved.
	Upstream string
	validate func(string) error
}

func validURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return apperr.Invalid("value", "want an http:// or https:// URL")
	}
	if u.User != nil {
		return apperr.Invalid("value", "no credentials in the URL: give them in their own (secret) settings")
	}
	return nil
}

func validRetention(v string) error {
	if v == "" {
		return nil
	}
	if _, err := ParseRetention(v); err != nil {
		return err
	}
	return nil
}

// ParseRetention reads a retention: "90d" (days), a Go duration ("720h"),
// or "0" (keep forever).
func ParseRetention(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "0" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 36500 {
			return 0, apperr.Invalid("value", "want days as a whole number, e.g. 90d")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	dur, err := time.ParseDuration(v)
	if err != nil || dur < 0 {
		return 0, apperr.Invalid("value", "want a retention such as 90d, 720h or 0 (keep forever)")
	}
	return dur, nil
}

// DefaultAuditRetention is how long audit rows are kept when the
// auditRetention setting is unset.
const DefaultAuditRetention = 90 * 24 * time.Hour

// Settings users can change at run time; each overrides a start-up flag.
var settingDefs = []SettingDef{
	{Key: "publicHost", Description: "Host name or IP address used in an app's W9_URL (host:port) when it has no domain; overrides --public-host.",
		validate: func(v string) error {
			if v == "" || net.ParseIP(v) != nil {
				return nil
			}
			_, err := NormalizeDomain("value", v)
			if err != nil && !strings.Contains(v, ".") && labelPattern.MatchString(v) {
				return nil // a single-label host name such as "localhost"
			}
			return err
		}},
	{Key: "defaultEndpointId", Description: "Portainer endpoint used when an install names none (0: the first one that is up); overrides --portainer-endpoint.",
		validate: func(v string) error {
			if n, err := strconv.Atoi(v); err != nil || n < 0 {
				return apperr.Invalid("value", "want a whole number >= 0")
			}
			return nil
		}},
	{Key: "registryMirrors", Description: "Registry mirrors image checks try before an image's own registry, as registry=mirror[,...] (e.g. docker.io=mirror.example:5000); an image only a mirror has is committed under the mirror's reference. Overrides --registry-mirrors.",
		validate: func(v string) error {
			_, err := ParseMirrors(v)
			return err
		}},
	{Key: "auditRetention", Description: "How long audit log rows are kept: days (90d), a duration (720h) or 0 (forever); default 90d.",
		validate: validRetention},

	{Key: "giteaUrl", Upstream: UpstreamGitea, validate: validURL, Description: "Gitea root URL; overrides --gitea-url."},
	{Key: "giteaCloneUrl", Upstream: UpstreamGitea, validate: validURL, Description: "Gitea root URL as Portainer reaches it; overrides --gitea-clone-url."},
	{Key: "giteaToken", Upstream: UpstreamGitea, Secret: true, Description: "Gitea token with write:repository (wins over user and password); overrides --gitea-token."},
	{Key: "giteaUser", Upstream: UpstreamGitea, Description: "Gitea user for basic auth, also the clone user; overrides --gitea-user."},
	{Key: "giteaPassword", Upstream: UpstreamGitea, Secret: true, Description: "Gitea password for basic auth; overrides --gitea-password."},
	{Key: "giteaOwner", Upstream: UpstreamGitea, Description: "User or organisation owning app repositories; overrides --gitea-owner."},
	{Key: "portainerUrl", Upstream: UpstreamPortainer, validate: validURL, Description: "Portainer URL; overrides --portainer-url."},
	{Key: "portainerApiKey", Upstream: UpstreamPortainer, Secret: true, Description: "Portainer API key (ptr_...); overrides --portainer-api-key."},
	{Key: "portainerUser", Upstream: UpstreamPortainer, Description: "Portainer user for JWT login instead of a key; overrides --portainer-user."},
	{Key: "portainerPassword", Upstream: UpstreamPortainer, Secret: true, Description: "Portainer password; overrides --portainer-password."},
	{Key: "npmUrl", Upstream: UpstreamNPM, validate: validURL, Description: "Nginx Proxy Manager admin URL; overrides --npm-url."},
	{Key: "npmEmail", Upstream: UpstreamNPM, Description: "NPM user's email; overrides --npm-email."},
	{Key: "npmPassword", Upstream: UpstreamNPM, Secret: true, Description: "NPM user's password; overrides --npm-password."},
	{Key: "reconcileInterval", Description: "How often the reconciler computes every app's drift (a Go duration, at least 10s; default 5m).",
		validate: func(v string) error {
			if d, err := time.ParseDuration(v); err != nil || d < minReconcileInterval {
				return apperr.Invalid("value", "want a Go duration of at least %s, such as 5m", minReconcileInterval)
			}
			return nil
		}},
	{Key: "allowPrivateSourceUrls", Description: "true: installFromSource may import from loopback, link-local and private addresses (the local network); false (default): such gitUrl hosts are refused.",
		validate: func(v string) error {
			if _, err := strconv.ParseBool(v); err != nil {
				return apperr.Invalid("value", "want true or false")
			}
			return nil
		}},
	{Key: "autoRepair", Description: "true: the reconciler starts repairApp for every app whose drift is all repairable; false (default): it only reports.",
		validate: func(v string) error {
			if _, err := strconv.ParseBool(v); err != nil {
				return apperr.Invalid("value", "want true or false")
			}
			return nil
		}},
}

// SettingSecrecy reports whether key names a known setting and whether
// that setting is secret (its value is never shown or logged).
func SettingSecrecy(key string) (known, secret bool) {
	for _, d := range settingDefs {
		if d.Key == key {
			return true, d.Secret
		}
	}
	return false, false
}

// SettingView is a setting as the API shows it: secret values never leave.
type SettingView struct {
	SettingDef
	Value     *string
	UpdatedAt *time.Time
}

// UseSettings connects the run-time settings store.
func (s *Service) UseSettings(st SettingsStore) { s.settings = st }

// Settings lists every known setting with its stored value.
func (s *Service) Settings(ctx context.Context) ([]SettingView, error) {
	if s.settings == nil {
		return nil, apperr.NotImplementedYet("run-time settings store")
	}
	stored, err := s.settings.ListSettings(ctx)
	if err != nil {
		return nil, err
	}
	byKey := map[string]store.Setting{}
	for _, st := range stored {
		byKey[st.Key] = st
	}
	out := make([]SettingView, 0, len(settingDefs))
	for _, d := range settingDefs {
		v := SettingView{SettingDef: d}
		if st, ok := byKey[d.Key]; ok {
			at := st.UpdatedAt
			v.UpdatedAt = &at
			if !d.Secret && !st.Secret {
				val := st.Value
				v.Value = &val
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func settingDefsByKey() map[string]SettingDef {
	defs := map[string]SettingDef{}
	for _, d := range settingDefs {
		defs[d.Key] = d
	}
	return defs
}

// validateChanges checks every change against its definition. Messages
// never repeat a value (it may be a secret).
func (s *Service) validateChanges(changes []EnvSetting) error {
	defs := settingDefsByKey()
	seen := map[string]bool{}
	for i, c := range changes {
		field := "input[" + strconv.Itoa(i) + "]"
		d, ok := defs[c.Name]
		if !ok {
			return apperr.Invalid(field, "unknown setting %q", clip(c.Name))
		}
		if err := ValidateEnvValue(field, c.Value); err != nil {
			return err
		}
		if seen[c.Name] {
			return apperr.Invalid(field, "%s is given twice", c.Name)
		}
		seen[c.Name] = true
		if d.validate != nil {
			if err := d.validate(strings.TrimSpace(c.Value)); err != nil {
				return apperr.Invalid(field, "%s: %v", c.Name, err)
			}
		}
	}
	return nil
}

// UpdateSettings validates every change first. A change to an upstream
// connection is then tested live with a client built from the new
// connection (see liveTest); only when every test passes are the changes
// stored and the new clients published. Operations in flight finish their
// on the clients they started with.
func (s *Service) UpdateSettings(ctx context.Context, changes []EnvSetting) ([]SettingView, error) {
	if s.settings == nil {
		return nil, apperr.NotImplementedYet("run-time settings store")
	}
	if err := s.validateChanges(changes); err != nil {
		return nil, err
	}
	defs := settingDefsByKey()
	connection := false
	for _, c := range changes {
		connection = connection || defs[c.Name].Upstream != ""
	}
	if connection && !s.conn.enabled {
		return nil, apperr.NotImplementedYet("changing upstream connections at run time (the server did not wire client options)")
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	var next *upstreamSet
	var touched []string
	if connection {
		var err error
		if next, touched, err = s.candidate(ctx, changes); err != nil {
			return nil, err
		}
		for _, name := range touched {
			if _, err := s.liveTest(ctx, next, name); err != nil {
				return nil, err // nothing saved
			}
		}
	}
	if err := s.checkEndpointSetting(ctx, next, changes); err != nil {
		return nil, err
	}
	for _, c := range changes {
		if err := s.settings.SetSetting(ctx, c.Name, strings.TrimSpace(c.Value), defs[c.Name].Secret); err != nil {
			return nil, err
		}
	}
	if next != nil {
		s.publish(next, touched...)
	}
	return s.Settings(ctx)
}

// setting returns a stored setting, or "" when unset or unreadable.
func (s *Service) setting(ctx context.Context, key string) string {
	if s.settings == nil {
		return ""
	}
	st, err := s.settings.GetSetting(ctx, key)
	if err != nil {
		if !errors.Is(err, store.ErrSettingNotFound) {
			s.log.WarnContext(ctx, "read setting", "key", key, "error", err)
		}
		return ""
	}
	return st.Value
}

// AuditRetention is how long audit rows are kept: the auditRetention
// setting, else DefaultAuditRetention (0: forever).
func (s *Service) AuditRetention(ctx context.Context) time.Duration {
	v := s.setting(ctx, "auditRetention")
	if v == "" {
		return DefaultAuditRetention
	}
	d, err := ParseRetention(v)
	if err != nil {
		return DefaultAuditRetention
	}
	return d
}

// checkEndpointSetting checks a new defaultEndpointId against Portainer
// (the new connection's, when the change has one): the endpoint must
// exist. Down is allowed (installs then say so).
func (s *Service) checkEndpointSetting(ctx context.Context, next *upstreamSet, changes []EnvSetting) error {
	for i, c := range changes {
		if c.Name != "defaultEndpointId" {
			continue
		}
		id, _ := strconv.Atoi(strings.TrimSpace(c.Value))
		if id == 0 {
			return nil
		}
		set := next
		if set == nil {
			set = s.up.Load()
		}
		if set == nil {
			return nil // a Service without clients (the rules' own tests): nothing to check against
		}
		if _, err := set.stacks.GetEndpoint(ctx, id); notFound(err) {
			return apperr.Precondition("input["+strconv.Itoa(i)+"]", "Portainer has no endpoint %d", id)
		} else if err != nil {
			return upstreamErr(UpstreamPortainer, err, "portainer: read the endpoint")
		}
	}
	return nil
}
