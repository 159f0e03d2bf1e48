package config

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// lookupFrom returns a Load lookup that reads vars instead of the process
// environment.
func lookupFrom(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// testKey is a 32-byte key whose standard base64 form contains '+' and '/',
// so the standard and URL alphabets give different strings.
var testKey = bytes.Repeat([]byte{0xfb, 0xff, 0xbf, 0x3e}, 8)

// joinedErrors returns the errors that errors.Join combined into err.
func joinedErrors(err error) []error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		return joined.Unwrap()
	}
	return []error{err}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(lookupFrom(nil))
	if err != nil {
		t.Fatalf("Load with empty environment: got error %v, want nil", err)
	}

	if c.Port != 8080 {
		t.Errorf("Port: got %d, want 8080", c.Port)
	}
	if got := c.BaseURL.String(); got != "http://localhost:8080" {
		t.Errorf("BaseURL: got %q, want %q", got, "http://localhost:8080")
	}
	if c.DatabaseURL != "" {
		t.Errorf("DatabaseURL: got %q, want empty", c.DatabaseURL)
	}
	if c.DatabasePath != "./data/enlace.db" {
		t.Errorf("DatabasePath: got %q, want %q", c.DatabasePath, "./data/enlace.db")
	}
	if got := c.DataDir(); got != "data" {
		t.Errorf("DataDir: got %q, want %q", got, "data")
	}
	if c.RedisURL != "" {
		t.Errorf("RedisURL: got %q, want empty", c.RedisURL)
	}
	if c.SecretKey != nil {
		t.Errorf("SecretKey: got %d bytes, want nil", len(c.SecretKey))
	}
	if c.TrustedProxies != nil {
		t.Errorf("TrustedProxies: got %v, want nil", c.TrustedProxies)
	}
	if c.MultiTenant {
		t.Errorf("MultiTenant: got true, want false")
	}
	if c.TenantBaseDomain != "" {
		t.Errorf("TenantBaseDomain: got %q, want empty", c.TenantBaseDomain)
	}
	if c.Require2FA {
		t.Errorf("Require2FA: got true, want false")
	}
	if c.OIDC.Enabled {
		t.Errorf("OIDC.Enabled: got true, want false")
	}
	if want := []string{"openid", "email", "profile"}; !slices.Equal(c.OIDC.Scopes, want) {
		t.Errorf("OIDC.Scopes: got %q, want %q", c.OIDC.Scopes, want)
	}
	if c.LogLevel != slog.LevelInfo {
		t.Errorf("LogLevel: got %v, want %v", c.LogLevel, slog.LevelInfo)
	}
	if c.LogFormat != "json" {
		t.Errorf("LogFormat: got %q, want %q", c.LogFormat, "json")
	}
	if c.SessionIdleTimeout != 72*time.Hour {
		t.Errorf("SessionIdleTimeout: got %v, want %v", c.SessionIdleTimeout, 72*time.Hour)
	}
	if c.SessionMaxAge != 30*24*time.Hour {
		t.Errorf("SessionMaxAge: got %v, want %v", c.SessionMaxAge, 30*24*time.Hour)
	}
	if c.PlatformToken != "" {
		t.Errorf("PlatformToken: got %q, want empty", c.PlatformToken)
	}
	if c.SecureCookies() {
		t.Errorf("SecureCookies: got true, want false for an http base URL")
	}
}

func TestLoadEmptyValueMeansDefault(t *testing.T) {
	c, err := Load(lookupFrom(map[string]string{"PORT": "  ", "LOG_FORMAT": ""}))
	if err != nil {
		t.Fatalf("Load: got error %v, want nil", err)
	}
	if c.Port != 8080 {
		t.Errorf("Port: got %d, want 8080", c.Port)
	}
	if c.LogFormat != "json" {
		t.Errorf("LogFormat: got %q, want %q", c.LogFormat, "json")
	}
}

