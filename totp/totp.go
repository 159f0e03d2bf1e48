// Package totp implements time-based one-time passwords (RFC 6238) for
// two-factor sign-in: secrets, otpauth:// provisioning URIs and QR codes,
// code verification with replay protection, and recovery codes.
//
// Codes use HMAC-SHA-1, 6 digits and a 30-second period, and the
// provisioning URI states all three.
package totp

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/pquerna/otp"
)

const (
	// Digits is the number of digits in a code.
	Digits = 6
	// Period is the length of one time step.
	Period = 30 * time.Second
	// Skew is the number of time steps before and after the current one
	// whose codes Verify also accepts, to allow for clock drift and for
	// the time the user takes to type the code.
	Skew = 1
	// SecretSize is the size in bytes of a secret made by NewSecret. It is
	// the 160 bits that RFC 4226 section 4 recommends.
	SecretSize = 20
	// MinSecretSize is the smallest secret in bytes that Verify and
	// GenerateCode accept, because RFC 4226 section 4 requires at least
	// 128 bits.
	MinSecretSize = 16
	// MaxQRCodeSize is the largest width and height in pixels of a QR code
	// image. It bounds the memory one image takes.
	MaxQRCodeSize = 1024
)

var (
	// ErrInvalidCode means the code is not 6 digits, or does not match
	// any accepted time step.
	ErrInvalidCode = errors.New("totp: invalid code")
	// ErrReplayed means the code matches a time step at or before the last
	// accepted one, so it has already been used or is older than a used one.
	ErrReplayed = errors.New("totp: code already used")
	// ErrInvalidSecret means the stored secret is not base32 of at least
	// MinSecretSize bytes. It is a server-side fault, not a user error.
	ErrInvalidSecret = errors.New("totp: invalid secret")
)

// secretEncoding is base32 (RFC 4648) without padding, which the Key Uri
// Format recommends for the secret parameter.
var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a random SecretSize-byte secret, base32-encoded
// without padding (32 characters).
func NewSecret() (string, error) {
	key := make([]byte, SecretSize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("totp: read random secret: %w", err)
	}
	return secretEncoding.EncodeToString(key), nil
}

// decodeSecret decodes a base32 secret. It accepts lower case, surrounding
// whitespace and trailing padding, because some tools write secrets that way.
func decodeSecret(secret string) ([]byte, error) {
	normalized := strings.TrimRight(strings.ToUpper(strings.TrimSpace(secret)), "=")
	key, err := secretEncoding.DecodeString(normalized)
	if err != nil {
		return nil, fmt.Errorf("%w: not base32", ErrInvalidSecret)
	}
	if len(key) < MinSecretSize {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrInvalidSecret, len(key), MinSecretSize)
	}
	return key, nil
}

// StepAt returns the RFC 6238 time step that contains t: the number of
// whole periods since the Unix epoch, rounded down.
func StepAt(t time.Time) int64 {
	seconds := t.Unix()
	period := int64(Period / time.Second)
	step := seconds / period
	if seconds%period < 0 {
		step-- // Go division truncates toward zero, so round times before the epoch down.
	}
	return step
}

// hotp computes an RFC 4226 HOTP value with HMAC-SHA-1: the dynamic
// truncation of the HMAC of the big-endian counter, reduced to digits
// decimal digits and left-padded with zeros.
func hotp(key []byte, counter uint64, digits int) string {
	var message [8]byte
	binary.BigEndian.PutUint64(message[:], counter)

	mac := hmac.New(sha1.New, key)
	mac.Write(message[:])
	sum := mac.Sum(nil)

	offset := sum[len(sum)-1] & 0x0f
	truncated := binary.BigEndian.Uint32(sum[offset:offset+4]) & 0x7fffffff

	modulus := uint32(1)
	for range digits {
		modulus *= 10
	}
	return fmt.Sprintf("%0*d", digits, truncated%modulus)
}

// codeAtStep returns the code of the given length for a time step. Steps
// before the Unix epoch have no code, because the HOTP counter is unsigned.
func codeAtStep(key []byte, step int64, digits int) (string, bool) {
	if step < 0 {
		return "", false
	}
	return hotp(key, uint64(step), digits), true
}

// GenerateCode returns the 6-digit code for secret at time t.
func GenerateCode(secret string, t time.Time) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	code, ok := codeAtStep(key, StepAt(t), Digits)
	if !ok {
		return "", fmt.Errorf("totp: time %s is before the Unix epoch", t.UTC().Format(time.RFC3339))
	}
	return code, nil
}

