// Package config reads Enlace's environment variables into one Config and
// validates them. No other package reads the environment.
package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SecretKeySize is the length in bytes of ENLACE_SECRET_KEY once decoded:
// an AES-256 key.
const SecretKeySize = 32

// Config is the validated process configuration.
type Config struct {
	// Host is the IP address to listen on. Empty means every interface.
	Host    string
	Port    int
	BaseURL *url.URL

	// DatabaseURL selects PostgreSQL when set; otherwise SQLite at DatabasePath.
	DatabaseURL  string
	DatabasePath string
	// RedisURL selects Redis when set; otherwise the in-process store.
	RedisURL string

	// SecretKey is nil when ENLACE_SECRET_KEY is unset on the embedded
	// default; the caller then loads or creates a key file in DataDir.
	SecretKey []byte
	// PreviousSecretKeys open values sealed before ENLACE_SECRET_KEY was
	// replaced, from ENLACE_SECRET_KEY_PREVIOUS. New values use SecretKey.
	PreviousSecretKeys [][]byte

	TrustedProxies   []netip.Prefix
	MultiTenant      bool
	TenantBaseDomain string
	Require2FA       bool

	OIDC OIDC

	LogLevel  slog.Level
	LogFormat string

	SessionIdleTimeout time.Duration
	SessionMaxAge      time.Duration

	PlatformToken string
}

// OIDC holds the identity provider settings of the built-in default tenant.
type OIDC struct {
	Enabled      bool
	IssuerURL    string
	ClientID     string
	ClientSecret string
	RedirectURL  string
	Scopes       []string
}

// DataDir is the folder that holds the SQLite file and the generated key.
func (c *Config) DataDir() string {
	return filepath.Dir(c.DatabasePath)
}

// SecureCookies reports whether cookies get the Secure attribute.
func (c *Config) SecureCookies() bool {
	return c.BaseURL.Scheme == "https"
}

// Load reads the configuration through lookup (os.LookupEnv in production).
// It reports every invalid variable at once, joined in one error.
func Load(lookup func(string) (string, bool)) (*Config, error) {
	p := parser{lookup: lookup}
	c := &Config{}

	c.Host = p.host("HOST")
	c.Port = p.port("PORT", 8080)
	c.BaseURL = p.baseURL("BASE_URL", fmt.Sprintf("http://localhost:%d", c.Port))
	c.DatabaseURL = p.databaseURL("DATABASE_URL")
	c.DatabasePath = p.str("DATABASE_PATH", "./data/enlace.db")
	c.RedisURL = p.redisURL("REDIS_URL")
	c.SecretKey = p.secretKey("ENLACE_SECRET_KEY", c.DatabaseURL != "")
	c.PreviousSecretKeys = p.previousSecretKeys("ENLACE_SECRET_KEY_PREVIOUS")
	c.TrustedProxies = p.prefixes("TRUSTED_PROXIES")
	c.MultiTenant = p.boolean("MULTI_TENANT", false)
	c.TenantBaseDomain = p.domain("TENANT_BASE_DOMAIN")
	c.Require2FA = p.boolean("REQUIRE_2FA", false)
	c.OIDC = p.oidc()
	c.LogLevel = p.logLevel("LOG_LEVEL")
	c.LogFormat = p.oneOf("LOG_FORMAT", "json", "json", "text")
	c.SessionIdleTimeout = p.duration("SESSION_IDLE_TIMEOUT", 72*time.Hour)
	c.SessionMaxAge = p.duration("SESSION_MAX_AGE", 30*24*time.Hour)
	c.PlatformToken = p.platformToken("ENLACE_PLATFORM_TOKEN")

	if c.SessionIdleTimeout > c.SessionMaxAge {
		p.fail("SESSION_IDLE_TIMEOUT", "%s is longer than SESSION_MAX_AGE (%s); set it to at most the maximum age",
			c.SessionIdleTimeout, c.SessionMaxAge)
	}

	if err := errors.Join(p.errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// parser collects one error per invalid variable so Load can report all.
type parser struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (p *parser) fail(name, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
}

// get returns the trimmed value of name and whether it is set and non-empty.
func (p *parser) get(name string) (string, bool) {
	v, ok := p.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (p *parser) str(name, def string) string {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	return v
}

// host parses an IP address literal, so that the listen address never
// depends on a name lookup.
func (p *parser) host(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}

	addr, err := netip.ParseAddr(strings.Trim(v, "[]"))
	if err != nil || addr.Zone() != "" {
		p.fail(name, "%q is not an IP address; use one such as 127.0.0.1 or ::1, or leave it unset to listen on every interface", v)
		return ""
	}
	return addr.String()
}

func (p *parser) port(name string, def int) int {
	v, ok := p.get(name)
	if !ok {
		return def
	}

	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		p.fail(name, "%q is not a valid port; use a number from 1 to 65535", v)
		return def
	}
	return n
}

func (p *parser) boolean(name string, def bool) bool {
	v, ok := p.get(name)
	if !ok {
		return def
	}

	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true
	case "false", "0", "no", "off":
		return false
	}
	p.fail(name, "%q is not a boolean; use true or false", v)
	return def
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v, ok := p.get(name)
	if !ok {
		return def
	}

	v = strings.ToLower(v)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, "%q is not supported; use one of %s", v, strings.Join(allowed, ", "))
	return def
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v, ok := p.get(name)
	if !ok {
		return def
	}

	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute {
		p.fail(name, "%q is not a valid duration of at least 1m; use Go syntax such as 30m, 12h or 720h", v)
		return def
	}
	return d
}

