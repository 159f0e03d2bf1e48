package accounts

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// HashParams are argon2id cost parameters.
type HashParams struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32
	KeyLength   uint32
}

// OWASPParams is the argon2id setting that the OWASP Password Storage Cheat
// Sheet lists first: 19 MiB of memory, 2 iterations, 1 lane.
var OWASPParams = HashParams{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

var errMalformedHash = errors.New("accounts: malformed argon2id hash")

// Hasher hashes and verifies passwords as argon2id PHC strings such as
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>".
type Hasher struct {
	params HashParams
	// slots limits concurrent hashes, because each one allocates
	// MemoryKiB and a burst of logins must not exhaust memory.
	slots chan struct{}
	// dummy is a hash of a random password, verified for unknown users so
	// that their logins cost the same time as a wrong password.
	dummy string
}

// NewHasher returns a Hasher that hashes with params. It returns an error
// for parameters whose hashes Verify would reject.
func NewHasher(params HashParams) (*Hasher, error) {
	if params.SaltLength < 16 || params.KeyLength < 16 || params.MemoryKiB < 8*uint32(params.Parallelism) ||
		params.MemoryKiB > maxMemoryKiB || params.Iterations == 0 || params.Iterations > 64 || params.Parallelism == 0 {
		return nil, fmt.Errorf("accounts: argon2id parameters %+v are out of range", params)
	}

	h := &Hasher{params: params, slots: make(chan struct{}, 2*runtime.GOMAXPROCS(0))}
	random := make([]byte, 32)
	if _, err := rand.Read(random); err != nil {
		return nil, fmt.Errorf("accounts: read random password: %w", err)
	}
	dummy, err := h.Hash(string(random))
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Hash returns the PHC string of password under fresh random salt.
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, h.params.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("accounts: read salt: %w", err)
	}

	key := h.derive(password, salt, h.params)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.params.MemoryKiB, h.params.Iterations, h.params.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC string encoded, and
// whether the hash should be replaced because its parameters are not the
// current ones.
func (h *Hasher) Verify(encoded, password string) (match, needsRehash bool, err error) {
	params, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}

	got := h.derive(password, salt, params)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, params != h.params, nil
}

// VerifyDummy does the work of one Verify and discards the result.
func (h *Hasher) VerifyDummy(password string) {
	_, _, _ = h.Verify(h.dummy, password)
}

func (h *Hasher) derive(password string, salt []byte, p HashParams) []byte {
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	return argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLength)
}

// maxMemoryKiB caps the memory a stored hash may ask for (256 MiB), so a
// tampered row cannot make Verify allocate gigabytes.
const maxMemoryKiB = 256 * 1024

// parsePHC splits an argon2id PHC string into its parameters, salt and key.
func parsePHC(encoded string) (HashParams, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return HashParams{}, nil, nil, errMalformedHash
	}

	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return HashParams{}, nil, nil, fmt.Errorf("%w: version %q", errMalformedHash, parts[2])
	}

	p, err := parseHashParams(parts[3])
	if err != nil {
		return HashParams{}, nil, nil, err
	}

	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return HashParams{}, nil, nil, fmt.Errorf("%w: salt", errMalformedHash)
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return HashParams{}, nil, nil, fmt.Errorf("%w: key", errMalformedHash)
	}

	p.SaltLength = uint32(len(salt))
	p.KeyLength = uint32(len(key))
	return p, salt, key, nil
}

// parseHashParams reads exactly "m=<KiB>,t=<iterations>,p=<lanes>".
func parseHashParams(field string) (HashParams, error) {
	bad := fmt.Errorf("%w: parameters %q", errMalformedHash, field)

	items := strings.Split(field, ",")
	if len(items) != 3 {
		return HashParams{}, bad
	}
	values := make([]uint64, 3)
	for i, name := range []string{"m", "t", "p"} {
		raw, ok := strings.CutPrefix(items[i], name+"=")
		if !ok {
			return HashParams{}, bad
		}
		n, err := strconv.ParseUint(raw, 10, 32)
		if err != nil || n == 0 {
			return HashParams{}, bad
		}
		values[i] = n
	}

	if values[0] > maxMemoryKiB || values[1] > 64 || values[2] > 255 {
		return HashParams{}, fmt.Errorf("%w: parameters %q out of range", errMalformedHash, field)
	}
	return HashParams{MemoryKiB: uint32(values[0]), Iterations: uint32(values[1]), Parallelism: uint8(values[2])}, nil
}