// normalizeCode removes all whitespace from a code the user typed, so that
// "123 456" and " 123456\n" both become "123456". It returns false unless
// the result is exactly Digits ASCII digits.
func normalizeCode(code string) (string, bool) {
	normalized := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, code)

	if len(normalized) != Digits {
		return "", false
	}
	for i := range len(normalized) {
		if normalized[i] < '0' || normalized[i] > '9' {
			return "", false
		}
	}
	return normalized, true
}

// Verify checks code against secret at time now. It accepts the codes of
// the time steps from StepAt(now)-Skew to StepAt(now)+Skew that are greater
// than lastStep, and returns the step it accepted. The caller must store
// that step as the account's new lastStep in the same transaction that
// accepts the sign-in, so each step is used at most once. Pass 0 for an
// account that has not used a code yet.
//
// Verify returns ErrInvalidCode when code is not 6 digits after removing
// whitespace or matches no step in the window, ErrReplayed when it matches
// only steps at or before lastStep, and an error wrapping ErrInvalidSecret
// when the secret cannot be decoded.
func Verify(secret, code string, now time.Time, lastStep int64) (step int64, err error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return 0, err
	}
	normalized, ok := normalizeCode(code)
	if !ok {
		return 0, ErrInvalidCode
	}

	// Every step in the window is checked without an early return, so the
	// time taken does not tell which step matched. If two steps happen to
	// share a code, the earliest unused one is accepted, which leaves the
	// later steps free for the user's next sign-in.
	current := StepAt(now)
	accepted := int64(-1)
	replayed := false
	for candidate := current - Skew; candidate <= current+Skew; candidate++ {
		expected, ok := codeAtStep(key, candidate, Digits)
		if !ok || subtle.ConstantTimeCompare([]byte(expected), []byte(normalized)) != 1 {
			continue
		}
		switch {
		case candidate <= lastStep:
			replayed = true
		case accepted < 0:
			accepted = candidate
		}
	}

	switch {
	case accepted >= 0:
		return accepted, nil
	case replayed:
		return 0, ErrReplayed
	default:
		return 0, ErrInvalidCode
	}
}

// ProvisioningURI returns the otpauth:// URI that an authenticator app
// reads from a QR code, in the Key Uri Format of Google Authenticator:
// otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30.
// The issuer is the tenant's display name and the account is the user's
// email address. That format allows no colon in the label other than the
// separator, so colons are removed from the issuer and account in the
// label only, and the issuer parameter keeps the name as given. An empty
// issuer leaves out both the label prefix and the parameter.
func ProvisioningURI(secret, issuer, account string) string {
	label := escapeURIComponent(strings.ReplaceAll(account, ":", ""))
	if issuer != "" {
		label = escapeURIComponent(strings.ReplaceAll(issuer, ":", "")) + ":" + label
	}

	parameters := []string{"secret=" + escapeURIComponent(secret)}
	if issuer != "" {
		parameters = append(parameters, "issuer="+escapeURIComponent(issuer))
	}
	parameters = append(parameters,
		"algorithm=SHA1",
		"digits="+strconv.Itoa(Digits),
		"period="+strconv.Itoa(int(Period/time.Second)),
	)

	return "otpauth://totp/" + label + "?" + strings.Join(parameters, "&")
}

// escapeURIComponent percent-encodes every byte except letters, digits and
// "-._~", with %20 for spaces because some authenticator apps show a "+"
// literally.
func escapeURIComponent(value string) string {
	return strings.ReplaceAll(url.QueryEscape(value), "+", "%20")
}

// QRCodePNG renders uri as a size×size PNG QR code with error correction
// level M. Each module is scaled by a whole number of pixels and centered,
// so the only white border is the pixels left over, and the image needs a
// white background to scan. The QR code grows with the length of uri, and
// QRCodePNG returns an error when size is below its width in modules or
// above MaxQRCodeSize. That width is 49 for issuer "Acme Co" and account
// "ada@example.com", and 61 for a 215-byte URI.
func QRCodePNG(uri string, size int) ([]byte, error) {
	if size < 1 || size > MaxQRCodeSize {
		return nil, fmt.Errorf("totp: QR code size %d is out of range 1..%d", size, MaxQRCodeSize)
	}
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return nil, fmt.Errorf("totp: parse provisioning URI: %w", err)
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("totp: render QR code at %d pixels: %w", size, err)
	}

	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: encode QR code PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// QRCodePNGBase64 renders uri as QRCodePNG does and returns the PNG in
// standard base64, ready for a JSON field or a data: URL.
func QRCodePNGBase64(uri string, size int) (string, error) {
	pngBytes, err := QRCodePNG(uri, size)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(pngBytes), nil
}