func TestLoadValidValues(t *testing.T) {
	vars := map[string]string{
		"HOST":              " [::1] ",
		"PORT":              " 9000 ",
		"BASE_URL":          "https://login.example.com/",
		"DATABASE_URL":      "postgres://enlace:pw@db:5432/enlace",
		"REDIS_URL":         "rediss://cache:6380/1",
		"ENLACE_SECRET_KEY": base64.StdEncoding.EncodeToString(testKey),
		"ENLACE_SECRET_KEY_PREVIOUS": hex.EncodeToString(bytes.Repeat([]byte{7}, 32)) + ", " +
			base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32)),
		"TRUSTED_PROXIES":       "10.0.0.1, 192.168.1.5/16,,::ffff:10.0.0.2",
		"MULTI_TENANT":          "yes",
		"TENANT_BASE_DOMAIN":    "Auth.Example.COM.",
		"REQUIRE_2FA":           "ON",
		"OIDC_ENABLED":          "true",
		"OIDC_ISSUER_URL":       "https://idp.example.com",
		"OIDC_CLIENT_ID":        "enlace",
		"OIDC_SCOPES":           "openid email",
		"LOG_LEVEL":             "debug",
		"LOG_FORMAT":            "TEXT",
		"SESSION_IDLE_TIMEOUT":  "30m",
		"SESSION_MAX_AGE":       "12h",
		"ENLACE_PLATFORM_TOKEN": strings.Repeat("t", 32),
	}
	c, err := Load(lookupFrom(vars))
	if err != nil {
		t.Fatalf("Load: got error %v, want nil", err)
	}

	if c.Host != "::1" {
		t.Errorf("Host: got %q, want %q", c.Host, "::1")
	}
	if c.Port != 9000 {
		t.Errorf("Port: got %d, want 9000", c.Port)
	}
	if got := c.BaseURL.String(); got != "https://login.example.com" {
		t.Errorf("BaseURL: got %q, want %q", got, "https://login.example.com")
	}
	if !c.SecureCookies() {
		t.Errorf("SecureCookies: got false, want true for an https base URL")
	}
	if c.DatabaseURL != vars["DATABASE_URL"] {
		t.Errorf("DatabaseURL: got %q, want %q", c.DatabaseURL, vars["DATABASE_URL"])
	}
	if c.RedisURL != vars["REDIS_URL"] {
		t.Errorf("RedisURL: got %q, want %q", c.RedisURL, vars["REDIS_URL"])
	}
	if !bytes.Equal(c.SecretKey, testKey) {
		t.Errorf("SecretKey: got %x, want %x", c.SecretKey, testKey)
	}
	wantPrevious := [][]byte{bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{8}, 32)}
	if len(c.PreviousSecretKeys) != len(wantPrevious) {
		t.Fatalf("PreviousSecretKeys: got %d keys, want %d", len(c.PreviousSecretKeys), len(wantPrevious))
	}
	for i, want := range wantPrevious {
		if !bytes.Equal(c.PreviousSecretKeys[i], want) {
			t.Errorf("PreviousSecretKeys[%d]: got %x, want %x", i, c.PreviousSecretKeys[i], want)
		}
	}
	wantProxies := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.1/32"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("10.0.0.2/32"),
	}
	if !slices.Equal(c.TrustedProxies, wantProxies) {
		t.Errorf("TrustedProxies: got %v, want %v", c.TrustedProxies, wantProxies)
	}
	if !c.MultiTenant {
		t.Errorf("MultiTenant: got false, want true")
	}
	if c.TenantBaseDomain != "auth.example.com" {
		t.Errorf("TenantBaseDomain: got %q, want %q", c.TenantBaseDomain, "auth.example.com")
	}
	if !c.Require2FA {
		t.Errorf("Require2FA: got false, want true")
	}
	if !c.OIDC.Enabled {
		t.Errorf("OIDC.Enabled: got false, want true")
	}
	if c.OIDC.IssuerURL != "https://idp.example.com" {
		t.Errorf("OIDC.IssuerURL: got %q, want %q", c.OIDC.IssuerURL, "https://idp.example.com")
	}
	if want := []string{"openid", "email"}; !slices.Equal(c.OIDC.Scopes, want) {
		t.Errorf("OIDC.Scopes: got %q, want %q", c.OIDC.Scopes, want)
	}
	if c.LogLevel != slog.LevelDebug {
		t.Errorf("LogLevel: got %v, want %v", c.LogLevel, slog.LevelDebug)
	}
	if c.LogFormat != "text" {
		t.Errorf("LogFormat: got %q, want %q", c.LogFormat, "text")
	}
	if c.SessionIdleTimeout != 30*time.Minute {
		t.Errorf("SessionIdleTimeout: got %v, want %v", c.SessionIdleTimeout, 30*time.Minute)
	}
	if c.SessionMaxAge != 12*time.Hour {
		t.Errorf("SessionMaxAge: got %v, want %v", c.SessionMaxAge, 12*time.Hour)
	}
	if c.PlatformToken != vars["ENLACE_PLATFORM_TOKEN"] {
		t.Errorf("PlatformToken: got %q, want the 32-character token", c.PlatformToken)
	}
}

