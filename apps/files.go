package apps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	composedotenv "github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/ops"
)

// Bounds of UpdateAppFiles.
const (
	MaxEditFiles     = 100
	MaxEditFileBytes = 1 << 20 // one file
	MaxEditBytes     = 4 << 20 // all files of one change
	maxPathLen       = 255
	maxMessageLen    = 1000
)

const (
	composeFileName = "docker-compose.yml"
	envFileName     = ".env"
)

// UpdateAppFiles writes the edits to the app's repository as one commit,
// then redeploys. Everything is checked before anything is written: the
// paths stay inside the repository, the sizes are bounded, and a changed
// docker-compose.yml (or .env) must load with compose-go with the app's
// .env; a file that does not gets VALIDATION_FAILED naming it and the
// loader's message.
func (s *Service) UpdateAppFiles(ctx context.Context, id string, edits []FileEdit, message, idempotencyKey string) (*ops.Operation, error) {
	if op, done, err := s.replay(ctx, idempotencyKey, KindUpdateFiles, id); done {
		return op, err
	}
	clean, err := validateEdits(edits)
	if err != nil {
		return nil, err
	}
	message = strings.TrimSpace(message)
	if len(message) > maxMessageLen || strings.ContainsRune(message, 0) || !utf8.ValidString(message) {
		return nil, apperr.Invalid("message", "want at most %d characters of text", maxMessageLen)
	}
	if err := s.refuseKube(ctx, id, "editing the material"); err != nil {
		return nil, err
	}
	in := MaterialInput{Edits: clean, Message: message}
	return s.submitMaterial(ctx, KindUpdateFiles, id, idempotencyKey, in, func(ctx context.Context, repo, branch string, st *portainer.Stack) error {
		return s.checkComposeEdits(ctx, repo, branch, clean)
	})
}

// validateEdits checks paths and sizes and returns the edits with clean
// paths.
func validateEdits(edits []FileEdit) ([]FileEdit, error) {
	if len(edits) == 0 {
		return nil, apperr.Invalid("files", "nothing to change")
	}
	if len(edits) > MaxEditFiles {
		return nil, apperr.Invalid("files", "at most %d files per change", MaxEditFiles)
	}
	out := make([]FileEdit, 0, len(edits))
	seen := map[string]bool{}
	total := 0
	for i, e := range edits {
		field := fmt.Sprintf("files[%d]", i)
		p, err := cleanRepoPath(e.Path)
		if err != nil {
			return nil, apperr.Invalid(field+".path", "%q: %v", clip(e.Path), err)
		}
		if seen[strings.ToLower(p)] {
			return nil, apperr.Invalid(field+".path", "%s is given twice", p)
		}
		seen[strings.ToLower(p)] = true
		switch {
		case e.Delete && len(e.Content) > 0:
			return nil, apperr.Invalid(field, "%s: give content or delete, not both", p)
		case e.Delete && (p == composeFileName || p == envFileName):
			return nil, apperr.Invalid(field, "%s: the app cannot run without it; it can be changed, not deleted", p)
		case len(e.Content) > MaxEditFileBytes:
			return nil, apperr.Invalid(field+".content", "%s: %d bytes; a file may have at most %d", p, len(e.Content), MaxEditFileBytes)
		}
		total += len(e.Content)
		if total > MaxEditBytes {
			return nil, apperr.Invalid("files", "the change holds more than %d bytes", MaxEditBytes)
		}
		out = append(out, FileEdit{Path: p, Content: e.Content, Delete: e.Delete})
	}
	return out, nil
}

// cleanRepoPath confines a path to the repository: relative, no "." or
// ".." segment, nothing inside .git, no backslash, control character or
// empty segment.
func cleanRepoPath(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("empty path")
	case len(p) > maxPathLen:
		return "", fmt.Errorf("longer than %d bytes", maxPathLen)
	case !utf8.ValidString(p):
		return "", errors.New("not UTF-8")
	case strings.HasPrefix(p, "/"):
		return "", errors.New("absolute paths are not allowed")
	case strings.Contains(p, `\`):
		return "", errors.New("backslashes are not allowed")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", errors.New("control characters are not allowed")
		}
	}
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "":
			return "", errors.New("empty path segment")
		case seg == "." || seg == "..":
			return "", fmt.Errorf("%q segments are not allowed", seg)
		case strings.EqualFold(seg, ".git"):
			return "", errors.New("nothing inside .git may be changed")
		}
	}
	return path.Clean(p), nil
}

// checkComposeEdits loads the compose file the change would leave, with the
// .env it would leave, when the change touches either.
func (s *Service) checkComposeEdits(ctx context.Context, repo, branch string, edits []FileEdit) error {
	var compose, env []byte
	var composeAt, envAt = -1, -1
	for i, e := range edits {
		switch e.Path {
		case composeFileName:
			compose, composeAt = e.Content, i
		case envFileName:
			env, envAt = e.Content, i
		}
	}
	if composeAt < 0 && envAt < 0 {
		return nil
	}
	read := func(p string) ([]byte, error) {
		b, err := s.repos.GetRawFile(ctx, repo, p, branch)
		if notFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, upstreamErr("gitea", err, "read "+p)
		}
		return b, nil
	}
	var err error
	if composeAt < 0 {
		if compose, err = read(composeFileName); err != nil {
			return err
		}
	}
	if envAt < 0 {
		if env, err = read(envFileName); err != nil {
			return err
		}
	}
	if lerr := loadCompose(ctx, repo, compose, env); lerr != nil {
		field, file := fmt.Sprintf("files[%d]", composeAt), composeFileName
		if errors.Is(lerr, errEnvFile) || composeAt < 0 {
			field, file = fmt.Sprintf("files[%d]", envAt), envFileName
		}
		return apperr.Invalid(field, "%s does not load with compose: %v", file, lerr)
	}
	return nil
}

var errEnvFile = errors.New(".env")

// loadCompose loads a compose file the way the stack will: project name =
// app id, variables from the repository's .env and nothing from our own
// environment; nothing is read from disk.
func loadCompose(ctx context.Context, appID string, compose, env []byte) error {
	_, err := loadProject(ctx, appID, compose, env)
	return err
}

// loadProject is loadCompose returning the loaded project.
func loadProject(ctx context.Context, appID string, compose, env []byte) (*types.Project, error) {
	envMap, err := composedotenv.ParseWithLookup(bytes.NewReader(env), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errEnvFile, err)
	}
	if err := library.CheckComposeYAML(compose); err != nil {
		return nil, err
	}
	project, err := loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  "/nonexistent/" + appID,
		ConfigFiles: []types.ConfigFile{{Filename: composeFileName, Content: compose}},
		Environment: envMap,
	}, func(o *loader.Options) {
		o.SetProjectName(appID, true)
		o.ResolvePaths = false
		o.SkipResolveEnvironment = true
		o.SkipResolveLabels = true
		o.Interpolate.Substitute = func(s string, m template.Mapping) (string, error) {
			return template.SubstituteWithOptions(s, m, template.WithoutLogging)
		}
	})
	if err != nil {
		return nil, err
	}
	if len(project.Services) == 0 {
		return nil, errors.New("no services")
	}
	return project, nil
}
