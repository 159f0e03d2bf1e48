package web

import (
	"slices"
	"testing"
)

func TestSplitList(t *testing.T) {
	cases := []struct {
		raw  string
		want []string
	}{
		{"", []string{}},
		{"  ,, ", []string{}},
		{"example.com", []string{"example.com"}},
		{"example.com, example.org", []string{"example.com", "example.org"}},
		{"openid email\tprofile\n", []string{"openid", "email", "profile"}},
		{"a.example,b.example , c.example", []string{"a.example", "b.example", "c.example"}},
	}
	for _, tc := range cases {
		got := splitList(tc.raw)
		if got == nil {
			t.Errorf("splitList(%q) = nil, want a non-nil slice", tc.raw)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("splitList(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}
