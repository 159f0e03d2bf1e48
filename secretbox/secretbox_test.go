package secretbox

import (
	"bytes"
	"errors"
	"strings"
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

func TestOpenWithPreviousKey(t *testing.T) {
	oldBox := newBox(t, 1)
	sealed, err := oldBox.Seal([]byte("totp seed"), "totp:u1")
	if err != nil {
		t.Fatal(err)
	}

	rotated, err := New(bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32), bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	got, err := rotated.Open(sealed, "totp:u1")
	if err != nil {
		t.Fatalf("Open under a previous key: %v", err)
	}
	if string(got) != "totp seed" {
		t.Errorf("Open = %q, want %q", got, "totp seed")
	}
	if _, err := rotated.Open(sealed, "totp:u2"); !errors.Is(err, ErrOpen) {
		t.Errorf("Open with other associated data: error = %v, want ErrOpen", err)
	}
	if _, err := newBox(t, 2).Open(sealed, "totp:u1"); !errors.Is(err, ErrOpen) {
		t.Errorf("Open without the previous key: error = %v, want ErrOpen", err)
	}
}

func TestReseal(t *testing.T) {
	oldBox := newBox(t, 1)
	rotated, err := New(bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealedOld, err := oldBox.Seal([]byte("client secret"), "tenant_oidc:a")
	if err != nil {
		t.Fatal(err)
	}

	resealed, changed, err := rotated.Reseal(sealedOld, "tenant_oidc:a")
	if err != nil {
		t.Fatalf("Reseal: %v", err)
	}
	if !changed {
		t.Error("Reseal of a value under the previous key: changed = false, want true")
	}
	got, err := newBox(t, 2).Open(resealed, "tenant_oidc:a")
	if err != nil {
		t.Fatalf("Open the resealed value with the new key alone: %v", err)
	}
	if string(got) != "client secret" {
		t.Errorf("Open = %q, want %q", got, "client secret")
	}

	again, changed, err := rotated.Reseal(resealed, "tenant_oidc:a")
	if err != nil {
		t.Fatalf("Reseal under the current key: %v", err)
	}
	if changed || !bytes.Equal(again, resealed) {
		t.Errorf("Reseal of a value under the current key: changed = %v, want the value unchanged", changed)
	}

	if _, _, err := rotated.Reseal(sealedOld, "tenant_oidc:b"); !errors.Is(err, ErrOpen) {
		t.Errorf("Reseal with other associated data: error = %v, want ErrOpen", err)
	}
}

func TestNewRejectsShortKeys(t *testing.T) {
	cases := []struct {
		name     string
		key      []byte
		previous [][]byte
		want     string
	}{
		{"current", make([]byte, 16), nil, "secretbox: key is 16 bytes, want 32"},
		{"previous", make([]byte, 32), [][]byte{make([]byte, 32), make([]byte, 5)}, "secretbox: previous key 2: key is 5 bytes, want 32"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.key, tc.previous...)
			if err == nil || err.Error() != tc.want {
				t.Errorf("New error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestResealAll(t *testing.T) {
	oldBox := newBox(t, 1)
	rotated, err := New(bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	seal := func(box *Box, record string) []byte {
		t.Helper()
		sealed, err := box.Seal([]byte("secret of "+record), record)
		if err != nil {
			t.Fatal(err)
		}
		return sealed
	}

	values := []Stored{
		{Owner: Owner{TenantID: "t1", UserID: "old"}, Record: "r:old", Value: seal(oldBox, "r:old")},
		{Owner: Owner{TenantID: "t1", UserID: "current"}, Record: "r:current", Value: seal(rotated, "r:current")},
		{Owner: Owner{TenantID: "t2", UserID: "stray"}, Record: "r:stray", Value: seal(newBox(t, 3), "r:stray")},
		{Owner: Owner{TenantID: "t2", UserID: "changed"}, Record: "r:changed", Value: seal(oldBox, "r:changed")},
	}
	var replaced []string
	report, err := rotated.ResealAll(values, func(v Stored, resealed []byte) (bool, error) {
		replaced = append(replaced, v.Owner.UserID)
		if _, err := newBox(t, 2).Open(resealed, v.Record); err != nil {
			t.Errorf("resealed value of %s does not open under the new key alone: %v", v.Owner.UserID, err)
		}
		// The "changed" row was rewritten meanwhile, so the store does not replace it.
		return v.Owner.UserID != "changed", nil
	})
	if err != nil {
		t.Fatal(err)
	}

	if report.Checked != 4 {
		t.Errorf("Checked = %d, want 4", report.Checked)
	}
	if report.Resealed != 1 {
		t.Errorf("Resealed = %d, want 1", report.Resealed)
	}
	if len(report.Unreadable) != 1 || report.Unreadable[0] != (Owner{TenantID: "t2", UserID: "stray"}) {
		t.Errorf("Unreadable = %v, want only t2/stray", report.Unreadable)
	}
	if strings.Join(replaced, ",") != "old,changed" {
		t.Errorf("replace called for %v, want old and changed", replaced)
	}

	failure := errors.New("store down")
	_, err = rotated.ResealAll(values, func(Stored, []byte) (bool, error) { return false, failure })
	if !errors.Is(err, failure) {
		t.Errorf("ResealAll error = %v, want the replace error", err)
	}
}
