package api

import (
	"net/url"
	"strings"
	"unicode"
)

// SafeReturnPath returns raw if it is a path on this origin, and fallback
// otherwise. It rejects what browsers would read as another origin:
// "//host", "/\host", schemes, and control characters, also when
// percent-encoded.
func SafeReturnPath(raw, fallback string) string {
	if raw == "" || len(raw) > 2048 || raw[0] != '/' {
		return fallback
	}

	decoded, err := url.PathUnescape(raw)
	if err != nil {
		return fallback
	}
	for _, s := range []string{raw, decoded} {
		if strings.HasPrefix(s, "//") || strings.ContainsRune(s, '\\') || strings.IndexFunc(s, unicode.IsControl) >= 0 {
			return fallback
		}
	}

	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return fallback
	}
	return raw
}
