package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/store"
)

const (
	// KeyPrefix starts every generated key, so leaked keys are recognisable
	// (secret scanners, logs).
	KeyPrefix = "am_"
	// SeedKeyName names the key that APPMANAGE_ADMIN_API_KEY seeds; it is
	// reserved so that rotation (SeedAdmin) only retires seeded keys.
	SeedKeyName = "APPMANAGE_ADMIN_API_KEY"
	// AdminKeyFile is the file Bootstrap writes in the data directory.
	AdminKeyFile = "admin.key"

	keyBytes      = 32
	displayPrefix = 8   // characters after KeyPrefix shown to identify a key
	maxKeyLen     = 512 // longer input is not a key; no need to hash it
	maxNameLen    = 100
	touchEvery    = time.Minute
)

// Service creates, lists, revokes and checks API keys.
type Service struct {
	db  *store.DB
	log *slog.Logger
	now func() time.Time // replaced in tests

	mu      sync.Mutex
	touched map[string]time.Time // key ID -> last time last_used_at was written
}

// NewService returns a Service over db.
func NewService(db *store.DB, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: db, log: log, now: time.Now, touched: map[string]time.Time{}}
}

// HashKey returns the hex SHA-256 of a plaintext key, the form keys are
// stored and looked up in. A fast unsalted hash is right here because
// generated keys carry 256 random bits: there is nothing to brute-force, and
// a slow KDF would only cost time on every request. (A short key set by an
// operator in APPMANAGE_ADMIN_API_KEY is the exception; SeedAdmin warns.)
func HashKey(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return hex.EncodeToString(sum[:])
}

// newKey returns a fresh plaintext key and its display prefix.
func newKey() (plaintext, prefix string, err error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate API key: %w", err)
	}
	enc := base64.RawURLEncoding.EncodeToString(b)
	return KeyPrefix + enc, enc[:displayPrefix], nil
}

// prefixOf returns the display prefix of a key. For keys that are not ours
// (an operator's APPMANAGE_ADMIN_API_KEY) it is taken from the hash, since
// the first characters of a short key would give away too much of it.
func prefixOf(plaintext, hash string) string {
	if rest, ok := strings.CutPrefix(plaintext, KeyPrefix); ok && len(rest) >= displayPrefix+16 {
		return rest[:displayPrefix]
	}
	return hash[:displayPrefix]
}

// Create makes a new key and returns its plaintext, which is shown once and
// never stored.
func (s *Service) Create(ctx context.Context, name string, scope Scope) (string, Key, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", Key{}, apperr.Invalid("name", "must not be empty")
	case utf8.RuneCountInString(name) > maxNameLen:
		return "", Key{}, apperr.Invalid("name", "must be at most %d characters", maxNameLen)
	case strings.EqualFold(name, SeedKeyName):
		return "", Key{}, apperr.Invalid("name", "%s is reserved for the key from the environment", SeedKeyName)
	case !scope.Valid():
		return "", Key{}, apperr.Invalid("scope", "unknown scope %q: want read, write or admin", scope)
	}
	plaintext, prefix, err := newKey()
	if err != nil {
		return "", Key{}, err
	}
	k, err := s.db.InsertAPIKey(ctx, store.APIKey{
		Name:      name,
		Prefix:    prefix,
		Hash:      HashKey(plaintext),
		Scope:     string(scope),
		CreatedAt: s.now().UTC(),
	})
	if err != nil {
		return "", Key{}, err
	}
	s.log.InfoContext(ctx, "created API key", "id", k.ID, "name", k.Name, "prefix", k.Prefix, "scope", k.Scope)
	return plaintext, keyOf(k), nil
}

// List returns every key, revoked ones included. No plaintext exists to
// return.
func (s *Service) List(ctx context.Context) ([]Key, error) {
	rows, err := s.db.ListAPIKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Key, 0, len(rows))
	for _, k := range rows {
		out = append(out, keyOf(k))
	}
	return out, nil
}

// Revoke revokes the key with that ID or display prefix (with or without
// "am_" in front) and returns it. Revoked keys stop working at once: every
// request looks its key up.
func (s *Service) Revoke(ctx context.Context, idOrPrefix string) (Key, error) {
	idOrPrefix = strings.TrimSpace(idOrPrefix)
	if rest, ok := strings.CutPrefix(idOrPrefix, KeyPrefix); ok && len(rest) == displayPrefix {
		idOrPrefix = rest
	}
	k, err := s.db.RevokeAPIKey(ctx, idOrPrefix)
	if err != nil {
		return Key{}, err
	}
	s.mu.Lock()
	delete(s.touched, k.ID)
	s.mu.Unlock()
	s.log.InfoContext(ctx, "revoked API key", "id", k.ID, "name", k.Name, "prefix", k.Prefix)
	return keyOf(k), nil
}

var (
	errMissingKey = apperr.New(apperr.Unauthenticated, "missing API key: send X-API-Key: KEY or Authorization: Bearer KEY")
	errInvalidKey = apperr.New(apperr.Unauthenticated, "invalid API key")
	errRevokedKey = apperr.New(apperr.Unauthenticated, "API key has been revoked")
)