func TestLoadInvalid(t *testing.T) {
	validKey := base64.StdEncoding.EncodeToString(testKey)
	tests := []struct {
		name    string
		vars    map[string]string
		wantVar string
	}{
		{"port not number", map[string]string{"PORT": "abc"}, "PORT"},
		{"port zero", map[string]string{"PORT": "0"}, "PORT"},
		{"port too large", map[string]string{"PORT": "70000"}, "PORT"},
		{"base url ftp", map[string]string{"BASE_URL": "ftp://x"}, "BASE_URL"},
		{"base url path", map[string]string{"BASE_URL": "http://x/path"}, "BASE_URL"},
		{"base url query", map[string]string{"BASE_URL": "http://x?a=1"}, "BASE_URL"},
		{"base url user", map[string]string{"BASE_URL": "http://u:p@x"}, "BASE_URL"},
		{"base url relative", map[string]string{"BASE_URL": "login.example.com"}, "BASE_URL"},
		{"database url mysql", map[string]string{"DATABASE_URL": "mysql://u:p@db/enlace", "ENLACE_SECRET_KEY": validKey}, "DATABASE_URL"},
		{"database url no host", map[string]string{"DATABASE_URL": "postgres:///enlace", "ENLACE_SECRET_KEY": validKey}, "DATABASE_URL"},
		{"redis url http", map[string]string{"REDIS_URL": "http://cache:6379"}, "REDIS_URL"},
		{"redis url no host", map[string]string{"REDIS_URL": "redis:///0"}, "REDIS_URL"},
		{"multi tenant maybe", map[string]string{"MULTI_TENANT": "maybe"}, "MULTI_TENANT"},
		{"secret key short", map[string]string{"ENLACE_SECRET_KEY": base64.StdEncoding.EncodeToString(testKey[:16])}, "ENLACE_SECRET_KEY"},
		{"secret key not base64", map[string]string{"ENLACE_SECRET_KEY": "not a key!"}, "ENLACE_SECRET_KEY"},
		{"host name", map[string]string{"HOST": "localhost"}, "HOST: \"localhost\" is not an IP address"},
		{"host with zone", map[string]string{"HOST": "fe80::1%eth0"}, "HOST: \"fe80::1%eth0\" is not an IP address"},
		{"secret key required", map[string]string{"DATABASE_URL": "postgres://u:p@db/enlace"}, "ENLACE_SECRET_KEY"},
		{"previous key short", map[string]string{"ENLACE_SECRET_KEY_PREVIOUS": validKey + "," + base64.StdEncoding.EncodeToString(testKey[:16])}, "ENLACE_SECRET_KEY_PREVIOUS: key 2 decodes to 16 bytes"},
		{"previous key empty item", map[string]string{"ENLACE_SECRET_KEY_PREVIOUS": validKey + ","}, "ENLACE_SECRET_KEY_PREVIOUS: key 2 is empty"},
		{"trusted proxy bad entry", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"}, "TRUSTED_PROXIES"},
		{"trusted proxy bad cidr", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33"}, "TRUSTED_PROXIES"},
		{"base domain with scheme", map[string]string{"TENANT_BASE_DOMAIN": "https://example.com"}, "TENANT_BASE_DOMAIN"},
		{"base domain with port", map[string]string{"TENANT_BASE_DOMAIN": "example.com:443"}, "TENANT_BASE_DOMAIN"},
		{"base domain ip", map[string]string{"TENANT_BASE_DOMAIN": "10.0.0.1"}, "TENANT_BASE_DOMAIN"},
		{"oidc without issuer", map[string]string{"OIDC_ENABLED": "true", "OIDC_CLIENT_ID": "enlace"}, "OIDC_ISSUER_URL"},
		{"oidc without client id", map[string]string{"OIDC_ENABLED": "true", "OIDC_ISSUER_URL": "https://idp.example.com"}, "OIDC_CLIENT_ID"},
		{"oidc bad issuer", map[string]string{"OIDC_ISSUER_URL": "idp.example.com"}, "OIDC_ISSUER_URL"},
		{"oidc scopes without openid", map[string]string{"OIDC_ENABLED": "true", "OIDC_ISSUER_URL": "https://idp.example.com", "OIDC_CLIENT_ID": "enlace", "OIDC_SCOPES": "email profile"}, "OIDC_SCOPES"},
		{"idle timeout over max age", map[string]string{"SESSION_IDLE_TIMEOUT": "48h", "SESSION_MAX_AGE": "24h"}, "SESSION_IDLE_TIMEOUT"},
		{"max age under minute", map[string]string{"SESSION_MAX_AGE": "30s"}, "SESSION_MAX_AGE"},
		{"idle timeout not duration", map[string]string{"SESSION_IDLE_TIMEOUT": "3 days"}, "SESSION_IDLE_TIMEOUT"},
		{"log level unknown", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"log format unknown", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{"platform token short", map[string]string{"ENLACE_PLATFORM_TOKEN": "short"}, "ENLACE_PLATFORM_TOKEN"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(lookupFrom(tt.vars))
			if err == nil {
				t.Fatalf("Load(%v): got nil error, want an error naming %s", tt.vars, tt.wantVar)
			}
			if c != nil {
				t.Errorf("Load(%v): got a non-nil Config alongside the error, want nil", tt.vars)
			}
			if !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("Load(%v): error %q does not name %s", tt.vars, err, tt.wantVar)
			}
			if errs := joinedErrors(err); len(errs) != 1 {
				t.Errorf("Load(%v): got %d errors %q, want exactly 1", tt.vars, len(errs), err)
			}
		})
	}
}

func TestLoadErrorsOmitSecrets(t *testing.T) {
	tests := []struct {
		name   string
		vars   map[string]string
		secret string
	}{
		{"database password", map[string]string{"DATABASE_URL": "mysql://u:hunter2@db/enlace"}, "hunter2"},
		{"redis password", map[string]string{"REDIS_URL": "http://:hunter2@cache:6379"}, "hunter2"},
		{"secret key", map[string]string{"ENLACE_SECRET_KEY": "c2VjcmV0LXZhbHVl"}, "c2VjcmV0LXZhbHVl"},
		{"previous secret key", map[string]string{"ENLACE_SECRET_KEY_PREVIOUS": "c2VjcmV0LXZhbHVl"}, "c2VjcmV0LXZhbHVl"},
		{"platform token", map[string]string{"ENLACE_PLATFORM_TOKEN": "hunter2"}, "hunter2"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(lookupFrom(tt.vars))
			if err == nil {
				t.Fatalf("Load(%v): got nil error, want an error", tt.vars)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("Load: error %q contains the secret %q", err, tt.secret)
			}
		})
	}
}

