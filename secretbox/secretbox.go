// Package secretbox encrypts secrets at rest, such as identity provider
// client secrets and TOTP seeds, with AES-256-GCM under ENLACE_SECRET_KEY.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// version is the first byte of every sealed value, so that a later key or
// algorithm change can tell old values apart.
const version byte = 1

// ErrOpen means a sealed value is corrupt, was sealed under another key, or
// belongs to another record. The current secret key is ENLACE_SECRET_KEY,
// or the key file in the data folder when the variable is unset.
var ErrOpen = errors.New("secretbox: cannot decrypt value under the current secret key or ENLACE_SECRET_KEY_PREVIOUS; was the key changed without listing the old one in ENLACE_SECRET_KEY_PREVIOUS?")

// Box seals values under one key and opens values sealed under that key or
// under one of the previous keys it was given, so that a key can be
// replaced without losing what the old one sealed.
type Box struct {
	aead     cipher.AEAD
	previous []cipher.AEAD
}

// New returns a Box that seals under key and also opens values sealed under
// the previous keys. Every key is 32 bytes.
func New(key []byte, previous ...[]byte) (*Box, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}

	b := &Box{aead: aead}
	for i, k := range previous {
		old, err := newAEAD(k)
		if err != nil {
			return nil, fmt.Errorf("secretbox: previous key %d: %w", i+1, err)
		}
		b.previous = append(b.previous, old)
	}
	return b, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext. The associated data names the record the value
// belongs to (for example "tenant_oidc:<tenant id>"); Open needs the same
// data, so a value copied into another row does not decrypt.
func (b *Box) Seal(plaintext []byte, associatedData string) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secretbox: read nonce: %w", err)
	}

	out := append([]byte{version}, nonce...)
	return b.aead.Seal(out, nonce, plaintext, []byte(associatedData)), nil
}

// Open decrypts a value made by Seal with the same associated data, under
// the current key or a previous one.
func (b *Box) Open(sealed []byte, associatedData string) ([]byte, error) {
	plaintext, _, err := b.open(sealed, associatedData)
	return plaintext, err
}

// Reseal returns sealed unchanged when the current key opens it, and
// otherwise opens it under a previous key and seals it again under the
// current one. The result reports whether the value changed.
func (b *Box) Reseal(sealed []byte, associatedData string) ([]byte, bool, error) {
	plaintext, current, err := b.open(sealed, associatedData)
	if err != nil {
		return nil, false, err
	}
	if current {
		return sealed, false, nil
	}

	resealed, err := b.Seal(plaintext, associatedData)
	if err != nil {
		return nil, false, err
	}
	return resealed, true, nil
}

// open tries the current key first, then each previous key in order, and
// reports whether the current key opened the value.
func (b *Box) open(sealed []byte, associatedData string) (plaintext []byte, current bool, err error) {
	if plaintext, ok := openWith(b.aead, sealed, associatedData); ok {
		return plaintext, true, nil
	}
	for _, aead := range b.previous {
		if plaintext, ok := openWith(aead, sealed, associatedData); ok {
			return plaintext, false, nil
		}
	}
	return nil, false, ErrOpen
}

func openWith(aead cipher.AEAD, sealed []byte, associatedData string) ([]byte, bool) {
	nonceSize := aead.NonceSize()
	if len(sealed) < 1+nonceSize+aead.Overhead() || sealed[0] != version {
		return nil, false
	}

	nonce, ciphertext := sealed[1:1+nonceSize], sealed[1+nonceSize:]
	plaintext, err := aead.Open(nil, nonce, ciphertext, []byte(associatedData))
	if err != nil {
		return nil, false
	}
	return plaintext, true
}

// Stored is one sealed value as a pass that reseals stored values reads it.
type Stored struct {
	Owner Owner
	// Record is the associated data the value was sealed with.
	Record string
	Value  []byte
}

// ResealAll seals each value again under the current key where an older key
// sealed it, and passes the new value to replace, which reports whether it
// stored it. A value that no key opens is left as it is and named in the
// report. The first error from replace ends the pass.
func (b *Box) ResealAll(values []Stored, replace func(v Stored, resealed []byte) (bool, error)) (Report, error) {
	var report Report
	for _, v := range values {
		report.Checked++
		resealed, changed, err := b.Reseal(v.Value, v.Record)
		if err != nil {
			report.Unreadable = append(report.Unreadable, v.Owner)
			continue
		}
		if !changed {
			continue
		}

		replaced, err := replace(v, resealed)
		if err != nil {
			return report, err
		}
		if replaced {
			report.Resealed++
		}
	}
	return report, nil
}

// Report counts what a pass that reseals stored values under the current
// key found and changed.
type Report struct {
	// Checked counts the stored values read.
	Checked int
	// Resealed counts the values sealed again under the current key.
	Resealed int
	// Unreadable lists the owners of the values that no configured key
	// opens.
	Unreadable []Owner
}

// Owner names the record a stored value belongs to: a tenant, and a user
// of it for values that users own.
type Owner struct {
	TenantID string
	UserID   string
}
