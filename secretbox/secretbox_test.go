package secretbox

import (
	"bytes"
	"errors"
	"testing"
)

func newBox(t *testing.T, fill byte) *Box {
	t.Helper()
	b, err := New(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	box := newBox(t, 1)
	sealed, err := box.Seal([]byte("client secret"), "tenant_oidc:a")
	if err != nil {
		t.Fatal(err)
	}

	got, err := box.Open(sealed, "tenant_oidc:a")
	if err != nil || string(got) != "client secret" {
		t.Fatalf("Open = %q, %v; want the plaintext", got, err)
	}

	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1

	cases := []struct {
		name   string
		box    *Box
		sealed []byte
		ad     string
	}{
		{"other record", box, sealed, "tenant_oidc:b"},
		{"other key", newBox(t, 2), sealed, "tenant_oidc:a"},
		{"tampered", box, tampered, "tenant_oidc:a"},
		{"truncated", box, sealed[:10], "tenant_oidc:a"},
		{"empty", box, nil, "tenant_oidc:a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.box.Open(tc.sealed, tc.ad); !errors.Is(err, ErrOpen) {
				t.Errorf("Open error = %v, want ErrOpen", err)
			}
		})
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	box := newBox(t, 1)
	a, _ := box.Seal([]byte("same"), "x")
	b, _ := box.Seal([]byte("same"), "x")
	if bytes.Equal(a, b) {
		t.Error("two seals of the same value are equal; the nonce is not random")
	}
}

func TestNewRejectsShortKey(t *testing.T) {
	if _, err := New(make([]byte, 16)); err == nil {
		t.Error("New accepted a 16-byte key")
	}
}
