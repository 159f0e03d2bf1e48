package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/enlace-auth/enlace/totp"
)

// recoveryKeyPurpose separates the recovery code key from other keys that
// could be derived from the same secret key.
const recoveryKeyPurpose = "enlace recovery codes v1"

// RecoveryKey is an HMAC key for recovery code hashes. Each stored hash
// starts with the key's ID and a colon, so that matching and the key
// rotation can tell which key a code needs.
type RecoveryKey struct {
	ID  string
	key []byte
}

// RecoveryKeys derives the recovery code keys from the secret key and the
// previous secret keys, current first.
func RecoveryKeys(secretKey []byte, previous [][]byte) []RecoveryKey {
	keys := []RecoveryKey{newRecoveryKey(secretKey)}
	for _, k := range previous {
		keys = append(keys, newRecoveryKey(k))
	}
	return keys
}

func newRecoveryKey(secretKey []byte) RecoveryKey {
	key := hmacSHA256(secretKey, recoveryKeyPurpose)
	// Four bytes of a one-way function of the key tell keys apart and
	// reveal nothing useful about the key.
	return RecoveryKey{ID: hex.EncodeToString(hmacSHA256(key, "key id")[:4]), key: key}
}

func hmacSHA256(key []byte, message string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(message))
	return mac.Sum(nil)
}

// newRecoveryCodes returns fresh codes and their hashes under k, each hash
// prefixed with k's ID.
func (k RecoveryKey) newRecoveryCodes() (plain, hashes []string, err error) {
	plain, hashes, err = totp.NewRecoveryCodes(k.key, RecoveryCodeCount)
	if err != nil {
		return nil, nil, err
	}
	for i, h := range hashes {
		hashes[i] = k.ID + ":" + h
	}
	return plain, hashes, nil
}

// matchRecoveryCode returns the index of the stored hash that code matches
// under one of keys. A hash is compared only under the key its prefix
// names. A hash without a prefix, made before hashes carried one, is
// compared under every key.
func matchRecoveryCode(keys []RecoveryKey, code string, stored []string) (int, bool) {
	candidates := make([]string, len(stored))
	for _, k := range keys {
		for i, h := range stored {
			candidates[i] = ""
			if id, hash, ok := strings.Cut(h, ":"); !ok {
				candidates[i] = h
			} else if id == k.ID {
				candidates[i] = hash
			}
		}
		if i, ok := totp.MatchRecoveryCode(k.key, code, candidates); ok {
			return i, true
		}
	}
	return 0, false
}

// RecoveryCodeCounter counts the users with unused recovery codes whose
// hash does not start with prefix.
type RecoveryCodeCounter interface {
	UsersWithRecoveryCodesNotPrefixed(ctx context.Context, prefix string) (int, error)
}

// UsersWithOldRecoveryCodes counts the users, over all tenants, with an
// unused recovery code that current does not match: one made under a
// previous secret key, or before hashes named their key. Those codes work
// only while their key is in ENLACE_SECRET_KEY_PREVIOUS.
func UsersWithOldRecoveryCodes(ctx context.Context, counter RecoveryCodeCounter, current RecoveryKey) (int, error) {
	n, err := counter.UsersWithRecoveryCodesNotPrefixed(ctx, current.ID+":")
	if err != nil {
		return 0, fmt.Errorf("accounts: count old recovery codes: %w", err)
	}
	return n, nil
}
