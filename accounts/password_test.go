package accounts

import (
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// cheapParams keeps hashing fast in tests. TestVerifyOWASPParams covers
// the production parameters.
var cheapParams = HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func mustHasher(t testing.TB, params HashParams) *Hasher {
	t.Helper()
	h, err := NewHasher(params)
	if err != nil {
		t.Fatalf("NewHasher(%+v): %v", params, err)
	}
	return h
}

func TestNewHasherRejectsWeakParams(t *testing.T) {
	tests := []struct {
		name   string
		params HashParams
	}{
		{"short salt", HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLength: 8, KeyLength: 32}},
		{"short key", HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 8}},
		{"no iterations", HashParams{MemoryKiB: 64, Iterations: 0, Parallelism: 1, SaltLength: 16, KeyLength: 32}},
		{"too much memory", HashParams{MemoryKiB: 1 << 22, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewHasher(tt.params); err == nil {
				t.Errorf("NewHasher(%+v): got nil error, want one", tt.params)
			}
		})
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	h := mustHasher(t, cheapParams)
	encoded, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatalf("Hash: got error %v, want nil", err)
	}

	match, needsRehash, err := h.Verify(encoded, "correct horse battery staple")
	if err != nil {
		t.Fatalf("Verify: got error %v, want nil", err)
	}
	if !match {
		t.Errorf("Verify with the right password: got match false, want true")
	}
	if needsRehash {
		t.Errorf("Verify under the same params: got needsRehash true, want false")
	}
}

func TestVerifyWrongPassword(t *testing.T) {
	h := mustHasher(t, cheapParams)
	encoded, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatalf("Hash: got error %v, want nil", err)
	}

	for _, password := range []string{"wrong password", "", "correct horse battery staplE", "correct horse battery staple "} {
		match, needsRehash, err := h.Verify(encoded, password)
		if err != nil {
			t.Errorf("Verify(%q): got error %v, want nil", password, err)
		}
		if match {
			t.Errorf("Verify(%q): got match true, want false", password)
		}
		if needsRehash {
			t.Errorf("Verify(%q): got needsRehash true on a mismatch, want false", password)
		}
	}
}

func TestHashPHCFormat(t *testing.T) {
	h := mustHasher(t, cheapParams)
	encoded, err := h.Hash("pässwörd")
	if err != nil {
		t.Fatalf("Hash: got error %v, want nil", err)
	}

	// 16 salt bytes and 32 key bytes are 22 and 43 characters of unpadded base64.
	shape := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !shape.MatchString(encoded) {
		t.Errorf("Hash: got %q, want a match for %s", encoded, shape)
	}

	again, err := h.Hash("pässwörd")
	if err != nil {
		t.Fatalf("second Hash: got error %v, want nil", err)
	}
	if again == encoded {
		t.Errorf("Hash twice: got the same string %q both times, want a fresh salt each time", encoded)
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	tests := []struct {
		name   string
		params HashParams
	}{
		{"memory", HashParams{MemoryKiB: 128, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}},
		{"iterations", HashParams{MemoryKiB: 64, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}},
		{"parallelism", HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 2, SaltLength: 16, KeyLength: 32}},
		{"salt length", HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLength: 24, KeyLength: 32}},
		{"key length", HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 16}},
	}

	current := mustHasher(t, cheapParams)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encoded, err := mustHasher(t, tt.params).Hash("password1")
			if err != nil {
				t.Fatalf("Hash under %+v: got error %v, want nil", tt.params, err)
			}

			match, needsRehash, err := current.Verify(encoded, "password1")
			if err != nil {
				t.Fatalf("Verify: got error %v, want nil", err)
			}
			if !match {
				t.Errorf("Verify of a hash made under %+v: got match false, want true", tt.params)
			}
			if !needsRehash {
				t.Errorf("Verify of a hash made under %+v by a %+v hasher: got needsRehash false, want true", tt.params, cheapParams)
			}
		})
	}
}

