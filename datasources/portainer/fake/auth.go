package fake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// user is the identity a request authenticated as.
type user struct {
	ID       int
	Username string
	Admin    bool
}

// authenticated applies Portainer's bouncer: API key first (header, or
// ?x-api-key= with the key name matched case-insensitively), then the
// portainer_api_key cookie (which needs a CSRF token on writes), then the
// bearer token (or ?token=). Sending an API key together with an
// Authorization header is refused (2.20+).
func (s *Server) authenticated(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-API-Key")
		if key == "" {
			for k, v := range r.URL.Query() {
				if strings.EqualFold(k, "x-api-key") && len(v) > 0 {
					key = v[0]
				}
			}
		}
		authz := r.Header.Get("Authorization")
		if key != "" && authz != "" {
			writeErr(w, perr(403, "api key and auth header are not allowed at the same time", "forbidden"))
			return
		}
		if key != "" {
			s.mu.Lock()
			ok := s.apiKeys[key]
			s.mu.Unlock()
			if !ok {
				writeErr(w, perr(401, "Invalid JWT token", "unauthorized"))
				return
			}
			h(w, r)
			return
		}
		if c, err := r.Cookie("portainer_api_key"); err == nil && c.Value != "" {
			if _, err := s.verifyJWT(c.Value); err == nil {
				// gorilla/csrf guards cookie sessions: writes need the token
				// from a prior GET, which a server-side client never has.
				if !safeMethod(r.Method) && r.Header.Get("X-CSRF-Token") == "" {
					w.Header().Set("Content-Type", "text/plain; charset=utf-8")
					w.WriteHeader(http.StatusForbidden)
					_, _ = w.Write([]byte("Forbidden - CSRF token invalid\n"))
					return
				}
				h(w, r)
				return
			}
		}
		token := ""
		if after, ok := strings.CutPrefix(authz, "Bearer "); ok {
			token = strings.TrimSpace(after)
		} else if t := r.URL.Query().Get("token"); t != "" {
			token = t
		}
		if token == "" {
			writeErr(w, perr(401, "A valid authorization token is missing", "unauthorized"))
			return
		}
		if _, err := s.verifyJWT(token); err != nil {
			writeErr(w, perr(401, "Invalid JWT token", "unauthorized"))
			return
		}
		h(w, r)
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// currentUser is the only user the fake has: the admin (API keys belong to
// it too).
func (s *Server) currentUser() user {
	return user{ID: 1, Username: s.opts.AdminUser, Admin: true}
}

func (s *Server) handleAuth(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	now := time.Now()
	s.mu.Lock()
	banned := now.Before(s.bannedTill[ip])
	if !banned && s.opts.AuthRateLimit > 0 {
		hits := s.authHits[ip][:0]
		for _, t := range s.authHits[ip] {
			if now.Sub(t) < time.Second {
				hits = append(hits, t)
			}
		}
		hits = append(hits, now)
		s.authHits[ip] = hits
		if len(hits) > s.opts.AuthRateLimit {
			s.bannedTill[ip] = now.Add(time.Hour)
			banned = true
		}
	}
	s.mu.Unlock()
	if banned {
		writeErr(w, perr(403, "Access denied", "access denied to resource"))
		return
	}
	var p struct {
		Username string
		Password string
	}
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		writeErr(w, perr(400, "Invalid request payload", err.Error()))
		return
	}
	switch {
	case strings.TrimSpace(p.Username) == "":
		writeErr(w, perr(400, "Invalid request payload", "invalid username"))
		return
	case strings.TrimSpace(p.Password) == "":
		writeErr(w, perr(400, "Invalid request payload", "invalid password"))
		return
	}
	if p.Username != s.opts.AdminUser || p.Password != s.opts.AdminPassword {
		writeErr(w, perr(422, "Invalid credentials", "unauthorized"))
		return
	}
	token := s.issueJWT(s.currentUser())
	// 2.20+ also sets the session cookie; clients must not keep it.
	http.SetCookie(w, &http.Cookie{Name: "portainer_api_key", Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Expires: now.Add(s.opts.JWTLifetime)})
	writeJSON(w, 200, map[string]string{"jwt": token})
}

type jwtClaims struct {
	ID       int    `json:"id"`
	Username string `json:"username"`
	Role     int    `json:"role"`
	Scope    string `json:"scope"`
	Seq      int64  `json:"jti,string"`
	Exp      int64  `json:"exp"`
	Iat      int64  `json:"iat"`
}

var b64 = base64.RawURLEncoding

func (s *Server) issueJWT(u user) string {
	s.mu.Lock()
	s.jwtSeq++
	seq := s.jwtSeq
	secret := s.jwtSecret
	s.mu.Unlock()
	now := time.Now()
	role := 2
	if u.Admin {
		role = 1
	}
	header := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(jwtClaims{ID: u.ID, Username: u.Username, Role: role, Scope: "default",
		Seq: seq, Exp: now.Add(s.opts.JWTLifetime).Unix(), Iat: now.Unix()})
	body := header + "." + b64.EncodeToString(claims)
	return body + "." + b64.EncodeToString(sign(secret, body))
}

func sign(secret []byte, body string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(body))
	return m.Sum(nil)
}

var errBadToken = errors.New("invalid JWT token")

func (s *Server) verifyJWT(token string) (*jwtClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errBadToken
	}
	s.mu.Lock()
	secret, cutoff := s.jwtSecret, s.jwtCutoff
	s.mu.Unlock()
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, sign(secret, parts[0]+"."+parts[1])) {
		return nil, errBadToken
	}
	raw, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, errBadToken
	}
	var c jwtClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, errBadToken
	}
	if c.Seq <= cutoff || time.Now().Unix() >= c.Exp {
		return nil, errBadToken
	}
	return &c, nil
}

// ExpireTokens makes every JWT issued so far expired, as if their lifetime
// had passed.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jwtCutoff = s.jwtSeq
}

// RevokeAPIKey removes an API key.
func (s *Server) RevokeAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.apiKeys, key)
}