func TestLoadReportsAllErrors(t *testing.T) {
	vars := map[string]string{
		"PORT":                 "abc",
		"BASE_URL":             "ftp://x",
		"REDIS_URL":            "http://cache",
		"MULTI_TENANT":         "maybe",
		"TRUSTED_PROXIES":      "proxy.local",
		"TENANT_BASE_DOMAIN":   "https://example.com",
		"LOG_LEVEL":            "loud",
		"SESSION_IDLE_TIMEOUT": "48h",
		"SESSION_MAX_AGE":      "24h",
		"DATABASE_URL":         "postgres://u:p@db/enlace",
	}
	wantVars := []string{
		"PORT", "BASE_URL", "REDIS_URL", "MULTI_TENANT", "TRUSTED_PROXIES",
		"TENANT_BASE_DOMAIN", "LOG_LEVEL", "SESSION_IDLE_TIMEOUT", "ENLACE_SECRET_KEY",
	}

	_, err := Load(lookupFrom(vars))
	if err == nil {
		t.Fatalf("Load: got nil error, want errors for %v", wantVars)
	}
	for _, name := range wantVars {
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("Load: error does not name %s; got %q", name, err)
		}
	}
	if errs := joinedErrors(err); len(errs) != len(wantVars) {
		t.Errorf("Load: got %d joined errors, want %d: %q", len(errs), len(wantVars), err)
	}
}

func TestDecodeSecretKey(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{"base64 std", base64.StdEncoding.EncodeToString(testKey)},
		{"base64 url", base64.URLEncoding.EncodeToString(testKey)},
		{"base64 raw std", base64.RawStdEncoding.EncodeToString(testKey)},
		{"base64 raw url", base64.RawURLEncoding.EncodeToString(testKey)},
		{"hex lower", hex.EncodeToString(testKey)},
		{"hex upper", strings.ToUpper(hex.EncodeToString(testKey))},
		{"surrounding space", "  " + base64.StdEncoding.EncodeToString(testKey) + "\n"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := DecodeSecretKey(tt.input)
			if err != nil {
				t.Fatalf("DecodeSecretKey(%q): got error %v, want nil", tt.input, err)
			}
			if !bytes.Equal(key, testKey) {
				t.Errorf("DecodeSecretKey(%q): got %x, want %x", tt.input, key, testKey)
			}
		})
	}
}

