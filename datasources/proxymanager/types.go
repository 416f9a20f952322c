package proxymanager

import (
	"bytes"
	"fmt"
	json "github.com/goccy/go-json"
	"strconv"
)

// CertificateNew as a CertificateID asks NPM to request a Let's Encrypt
// certificate while saving the host (the wire value "new"). It calls Let's
// Encrypt synchronously and needs public DNS, so prefer creating the host
// with 0 and attaching a certificate later (contracts §3.4.6).
const CertificateNew = -1

// Meta is the part of a proxy host's meta object we read.
type Meta struct {
	// NginxOnline is nil until NPM has tested the config (the create
	// response never carries it).
	NginxOnline *bool   `json:"nginx_online,omitempty"`
	NginxErr    *string `json:"nginx_err,omitempty"`
}

// Location is a custom location of a proxy host. Only the keys NPM's schema
// allows are sent (additionalProperties:false).
type Location struct {
	ID             *int   `json:"id,omitempty"`
	Path           string `json:"path"`
	ForwardScheme  string `json:"forward_scheme"`
	ForwardHost    string `json:"forward_host"`
	ForwardPort    int    `json:"forward_port"`
	ForwardPath    string `json:"forward_path,omitempty"`
	AdvancedConfig string `json:"advanced_config,omitempty"`
}

// Certificate is an NPM certificate. Its meta (which can hold a private key
// for custom certificates) is deliberately not decoded.
type Certificate struct {
	ID          int      `json:"id"`
	CreatedOn   string   `json:"created_on"`
	ModifiedOn  string   `json:"modified_on"`
	Provider    string   `json:"provider"`
	NiceName    string   `json:"nice_name"`
	DomainNames []string `json:"domain_names"`
	ExpiresOn   string   `json:"expires_on"`
}

// OtherHost is a redirection or 404 host. appmanage never writes them, but
// NPM refuses a domain one of them carries for a proxy host, so preflight
// reads them too. Only what that check needs is decoded.
type OtherHost struct {
	ID          int      `json:"id"`
	DomainNames []string `json:"domain_names"`
	Kind        string   `json:"-"` // "redirection host" or "404 host", set by the client
}

// ProxyHost is an NPM proxy host as NPM returns it.
type ProxyHost struct {
	ID                    int          `json:"id"`
	CreatedOn             string       `json:"created_on"`
	ModifiedOn            string       `json:"modified_on"`
	DomainNames           []string     `json:"domain_names"`
	ForwardScheme         string       `json:"forward_scheme"`
	ForwardHost           string       `json:"forward_host"`
	ForwardPort           int          `json:"forward_port"`
	CertificateID         int          `json:"certificate_id"`
	SSLForced             bool         `json:"ssl_forced"`
	HTTP2Support          bool         `json:"http2_support"`
	BlockExploits         bool         `json:"block_exploits"`
	CachingEnabled        bool         `json:"caching_enabled"`
	AllowWebsocketUpgrade bool         `json:"allow_websocket_upgrade"`
	HSTSEnabled           bool         `json:"hsts_enabled"`
	HSTSSubdomains        bool         `json:"hsts_subdomains"`
	TrustForwardedProto   bool         `json:"trust_forwarded_proto"`
	Enabled               bool         `json:"enabled"`
	AccessListID          int          `json:"access_list_id"`
	AdvancedConfig        string       `json:"advanced_config"`
	Meta                  Meta         `json:"meta"`
	Locations             []Location   `json:"locations"`
	Certificate           *Certificate `json:"certificate,omitempty"`
}

