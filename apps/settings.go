package apps

import (
	"context"
	"errors"
	"net"
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
	validate    func(string) error
}

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
	{Key: "reconcileInterval", Description: "How often the reconciler computes every app's drift (a Go duration, at least 10s; default 5m).",
		validate: func(v string) error {
			if d, err := time.ParseDuration(v); err != nil || d < minReconcileInterval {
				return apperr.Invalid("value", "want a Go duration of at least %s, such as 5m", minReconcileInterval)
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

// UpdateSettings validates every change first, then stores them.
func (s *Service) UpdateSettings(ctx context.Context, changes []EnvSetting) ([]SettingView, error) {
	if s.settings == nil {
		return nil, apperr.NotImplementedYet("run-time settings store")
	}
	defs := map[string]SettingDef{}
	for _, d := range settingDefs {
		defs[d.Key] = d
	}
	for i, c := range changes {
		field := "input[" + strconv.Itoa(i) + "]"
		d, ok := defs[c.Name]
		if !ok {
			return nil, apperr.Invalid(field, "unknown setting %q", clip(c.Name))
		}
		if err := ValidateEnvValue(field, c.Value); err != nil {
			return nil, err
		}
		if d.validate != nil {
			if err := d.validate(strings.TrimSpace(c.Value)); err != nil {
				return nil, apperr.Invalid(field, "%s: %v", c.Name, err)
			}
		}
	}
	for _, c := range changes {
		if err := s.settings.SetSetting(ctx, c.Name, strings.TrimSpace(c.Value), defs[c.Name].Secret); err != nil {
			return nil, err
		}
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