func TestVerifyOWASPParams(t *testing.T) {
	owasp := mustHasher(t, OWASPParams)
	encoded, err := owasp.Hash("password1")
	if err != nil {
		t.Fatalf("Hash: got error %v, want nil", err)
	}
	if want := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(encoded, want) {
		t.Errorf("Hash: got %q, want prefix %q", encoded, want)
	}

	match, needsRehash, err := owasp.Verify(encoded, "password1")
	if err != nil {
		t.Fatalf("Verify: got error %v, want nil", err)
	}
	if !match {
		t.Errorf("Verify under OWASPParams: got match false, want true")
	}
	if needsRehash {
		t.Errorf("Verify under OWASPParams: got needsRehash true, want false")
	}

	old, err := mustHasher(t, cheapParams).Hash("password1")
	if err != nil {
		t.Fatalf("Hash under cheap params: got error %v, want nil", err)
	}
	match, needsRehash, err = owasp.Verify(old, "password1")
	if err != nil {
		t.Fatalf("Verify of a cheap hash: got error %v, want nil", err)
	}
	if !match {
		t.Errorf("Verify of a cheap hash by an OWASP hasher: got match false, want true")
	}
	if !needsRehash {
		t.Errorf("Verify of a cheap hash by an OWASP hasher: got needsRehash false, want true")
	}
}

func TestVerifyMalformedHash(t *testing.T) {
	b64 := base64.RawStdEncoding
	salt := b64.EncodeToString([]byte("0123456789abcdef"))
	key := b64.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	phc := func(version, params, salt, key string) string {
		return "$argon2id$" + version + "$" + params + "$" + salt + "$" + key
	}

	tests := []struct {
		name    string
		encoded string
	}{
		{"empty", ""},
		{"plain text", "password1"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"no leading dollar", "argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing key", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"extra part", phc("v=19", "m=64,t=1,p=1", salt, key) + "$x"},
		{"old version", phc("v=16", "m=64,t=1,p=1", salt, key)},
		{"version not number", phc("v=x", "m=64,t=1,p=1", salt, key)},
		{"version trailing text", phc("v=19x", "m=64,t=1,p=1", salt, key)},
		{"params reordered", phc("v=19", "t=1,m=64,p=1", salt, key)},
		{"params trailing text", phc("v=19", "m=64,t=1,p=1x", salt, key)},
		{"params space", phc("v=19", "m= 64,t=1,p=1", salt, key)},
		{"memory zero", phc("v=19", "m=0,t=1,p=1", salt, key)},
		{"memory too large", phc("v=19", "m=4194305,t=1,p=1", salt, key)},
		{"memory negative", phc("v=19", "m=-1,t=1,p=1", salt, key)},
		{"iterations zero", phc("v=19", "m=64,t=0,p=1", salt, key)},
		{"iterations too many", phc("v=19", "m=64,t=65,p=1", salt, key)},
		{"parallelism zero", phc("v=19", "m=64,t=1,p=0", salt, key)},
		{"parallelism overflow", phc("v=19", "m=64,t=1,p=256", salt, key)},
		{"salt not base64", phc("v=19", "m=64,t=1,p=1", "!!!!", key)},
		{"salt padded", phc("v=19", "m=64,t=1,p=1", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")), key)},
		{"salt too short", phc("v=19", "m=64,t=1,p=1", b64.EncodeToString([]byte("1234567")), key)},
		{"key not base64", phc("v=19", "m=64,t=1,p=1", salt, "!!!!")},
		{"key too short", phc("v=19", "m=64,t=1,p=1", salt, b64.EncodeToString([]byte("0123456789abcde")))},
	}

	h := mustHasher(t, cheapParams)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := parsePHC(tt.encoded)
			if !errors.Is(err, errMalformedHash) {
				t.Errorf("parsePHC(%q): got error %v, want errMalformedHash", tt.encoded, err)
			}

			match, _, err := h.Verify(tt.encoded, "password1")
			if err == nil {
				t.Errorf("Verify(%q): got nil error, want an error", tt.encoded)
			}
			if match {
				t.Errorf("Verify(%q): got match true, want false", tt.encoded)
			}
		})
	}
}