func (p *parser) logLevel(name string) slog.Level {
	v, ok := p.get(name)
	if !ok {
		return slog.LevelInfo
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(v)); err != nil {
		p.fail(name, "%q is not a log level; use debug, info, warn or error", v)
		return slog.LevelInfo
	}
	return level
}

// httpURL parses an absolute http or https URL, reporting a problem under name.
func (p *parser) httpURL(name, v string) (*url.URL, bool) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, "%q is not an absolute http or https URL, such as https://login.example.com", v)
		return nil, false
	}
	return u, true
}

func (p *parser) baseURL(name, def string) *url.URL {
	v, ok := p.get(name)
	if !ok {
		v = def
	}

	u, ok := p.httpURL(name, v)
	if !ok {
		u, _ = url.Parse(def)
		return u
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		p.fail(name, "%q must be a scheme and host only, without user, path, query or fragment", v)
	}
	u.Path, u.RawQuery, u.Fragment, u.User = "", "", "", nil
	return u
}

func (p *parser) databaseURL(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}

	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		p.fail(name, "is not a PostgreSQL URL; use postgres://user:password@host:5432/dbname")
		return ""
	}
	return v
}

func (p *parser) redisURL(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}

	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		p.fail(name, "is not a Redis URL; use redis://host:6379/0 or rediss:// for TLS")
		return ""
	}
	return v
}

func (p *parser) secretKey(name string, required bool) []byte {
	v, ok := p.get(name)
	if !ok {
		if required {
			p.fail(name, "is required when DATABASE_URL is set, because every replica must share it; generate one with `openssl rand -base64 32`")
		}
		return nil
	}

	key, err := DecodeSecretKey(v)
	if err != nil {
		p.fail(name, "%v", err)
		return nil
	}
	return key
}

// previousSecretKeys parses a comma-separated list of retired keys, each in
// a format that DecodeSecretKey accepts.
func (p *parser) previousSecretKeys(name string) [][]byte {
	v, ok := p.get(name)
	if !ok {
		return nil
	}

	var keys [][]byte
	for i, item := range strings.Split(v, ",") {
		if strings.TrimSpace(item) == "" {
			p.fail(name, "key %d is empty; separate the keys with single commas", i+1)
			continue
		}
		key, err := DecodeSecretKey(item)
		if err != nil {
			p.fail(name, "key %d %v", i+1, err)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

// DecodeSecretKey decodes a 32-byte key written as base64 (standard or URL
// alphabet, padded or not) or as 64 hex digits. The error never contains
// the key.
func DecodeSecretKey(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	if len(v) == 2*SecretKeySize {
		if key, err := hex.DecodeString(v); err == nil {
			return key, nil
		}
	}

	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		key, err := enc.DecodeString(v)
		if err != nil {
			continue
		}
		if len(key) != SecretKeySize {
			return nil, fmt.Errorf("decodes to %d bytes, want %d; generate one with `openssl rand -base64 32`", len(key), SecretKeySize)
		}
		return key, nil
	}
	return nil, fmt.Errorf("is neither base64 nor 64 hex digits; generate one with `openssl rand -base64 32`")
}

func (p *parser) prefixes(name string) []netip.Prefix {
	v, ok := p.get(name)
	if !ok {
		return nil
	}

	var out []netip.Prefix
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if addr, err := netip.ParseAddr(item); err == nil {
			out = append(out, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
			continue
		}
		prefix, err := netip.ParsePrefix(item)
		if err != nil {
			p.fail(name, "%q is neither an IP address nor a CIDR such as 10.0.0.0/8", item)
			continue
		}
		out = append(out, prefix.Masked())
	}
	return out
}

func (p *parser) domain(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}

	v = strings.TrimSuffix(strings.ToLower(v), ".")
	if !IsHostname(v) {
		p.fail(name, "%q is not a domain name such as login.example.com (no scheme, port or path)", v)
		return ""
	}
	return v
}

// IsHostname reports whether s is a syntactically valid DNS name of
// letters, digits and hyphens, such as "a.localhost".
func IsHostname(s string) bool {
	if s == "" || len(s) > 253 || net.ParseIP(s) != nil {
		return false
	}

	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func (p *parser) oidc() OIDC {
	o := OIDC{
		Enabled:      p.boolean("OIDC_ENABLED", false),
		ClientID:     p.str("OIDC_CLIENT_ID", ""),
		ClientSecret: p.str("OIDC_CLIENT_SECRET", ""),
		Scopes:       strings.Fields(p.str("OIDC_SCOPES", "openid email profile")),
	}

	if v, ok := p.get("OIDC_ISSUER_URL"); ok {
		if _, ok := p.httpURL("OIDC_ISSUER_URL", v); ok {
			o.IssuerURL = v
		}
	}
	if v, ok := p.get("OIDC_REDIRECT_URL"); ok {
		if _, ok := p.httpURL("OIDC_REDIRECT_URL", v); ok {
			o.RedirectURL = v
		}
	}

	if !o.Enabled {
		return o
	}
	if _, ok := p.get("OIDC_ISSUER_URL"); !ok {
		p.fail("OIDC_ISSUER_URL", "is required when OIDC_ENABLED is true")
	}
	if o.ClientID == "" {
		p.fail("OIDC_CLIENT_ID", "is required when OIDC_ENABLED is true")
	}
	if !slices.Contains(o.Scopes, "openid") {
		p.fail("OIDC_SCOPES", "%q must include openid", strings.Join(o.Scopes, " "))
	}
	return o
}

func (p *parser) platformToken(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}
	if len(v) < 32 {
		p.fail(name, "is %d characters long; use at least 32 random characters, such as `openssl rand -hex 32`", len(v))
		return ""
	}
	return v
}
