package accounts

import (
	"bytes"
	"strings"
	"testing"

	"github.com/enlace-auth/enlace/totp"
)

func TestMatchRecoveryCodeKeys(t *testing.T) {
	oldSecret, newSecret := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	oldKey := RecoveryKeys(oldSecret, nil)[0]
	rotated := RecoveryKeys(newSecret, [][]byte{oldSecret})
	newOnly := RecoveryKeys(newSecret, nil)

	if rotated[1].ID != oldKey.ID || rotated[0].ID == oldKey.ID {
		t.Fatalf("key ids: rotated %s and %s, old %s; want the old id second only", rotated[0].ID, rotated[1].ID, oldKey.ID)
	}

	underOld, oldHashes, err := oldKey.newRecoveryCodes()
	if err != nil {
		t.Fatal(err)
	}
	underNew, newHashes, err := rotated[0].newRecoveryCodes()
	if err != nil {
		t.Fatal(err)
	}
	// A hash stored before hashes named their key: no prefix.
	legacyCode := "ABCDE-FGHJK"
	legacyHash := totp.HashRecoveryCode(oldKey.key, legacyCode)
	// A hash under the old key relabelled with the new key's id must not
	// match under either key.
	_, relabelled, _ := strings.Cut(oldHashes[1], ":")
	relabelled = rotated[0].ID + ":" + relabelled

	stored := []string{oldHashes[0], newHashes[0], legacyHash, relabelled}
	cases := []struct {
		name  string
		keys  []RecoveryKey
		code  string
		index int
		ok    bool
	}{
		{"new code, new key", newOnly, underNew[0], 1, true},
		{"old code, rotated keys", rotated, underOld[0], 0, true},
		{"old code, new key alone", newOnly, underOld[0], 0, false},
		{"legacy code, rotated keys", rotated, legacyCode, 2, true},
		{"legacy code, new key alone", newOnly, legacyCode, 0, false},
		{"relabelled hash", rotated, underOld[1], 0, false},
		{"unknown code", rotated, "ZZZZZ-ZZZZZ", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			index, ok := matchRecoveryCode(tc.keys, tc.code, stored)
			if ok != tc.ok {
				t.Fatalf("matched = %v, want %v", ok, tc.ok)
			}
			if ok && index != tc.index {
				t.Errorf("index = %d, want %d", index, tc.index)
			}
		})
	}
}

func TestRecoveryHashesNameTheirKey(t *testing.T) {
	key := RecoveryKeys(bytes.Repeat([]byte{3}, 32), nil)[0]
	if len(key.ID) != 8 {
		t.Errorf("key id %q: want 8 hex digits", key.ID)
	}

	_, hashes, err := key.newRecoveryCodes()
	if err != nil {
		t.Fatal(err)
	}
	if len(hashes) != RecoveryCodeCount {
		t.Fatalf("%d hashes, want %d", len(hashes), RecoveryCodeCount)
	}
	for _, h := range hashes {
		if !strings.HasPrefix(h, key.ID+":") {
			t.Errorf("hash %q lacks the key id prefix %q", h, key.ID+":")
		}
	}
}
