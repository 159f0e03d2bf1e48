package api

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
)

const returnFallback = "/fallback"

func TestSafeReturnPath(t *testing.T) {
	longPath := "/" + strings.Repeat("a", 2047)

	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"root", "/", "/"},
		{"path and query", "/settings?x=1", "/settings?x=1"},
		{"fragment", "/a/b#section", "/a/b#section"},
		{"encoded unicode", "/%E2%9C%93", "/%E2%9C%93"},
		{"encoded slash inside", "/a%2Fb", "/a%2Fb"},
		{"query with url", "/?next=//evil.com", "/?next=//evil.com"},
		// Browsers resolve "/.//x" to the path "//x" on this origin, so it
		// cannot leave the site.
		{"dot then slashes", "/.//evil.com", "/.//evil.com"},
		{"max length", longPath, longPath},
		{"empty", "", returnFallback},
		{"relative", "settings", returnFallback},
		{"protocol relative", "//evil.com", returnFallback},
		{"backslash", "/\\evil.com", returnFallback},
		{"backslash later", "/a\\b", returnFallback},
		{"encoded slashes", "/%2F%2Fevil.com", returnFallback},
		{"encoded slashes lower", "/%2f%2fevil.com", returnFallback},
		{"encoded backslash", "/%5Cevil.com", returnFallback},
		{"absolute https", "https://evil.com", returnFallback},
		{"javascript", "javascript:alert(1)", returnFallback},
		{"encoded crlf", "/%0d%0aSet-Cookie", returnFallback},
		{"raw crlf", "/\r\nSet-Cookie: a=b", returnFallback},
		{"tab before slash", "/\t/evil.com", returnFallback},
		{"encoded tab", "/%09/evil.com", returnFallback},
		{"nul", "/a\x00", returnFallback},
		{"encoded delete", "/a%7f", returnFallback},
		{"bad escape", "/%zz", returnFallback},
		{"too long", longPath + "a", returnFallback},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SafeReturnPath(tt.raw, returnFallback); got != tt.want {
				t.Errorf("SafeReturnPath(%q): got %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func FuzzSafeReturnPath(f *testing.F) {
	seeds := []string{
		"/", "/settings?x=1", "//evil.com", "/\\evil.com", "/%2F%2Fevil.com", "https://evil.com",
		"javascript:alert(1)", "/%0d%0aSet-Cookie", "", "/.//evil.com", "/%5C%5Cevil.com", "/\t/evil.com",
		"/a@evil.com", "/:@evil.com", "/%252F%252Fevil.com",
	}
	for _, s := range seeds {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, raw string) {
		got := SafeReturnPath(raw, returnFallback)
		if got == returnFallback {
			return
		}
		if got != raw {
			t.Fatalf("SafeReturnPath(%q): got %q, want the input or the fallback", raw, got)
		}

		if !strings.HasPrefix(got, "/") {
			t.Errorf("SafeReturnPath(%q): accepted a value that does not start with /", raw)
		}
		if strings.HasPrefix(got, "//") {
			t.Errorf("SafeReturnPath(%q): accepted a value that starts with //", raw)
		}
		if strings.HasPrefix(got, "/\\") {
			t.Errorf("SafeReturnPath(%q): accepted a value that starts with /\\", raw)
		}

		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("SafeReturnPath(%q): accepted a value that url.Parse rejects: %v", raw, err)
		}
		if u.Scheme != "" {
			t.Errorf("SafeReturnPath(%q): accepted a value with scheme %q", raw, u.Scheme)
		}
		if u.Host != "" {
			t.Errorf("SafeReturnPath(%q): accepted a value with host %q", raw, u.Host)
		}

		decoded, err := url.PathUnescape(got)
		if err != nil {
			t.Fatalf("SafeReturnPath(%q): accepted a value that url.PathUnescape rejects: %v", raw, err)
		}
		if i := strings.IndexFunc(decoded, unicode.IsControl); i >= 0 {
			t.Errorf("SafeReturnPath(%q): accepted a value whose decoded form %q has a control character at byte %d", raw, decoded, i)
		}
	})
}