// Authenticate checks a plaintext key and returns its principal. Failures are
// UNAUTHENTICATED (never naming the key); a database failure is INTERNAL.
func (s *Service) Authenticate(ctx context.Context, plaintext string) (*Principal, error) {
	plaintext = strings.TrimSpace(plaintext)
	if plaintext == "" {
		return nil, errMissingKey
	}
	if len(plaintext) > maxKeyLen {
		return nil, errInvalidKey
	}
	hash := HashKey(plaintext)
	k, err := s.db.APIKeyByHash(ctx, hash)
	if errors.Is(err, store.ErrAPIKeyNotFound) {
		return nil, errInvalidKey
	}
	if err != nil {
		return nil, apperr.Wrap(apperr.Internal, err, "look up API key")
	}
	// The lookup compared hashes in SQL; compare again in constant time so
	// that nothing about the stored hash leaks through timing here.
	if subtle.ConstantTimeCompare([]byte(k.Hash), []byte(hash)) != 1 {
		return nil, errInvalidKey
	}
	if k.Revoked() {
		return nil, errRevokedKey
	}
	scope := Scope(k.Scope)
	if !scope.Valid() {
		return nil, apperr.New(apperr.Internal, "API key %s has an unknown scope", k.ID)
	}
	s.touch(ctx, k.ID)
	return &Principal{KeyID: k.ID, KeyName: k.Name, Scope: scope}, nil
}

// touch records last use at most once per touchEvery per key, so a busy key
// does not turn every read into a write on the single writer connection.
func (s *Service) touch(ctx context.Context, id string) {
	now := s.now()
	s.mu.Lock()
	if last, ok := s.touched[id]; ok && now.Sub(last) < touchEvery {
		s.mu.Unlock()
		return
	}
	s.touched[id] = now
	s.mu.Unlock()
	// Detached from the request: a client hanging up should not lose the
	// record, but a stuck database must not hold the request either.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.db.TouchAPIKey(ctx, id, now); err != nil {
		s.log.WarnContext(ctx, "record API key use", "id", id, "err", err)
	}
}

// SeedAdmin makes plaintext (APPMANAGE_ADMIN_API_KEY) an active admin key
// named SeedKeyName. It is idempotent; a revoked or lower-scoped key with
// that value is reinstated, and keys seeded earlier from another value are
// revoked, so changing the variable rotates the key.
func (s *Service) SeedAdmin(ctx context.Context, plaintext string) error {
	plaintext = strings.TrimSpace(plaintext)
	if plaintext == "" {
		return apperr.Invalid(SeedKeyName, "must not be empty")
	}
	if len(plaintext) > maxKeyLen {
		return apperr.Invalid(SeedKeyName, "must be at most %d characters", maxKeyLen)
	}
	hash := HashKey(plaintext)
	k, res, err := s.db.SeedAPIKey(ctx, store.APIKey{
		Name:      SeedKeyName,
		Prefix:    prefixOf(plaintext, hash),
		Hash:      hash,
		Scope:     string(ScopeAdmin),
		CreatedAt: s.now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("seed admin API key: %w", err)
	}
	switch {
	case res.Created:
		s.log.InfoContext(ctx, "added admin API key from "+SeedKeyName, "id", k.ID, "prefix", k.Prefix)
	case res.Restored:
		s.log.WarnContext(ctx, "reinstated admin API key from "+SeedKeyName, "id", k.ID, "prefix", k.Prefix)
	}
	if res.Retired > 0 {
		s.log.InfoContext(ctx, "revoked earlier keys from "+SeedKeyName, "count", res.Retired)
	}
	if len(plaintext) < 24 {
		s.log.WarnContext(ctx, SeedKeyName+" is short; use a long random value", "length", len(plaintext))
	}
	return nil
}

// Bootstrap runs on start: when the database has never held a key, it
// creates an admin key and writes it to dataDir/admin.key (mode 0600, never
// overwriting an existing file) so the operator can get in. It returns the
// path and created=true then; the caller logs the path, never the key. With
// any key stored (even revoked ones), or after SeedAdmin, it does nothing.
func (s *Service) Bootstrap(ctx context.Context, dataDir string) (string, bool, error) {
	n, err := s.db.CountAPIKeys(ctx)
	if err != nil {
		return "", false, err
	}
	if n > 0 {
		return "", false, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", false, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dataDir, AdminKeyFile)
	plaintext, prefix, err := newKey()
	if err != nil {
		return "", false, err
	}
	// Write the file before storing the key: a stored key that nobody can
	// read would lock the operator out.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return path, false, fmt.Errorf("%s exists but the database holds no API key; remove the file or set %s: %w", path, SeedKeyName, err)
	}
	if err != nil {
		return "", false, fmt.Errorf("create %s: %w", path, err)
	}
	_, err = f.WriteString(plaintext + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		_, err = s.db.InsertAPIKey(ctx, store.APIKey{
			Name:      "first start (" + AdminKeyFile + ")",
			Prefix:    prefix,
			Hash:      HashKey(plaintext),
			Scope:     string(ScopeAdmin),
			CreatedAt: s.now().UTC(),
		})
	}
	if err != nil {
		_ = os.Remove(path)
		return "", false, fmt.Errorf("bootstrap admin API key: %w", err)
	}
	return path, true, nil
}