// TestParsePHCValid parses the largest parameters that parsePHC accepts.
func TestParsePHCValid(t *testing.T) {
	salt := []byte("saltsalt")
	key := []byte("0123456789abcdef")
	b64 := base64.RawStdEncoding
	encoded := "$argon2id$v=19$m=262144,t=64,p=255$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)

	params, gotSalt, gotKey, err := parsePHC(encoded)
	if err != nil {
		t.Fatalf("parsePHC(%q): got error %v, want nil", encoded, err)
	}
	want := HashParams{MemoryKiB: 256 * 1024, Iterations: 64, Parallelism: 255, SaltLength: 8, KeyLength: 16}
	if params != want {
		t.Errorf("parsePHC params: got %+v, want %+v", params, want)
	}
	if string(gotSalt) != string(salt) {
		t.Errorf("parsePHC salt: got %q, want %q", gotSalt, salt)
	}
	if string(gotKey) != string(key) {
		t.Errorf("parsePHC key: got %q, want %q", gotKey, key)
	}
}

// TestVerifyDummyCostsSameAsVerify checks the timing defence without a
// clock. The dummy hash must parse under the hasher's own params, so that
// VerifyDummy derives a key at the same cost as Verify.
func TestVerifyDummyCostsSameAsVerify(t *testing.T) {
	tests := []struct {
		name   string
		params HashParams
	}{
		{"cheap", cheapParams},
		{"minimum lengths", HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 16}},
		{"owasp", OWASPParams},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHasher(t, tt.params)
			params, _, _, err := parsePHC(h.dummy)
			if err != nil {
				t.Fatalf("parsePHC(dummy %q): got error %v, want nil", h.dummy, err)
			}
			if params != tt.params {
				t.Errorf("dummy params: got %+v, want the hasher's %+v", params, tt.params)
			}

			// VerifyDummy must not panic, whatever the password.
			h.VerifyDummy("")
			h.VerifyDummy("password1")
		})
	}
}

func FuzzParsePHC(f *testing.F) {
	h := mustHasher(f, cheapParams)
	valid, err := h.Hash("password1")
	if err != nil {
		f.Fatalf("Hash: got error %v, want nil", err)
	}
	f.Add(valid)
	f.Add("")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$")
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$%%%%$%%%%")

	f.Fuzz(func(t *testing.T, encoded string) {
		params, salt, key, err := parsePHC(encoded)
		if err != nil {
			if !errors.Is(err, errMalformedHash) {
				t.Errorf("parsePHC(%q): got error %v, want one wrapping errMalformedHash", encoded, err)
			}
			return
		}

		// Verify would derive a key under these params, so they must be in range.
		if params.MemoryKiB == 0 || params.MemoryKiB > 1<<22 {
			t.Errorf("parsePHC(%q): MemoryKiB %d out of range", encoded, params.MemoryKiB)
		}
		if params.Iterations == 0 || params.Iterations > 64 {
			t.Errorf("parsePHC(%q): Iterations %d out of range", encoded, params.Iterations)
		}
		if params.Parallelism == 0 {
			t.Errorf("parsePHC(%q): Parallelism 0, want at least 1", encoded)
		}
		if len(salt) < 8 {
			t.Errorf("parsePHC(%q): salt of %d bytes, want at least 8", encoded, len(salt))
		}
		if len(key) < 16 {
			t.Errorf("parsePHC(%q): key of %d bytes, want at least 16", encoded, len(key))
		}
		if int(params.SaltLength) != len(salt) {
			t.Errorf("parsePHC(%q): SaltLength %d, want len(salt) %d", encoded, params.SaltLength, len(salt))
		}
		if int(params.KeyLength) != len(key) {
			t.Errorf("parsePHC(%q): KeyLength %d, want len(key) %d", encoded, params.KeyLength, len(key))
		}
	})
}