// UnmarshalJSON decodes leniently: NPM before v2.12 sent booleans as 0/1 and
// ajv's coercion means numbers may have been stored as strings.
func (h *ProxyHost) UnmarshalJSON(b []byte) error {
	var w struct {
		ID                    flexInt      `json:"id"`
		CreatedOn             string       `json:"created_on"`
		ModifiedOn            string       `json:"modified_on"`
		DomainNames           []string     `json:"domain_names"`
		ForwardScheme         string       `json:"forward_scheme"`
		ForwardHost           string       `json:"forward_host"`
		ForwardPort           flexInt      `json:"forward_port"`
		CertificateID         flexInt      `json:"certificate_id"`
		SSLForced             flexBool     `json:"ssl_forced"`
		HTTP2Support          flexBool     `json:"http2_support"`
		BlockExploits         flexBool     `json:"block_exploits"`
		CachingEnabled        flexBool     `json:"caching_enabled"`
		AllowWebsocketUpgrade flexBool     `json:"allow_websocket_upgrade"`
		HSTSEnabled           flexBool     `json:"hsts_enabled"`
		HSTSSubdomains        flexBool     `json:"hsts_subdomains"`
		TrustForwardedProto   flexBool     `json:"trust_forwarded_proto"`
		Enabled               flexBool     `json:"enabled"`
		AccessListID          flexInt      `json:"access_list_id"`
		AdvancedConfig        *string      `json:"advanced_config"`
		Meta                  *Meta        `json:"meta"`
		Locations             []Location   `json:"locations"`
		Certificate           *Certificate `json:"certificate"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*h = ProxyHost{
		ID: int(w.ID), CreatedOn: w.CreatedOn, ModifiedOn: w.ModifiedOn,
		DomainNames: w.DomainNames, ForwardScheme: w.ForwardScheme, ForwardHost: w.ForwardHost,
		ForwardPort: int(w.ForwardPort), CertificateID: int(w.CertificateID),
		SSLForced: bool(w.SSLForced), HTTP2Support: bool(w.HTTP2Support),
		BlockExploits: bool(w.BlockExploits), CachingEnabled: bool(w.CachingEnabled),
		AllowWebsocketUpgrade: bool(w.AllowWebsocketUpgrade), HSTSEnabled: bool(w.HSTSEnabled),
		HSTSSubdomains: bool(w.HSTSSubdomains), TrustForwardedProto: bool(w.TrustForwardedProto),
		Enabled: bool(w.Enabled), AccessListID: int(w.AccessListID),
		Locations: w.Locations, Certificate: w.Certificate,
	}
	if w.AdvancedConfig != nil {
		h.AdvancedConfig = *w.AdvancedConfig
	}
	if w.Meta != nil {
		h.Meta = *w.Meta
	}
	return nil
}

// UnmarshalJSON accepts nginx_online as a boolean or 0/1.
func (m *Meta) UnmarshalJSON(b []byte) error {
	var w struct {
		NginxOnline *flexBool `json:"nginx_online"`
		NginxErr    *string   `json:"nginx_err"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = Meta{NginxErr: w.NginxErr}
	if w.NginxOnline != nil {
		v := bool(*w.NginxOnline)
		m.NginxOnline = &v
	}
	return nil
}

// UnmarshalJSON accepts a port given as a string.
func (l *Location) UnmarshalJSON(b []byte) error {
	var w struct {
		ID             *flexInt `json:"id"`
		Path           string   `json:"path"`
		ForwardScheme  string   `json:"forward_scheme"`
		ForwardHost    string   `json:"forward_host"`
		ForwardPort    flexInt  `json:"forward_port"`
		ForwardPath    string   `json:"forward_path"`
		AdvancedConfig string   `json:"advanced_config"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*l = Location{Path: w.Path, ForwardScheme: w.ForwardScheme, ForwardHost: w.ForwardHost,
		ForwardPort: int(w.ForwardPort), ForwardPath: w.ForwardPath, AdvancedConfig: w.AdvancedConfig}
	if w.ID != nil {
		id := int(*w.ID)
		l.ID = &id
	}
	return nil
}

// UnmarshalJSON accepts an id given as a string.
func (c *Certificate) UnmarshalJSON(b []byte) error {
	type plain Certificate
	var w struct {
		plain
		ID flexInt `json:"id"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Certificate(w.plain)
	c.ID = int(w.ID)
	return nil
}

// ProxyHostRequest is the body of a create. Its JSON holds exactly the keys
// NPM's schema allows (additionalProperties:false).
type ProxyHostRequest struct {
	DomainNames           []string
	ForwardScheme         string // "http" or "https"
	ForwardHost           string
	ForwardPort           int
	CertificateID         int // 0 none, CertificateNew for a Let's Encrypt request
	SSLForced             bool
	HSTSEnabled           bool
	HSTSSubdomains        bool
	HTTP2Support          bool
	BlockExploits         bool
	CachingEnabled        bool
	AllowWebsocketUpgrade bool
	AccessListID          int
	AdvancedConfig        string
	Meta                  map[string]any
	Locations             []Location
	// TrustForwardedProto is sent only when set: NPM before v2.14 rejects
	// the key as an additional property.
	TrustForwardedProto *bool
}

// MarshalJSON encodes the create body.
func (r ProxyHostRequest) MarshalJSON() ([]byte, error) {
	type body struct {
		DomainNames           []string       `json:"domain_names"`
		ForwardScheme         string         `json:"forward_scheme"`
		ForwardHost           string         `json:"forward_host"`
		ForwardPort           int            `json:"forward_port"`
		CertificateID         certID         `json:"certificate_id"`
		SSLForced             bool           `json:"ssl_forced"`
		HSTSEnabled           bool           `json:"hsts_enabled"`
		HSTSSubdomains        bool           `json:"hsts_subdomains"`
		HTTP2Support          bool           `json:"http2_support"`
		BlockExploits         bool           `json:"block_exploits"`
		CachingEnabled        bool           `json:"caching_enabled"`
		AllowWebsocketUpgrade bool           `json:"allow_websocket_upgrade"`
		AccessListID          int            `json:"access_list_id"`
		AdvancedConfig        string         `json:"advanced_config"`
		Meta                  map[string]any `json:"meta,omitempty"`
		Locations             []Location     `json:"locations,omitempty"`
		TrustForwardedProto   *bool          `json:"trust_forwarded_proto,omitempty"`
	}
	return json.Marshal(body{
		DomainNames: r.DomainNames, ForwardScheme: r.ForwardScheme, ForwardHost: r.ForwardHost,
		ForwardPort: r.ForwardPort, CertificateID: certID(r.CertificateID), SSLForced: r.SSLForced,
		HSTSEnabled: r.HSTSEnabled, HSTSSubdomains: r.HSTSSubdomains, HTTP2Support: r.HTTP2Support,
		BlockExploits: r.BlockExploits, CachingEnabled: r.CachingEnabled,
		AllowWebsocketUpgrade: r.AllowWebsocketUpgrade, AccessListID: r.AccessListID,
		AdvancedConfig: r.AdvancedConfig, Meta: r.Meta, Locations: r.Locations,
		TrustForwardedProto: r.TrustForwardedProto,
	})
}

// ProxyHostUpdate is a partial update: nil fields are not sent and keep
// their value. There is deliberately no Enabled field: a PUT of enabled is
// stored but not applied to nginx (NPM #4656); use Enable/DisableProxyHost.
type ProxyHostUpdate struct {
	DomainNames           []string // the full new list; nil keeps the old one
	ForwardScheme         *string
	ForwardHost           *string
	ForwardPort           *int
	CertificateID         *int
	SSLForced             *bool
	HSTSEnabled           *bool
	HSTSSubdomains        *bool
	HTTP2Support          *bool
	BlockExploits         *bool
	CachingEnabled        *bool
	AllowWebsocketUpgrade *bool
	AccessListID          *int
	AdvancedConfig        *string
	Meta                  map[string]any
	Locations             *[]Location // pointer to an empty slice clears them
	TrustForwardedProto   *bool
}

// MarshalJSON encodes only the fields that are set.
func (u ProxyHostUpdate) MarshalJSON() ([]byte, error) {
	type body struct {
		DomainNames           []string       `json:"domain_names,omitempty"`
		ForwardScheme         *string        `json:"forward_scheme,omitempty"`
		ForwardHost           *string        `json:"forward_host,omitempty"`
		ForwardPort           *int           `json:"forward_port,omitempty"`
		CertificateID         *certID        `json:"certificate_id,omitempty"`
		SSLForced             *bool          `json:"ssl_forced,omitempty"`
		HSTSEnabled           *bool          `json:"hsts_enabled,omitempty"`
		HSTSSubdomains        *bool          `json:"hsts_subdomains,omitempty"`
		HTTP2Support          *bool          `json:"http2_support,omitempty"`
		BlockExploits         *bool          `json:"block_exploits,omitempty"`
		CachingEnabled        *bool          `json:"caching_enabled,omitempty"`
		AllowWebsocketUpgrade *bool          `json:"allow_websocket_upgrade,omitempty"`
		AccessListID          *int           `json:"access_list_id,omitempty"`
		AdvancedConfig        *string        `json:"advanced_config,omitempty"`
		Meta                  map[string]any `json:"meta,omitempty"`
		Locations             *[]Location    `json:"locations,omitempty"`
		TrustForwardedProto   *bool          `json:"trust_forwarded_proto,omitempty"`
	}
	b := body{
		DomainNames: u.DomainNames, ForwardScheme: u.ForwardScheme, ForwardHost: u.ForwardHost,
		ForwardPort: u.ForwardPort, SSLForced: u.SSLForced, HSTSEnabled: u.HSTSEnabled,
		HSTSSubdomains: u.HSTSSubdomains, HTTP2Support: u.HTTP2Support,
		BlockExploits: u.BlockExploits, CachingEnabled: u.CachingEnabled,
		AllowWebsocketUpgrade: u.AllowWebsocketUpgrade, AccessListID: u.AccessListID,
		AdvancedConfig: u.AdvancedConfig, Meta: u.Meta, TrustForwardedProto: u.TrustForwardedProto,
	}
	if u.CertificateID != nil {
		c := certID(*u.CertificateID)
		b.CertificateID = &c
	}
	if u.Locations != nil {
		locs := *u.Locations
		if locs == nil {
			locs = []Location{}
		}
		b.Locations = &locs
	}
	return json.Marshal(b)
}

// Empty reports whether the update sets nothing (NPM rejects an empty PUT
// body: minProperties 1).
func (u ProxyHostUpdate) Empty() bool {
	b, err := u.MarshalJSON()
	return err == nil && string(b) == "{}"
}

// certID encodes CertificateNew as "new" and anything else as a number.
type certID int

func (c certID) MarshalJSON() ([]byte, error) {
	if c == CertificateNew {
		return []byte(`"new"`), nil
	}
	return strconv.AppendInt(nil, int64(c), 10), nil
}

// flexBool decodes true/false, 0/1 and their string forms; null is false.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(bytes.TrimSpace(b), `"`))
	switch s {
	case "true", "1":
		*f = true
	case "false", "0", "", "null":
		*f = false
	default:
		return fmt.Errorf("not a boolean: %s", b)
	}
	return nil
}

// flexInt decodes a number or a numeric string; null is 0 and "new" (a
// certificate request) is CertificateNew.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(bytes.TrimSpace(b), `"`))
	switch s {
	case "", "null":
		*f = 0
		return nil
	case "new":
		*f = CertificateNew
		return nil
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n != float64(int64(n)) {
		return fmt.Errorf("not an integer: %s", b)
	}
	*f = flexInt(n)
	return nil
}
