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
// belongs to another record.
var ErrOpen = errors.New("secretbox: cannot decrypt value; was ENLACE_SECRET_KEY changed?")

// Box seals and opens values under one key.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secretbox: key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead}, nil
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

// Open decrypts a value made by Seal with the same associated data.
func (b *Box) Open(sealed []byte, associatedData string) ([]byte, error) {
	nonceSize := b.aead.NonceSize()
	if len(sealed) < 1+nonceSize+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}

	nonce, ciphertext := sealed[1:1+nonceSize], sealed[1+nonceSize:]
	plaintext, err := b.aead.Open(nil, nonce, ciphertext, []byte(associatedData))
	if err != nil {
		return nil, ErrOpen
	}
	return plaintext, nil
}
