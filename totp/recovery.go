package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
)

const (
	// RecoveryCodeCount is the number of recovery codes a user gets at a time.
	RecoveryCodeCount = 10
	// RecoveryCodeLength is the number of characters in a recovery code,
	// not counting the dash shown in the middle.
	RecoveryCodeLength = 10
)

// recoveryAlphabet contains the digits and upper-case letters without 0, 1,
// I, L and O, which are easy to misread for one another. Its 31 symbols
// give a code log2(31^10), about 49.5 bits of entropy.
const recoveryAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// NewRecoveryCodes returns n unique random recovery codes, formatted for
// display as "XXXXX-XXXXX", and their hashes from HashRecoveryCode under
// key in the same order. Store only the hashes.
func NewRecoveryCodes(key []byte, n int) (plain []string, hashes []string, err error) {
	if n < 1 {
		return nil, nil, fmt.Errorf("totp: recovery code count %d must be at least 1", n)
	}

	plain = make([]string, 0, n)
	hashes = make([]string, 0, n)
	seen := make(map[string]bool, n)
	for len(plain) < n {
		code, err := randomRecoveryCode()
		if err != nil {
			return nil, nil, err
		}
		if seen[code] {
			continue
		}
		seen[code] = true

		plain = append(plain, code[:RecoveryCodeLength/2]+"-"+code[RecoveryCodeLength/2:])
		hashes = append(hashes, HashRecoveryCode(key, code))
	}
	return plain, hashes, nil
}

// randomRecoveryCode returns RecoveryCodeLength symbols of recoveryAlphabet
// drawn uniformly from crypto/rand.
func randomRecoveryCode() (string, error) {
	// A random byte below the largest multiple of the alphabet size is
	// reduced modulo that size, and bytes above it are drawn again, so
	// every symbol is equally likely.
	limit := byte(256 - 256%len(recoveryAlphabet))

	code := make([]byte, 0, RecoveryCodeLength)
	buf := make([]byte, 2*RecoveryCodeLength)
	for len(code) < RecoveryCodeLength {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("totp: read random recovery code: %w", err)
		}
		for _, b := range buf {
			if b < limit && len(code) < RecoveryCodeLength {
				code = append(code, recoveryAlphabet[int(b)%len(recoveryAlphabet)])
			}
		}
	}
	return string(code), nil
}

// NormalizeRecoveryCode returns code in upper case with all whitespace and
// dashes removed, so "abcde-fghjk", "ABCDE FGHJK" and "abcdefghjk" become
// the same string.
func NormalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToUpper(r)
	}, code)
}

// HashRecoveryCode returns the lower-case hex HMAC-SHA256 of the normalized
// code under key.
//
// A fast keyed hash is enough and a slow password hash is not needed,
// because the codes are drawn at random by NewRecoveryCodes rather than
// chosen by people, so no dictionary helps an attacker. The key is derived
// from ENLACE_SECRET_KEY, which is kept outside the database, so a leaked
// table of hashes alone cannot be searched offline: without the key even
// the 31^10 (about 8e14) possible codes give nothing to compare with.
func HashRecoveryCode(key []byte, code string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(NormalizeRecoveryCode(code)))
	return hex.EncodeToString(mac.Sum(nil))
}

// MatchRecoveryCode reports whether code, after normalization and hashing
// under key, matches one of hashes, and returns the index of the first match, or -1. It compares
// against every hash in constant time and without an early return, so the
// time taken does not tell which hash matched. An empty string in hashes,
// for example a used code, never matches. The caller must delete or blank
// the matched hash in the same transaction that accepts the sign-in, so
// each code works once.
func MatchRecoveryCode(key []byte, code string, hashes []string) (index int, ok bool) {
	candidate := []byte(HashRecoveryCode(key, code))

	index = -1
	found := 0
	for i, stored := range hashes {
		equal := subtle.ConstantTimeCompare(candidate, []byte(stored))
		first := equal & (found ^ 1)
		index = subtle.ConstantTimeSelect(first, i, index)
		found |= equal
	}
	return index, found == 1
}