func TestDecodeSecretKeyInvalid(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{"empty", ""},
		{"base64 16 bytes", base64.StdEncoding.EncodeToString(testKey[:16])},
		{"base64 33 bytes", base64.StdEncoding.EncodeToString(append(bytes.Clone(testKey), 1))},
		{"hex 31 bytes", hex.EncodeToString(testKey[:31])},
		{"hex 64 digits with non-hex", strings.Repeat("g", 64)},
		{"not base64", "correct horse battery staple"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := DecodeSecretKey(tt.input)
			if err == nil {
				t.Fatalf("DecodeSecretKey(%q): got %d-byte key, want an error", tt.input, len(key))
			}
			if key != nil {
				t.Errorf("DecodeSecretKey(%q): got key %x alongside the error, want nil", tt.input, key)
			}
			if tt.input != "" && strings.Contains(err.Error(), tt.input) {
				t.Errorf("DecodeSecretKey(%q): error %q contains the input", tt.input, err)
			}
		})
	}
}

func FuzzDecodeSecretKey(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString(testKey))
	f.Add(base64.RawURLEncoding.EncodeToString(testKey))
	f.Add(hex.EncodeToString(testKey))
	f.Add(base64.StdEncoding.EncodeToString(testKey[:16]))
	f.Add("")
	f.Add("====")
	f.Add(strings.Repeat("g", 64))

	f.Fuzz(func(t *testing.T, input string) {
		key, err := DecodeSecretKey(input)
		if err != nil {
			if key != nil {
				t.Errorf("DecodeSecretKey(%q): got key alongside error %v", input, err)
			}
			return
		}
		if len(key) != SecretKeySize {
			t.Errorf("DecodeSecretKey(%q): got %d-byte key, want %d", input, len(key), SecretKeySize)
		}
	})
}

func TestIsHostname(t *testing.T) {
	tests := []struct {
		input string
		want  bool
	}{
		{"example.com", true},
		{"a.localhost", true},
		{"xn--bcher-kva.example", true},
		{"a-b.c", true},
		{"", false},
		{"Example.com", false},
		{"-a.example", false},
		{"a-.example", false},
		{"a..example", false},
		{"example.com.", false},
		{"under_score.example", false},
		{"10.0.0.1", false},
		{strings.Repeat("a", 64) + ".example", false},
		{strings.Repeat("a.", 127) + "ab", false},
	}

	for _, tt := range tests {
		if got := IsHostname(tt.input); got != tt.want {
			t.Errorf("IsHostname(%q): got %v, want %v", tt.input, got, tt.want)
		}
	}
}

// FuzzLoad feeds arbitrary values to the variables with their own parsers.
// Load must either fail or return values that satisfy what each parser
// promises, and never panic.
func FuzzLoad(f *testing.F) {
	validKey := base64.StdEncoding.EncodeToString(testKey)
	f.Add("127.0.0.1", "8080", "https://login.example.com", "10.0.0.0/8", validKey+","+hex.EncodeToString(testKey), "Auth.Example.com", "30m")
	f.Add("[::1]", "0", "ftp://x", "proxy.local", ",", "https://x", "-1h")
	f.Add("fe80::1%eth0", "65536", "", "", "", "", "")

	f.Fuzz(func(t *testing.T, host, port, baseURL, proxies, previous, baseDomain, idle string) {
		vars := map[string]string{
			"HOST": host, "PORT": port, "BASE_URL": baseURL, "TRUSTED_PROXIES": proxies,
			"ENLACE_SECRET_KEY_PREVIOUS": previous, "TENANT_BASE_DOMAIN": baseDomain, "SESSION_IDLE_TIMEOUT": idle,
		}
		c, err := Load(lookupFrom(vars))
		if err != nil {
			return
		}

		if c.Host != "" {
			if _, err := netip.ParseAddr(c.Host); err != nil {
				t.Errorf("Host %q from HOST=%q is not an IP address", c.Host, host)
			}
		}
		if c.Port < 1 || c.Port > 65535 {
			t.Errorf("Port %d from PORT=%q is out of range", c.Port, port)
		}
		if c.BaseURL == nil || (c.BaseURL.Scheme != "http" && c.BaseURL.Scheme != "https") {
			t.Errorf("BaseURL %v from BASE_URL=%q is not http or https", c.BaseURL, baseURL)
		}
		for i, k := range c.PreviousSecretKeys {
			if len(k) != SecretKeySize {
				t.Errorf("PreviousSecretKeys[%d] is %d bytes from %q", i, len(k), previous)
			}
		}
		if c.SessionIdleTimeout <= 0 || c.SessionIdleTimeout > c.SessionMaxAge {
			t.Errorf("SessionIdleTimeout %v from %q is not within (0, %v]", c.SessionIdleTimeout, idle, c.SessionMaxAge)
		}
	})
}
