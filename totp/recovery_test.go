package totp

import (
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

var recoveryCodeFormat = regexp.MustCompile(`^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{5}-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{5}$`)

// testKey replaces the key derived from ENLACE_SECRET_KEY.
var testKey = []byte("recovery code test key")

func mustNewRecoveryCodes(t *testing.T, n int) (plain, hashes []string) {
	t.Helper()
	plain, hashes, err := NewRecoveryCodes(testKey, n)
	if err != nil {
		t.Fatalf("NewRecoveryCodes(%d): %v", n, err)
	}
	return plain, hashes
}

func TestNewRecoveryCodesFormat(t *testing.T) {
	plain, hashes := mustNewRecoveryCodes(t, RecoveryCodeCount)

	if len(plain) != 10 || len(hashes) != 10 {
		t.Fatalf("got %d codes and %d hashes, want 10 of each", len(plain), len(hashes))
	}
	seen := make(map[string]bool)
	for i, code := range plain {
		if !recoveryCodeFormat.MatchString(code) {
			t.Errorf("code %q is not XXXXX-XXXXX from the unambiguous alphabet", code)
		}
		if strings.ContainsAny(code, "01OIL") {
			t.Errorf("code %q contains an ambiguous character", code)
		}
		if seen[code] {
			t.Errorf("code %q appears twice", code)
		}
		seen[code] = true

		if hashes[i] != HashRecoveryCode(testKey, code) {
			t.Errorf("hash %d = %q, want HashRecoveryCode(testKey, %q) = %q", i, hashes[i], code, HashRecoveryCode(testKey, code))
		}
		if decoded, err := hex.DecodeString(hashes[i]); err != nil || len(decoded) != 32 {
			t.Errorf("hash %q is not 32 bytes of hex", hashes[i])
		}
	}
}

func TestNewRecoveryCodesCount(t *testing.T) {
	for _, n := range []int{1, 3, 100} {
		plain, hashes := mustNewRecoveryCodes(t, n)
		if len(plain) != n || len(hashes) != n {
			t.Errorf("NewRecoveryCodes(%d) returned %d codes and %d hashes", n, len(plain), len(hashes))
		}
	}
	for _, n := range []int{0, -1} {
		if _, _, err := NewRecoveryCodes(testKey, n); err == nil {
			t.Errorf("NewRecoveryCodes(%d) succeeded, want an error", n)
		}
	}
}

// TestRecoveryCodeSymbolsUniform checks that every alphabet symbol is
// about equally common. Each symbol is expected 10,000 times in 310,000,
// with a standard deviation of about 98, and the bounds are 5 of those away.
// Reducing random bytes modulo 31 without rejection would give 8 symbols
// about 10,900 each, which fails.
func TestRecoveryCodeSymbolsUniform(t *testing.T) {
	const total = 310_000
	counts := make(map[rune]int)
	for range total / RecoveryCodeLength {
		code, err := randomRecoveryCode()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range code {
			counts[r]++
		}
	}

	if len(counts) != len(recoveryAlphabet) {
		t.Errorf("saw %d distinct symbols, want %d", len(counts), len(recoveryAlphabet))
	}
	for _, r := range recoveryAlphabet {
		if counts[r] < 9_500 || counts[r] > 10_500 {
			t.Errorf("symbol %q appeared %d times, want about 10,000", r, counts[r])
		}
	}
}

func TestMatchRecoveryCode(t *testing.T) {
	plain, hashes := mustNewRecoveryCodes(t, RecoveryCodeCount)
	code := plain[3]
	bare := strings.ReplaceAll(code, "-", "")

	accepted := map[string]string{
		"as shown":          code,
		"lower case":        strings.ToLower(code),
		"mixed case":        strings.ToLower(code[:3]) + code[3:],
		"no dash":           bare,
		"space for dash":    bare[:5] + " " + bare[5:],
		"surrounding space": "  " + code + "\n",
		"extra dashes":      strings.Join(strings.Split(bare, ""), "-"),
	}
	for name, input := range accepted {
		index, ok := MatchRecoveryCode(testKey, input, hashes)
		if !ok || index != 3 {
			t.Errorf("%s (%q): MatchRecoveryCode = %d, %v; want 3, true", name, input, index, ok)
		}
	}

	rejected := map[string]string{
		"empty":          "",
		"one changed":    bare[:9] + otherSymbol(bare[9]),
		"too short":      bare[:9],
		"too long":       bare + "2",
		"two codes":      plain[3] + plain[4],
		"not from a set": "ABCDE-FGHJK",
	}
	for name, input := range rejected {
		if index, ok := MatchRecoveryCode(testKey, input, hashes); ok || index != -1 {
			t.Errorf("%s (%q): MatchRecoveryCode = %d, %v; want -1, false", name, input, index, ok)
		}
	}
}

// otherSymbol returns an alphabet symbol other than c.
func otherSymbol(c byte) string {
	if c == recoveryAlphabet[0] {
		return recoveryAlphabet[1:2]
	}
	return recoveryAlphabet[0:1]
}

func TestMatchRecoveryCodeOwnHashOnly(t *testing.T) {
	plain, hashes := mustNewRecoveryCodes(t, RecoveryCodeCount)
	for i, code := range plain {
		for j, hash := range hashes {
			_, ok := MatchRecoveryCode(testKey, code, []string{hash})
			if ok != (i == j) {
				t.Errorf("code %d against hash %d: match = %v, want %v", i, j, ok, i == j)
			}
		}
		if index, ok := MatchRecoveryCode(testKey, code, hashes); !ok || index != i {
			t.Errorf("code %d against all hashes: MatchRecoveryCode = %d, %v; want %d, true", i, index, ok, i)
		}
	}
}

func TestMatchRecoveryCodeUsedAndDuplicate(t *testing.T) {
	plain, hashes := mustNewRecoveryCodes(t, RecoveryCodeCount)

	used := append([]string(nil), hashes...)
	used[2] = ""
	if index, ok := MatchRecoveryCode(testKey, plain[2], used); ok {
		t.Errorf("code with a blanked hash matched at %d", index)
	}
	if index, ok := MatchRecoveryCode(testKey, plain[5], used); !ok || index != 5 {
		t.Errorf("other code after a blank: MatchRecoveryCode = %d, %v; want 5, true", index, ok)
	}

	duplicated := append(append([]string(nil), hashes...), hashes[7])
	if index, ok := MatchRecoveryCode(testKey, plain[7], duplicated); !ok || index != 7 {
		t.Errorf("code with a duplicated hash: MatchRecoveryCode = %d, %v; want the first index 7", index, ok)
	}

	if index, ok := MatchRecoveryCode(testKey, plain[0], nil); ok || index != -1 {
		t.Errorf("no hashes: MatchRecoveryCode = %d, %v; want -1, false", index, ok)
	}
	if _, ok := MatchRecoveryCode(testKey, "", []string{""}); ok {
		t.Errorf("empty code matched an empty hash")
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	cases := map[string]string{
		"abcde-fghjk":     "ABCDEFGHJK",
		"ABCDE FGHJK":     "ABCDEFGHJK",
		" a-b c\td\n":     "ABCD",
		"--":              "",
		"":                "",
		"ABCDEFGHJK":      "ABCDEFGHJK",
		"abc\u00a0de":     "ABCDE",
		"ab\u2013cd":      "AB\u2013CD",
		"\xffab":          "\uFFFDAB",
		"23456-789ab":     "23456789AB",
		"\u3000abc\u3000": "ABC",
	}
	for input, want := range cases {
		if got := NormalizeRecoveryCode(input); got != want {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, want %q", input, got, want)
		}
	}
}

func TestHashRecoveryCodeNormalizes(t *testing.T) {
	want := HashRecoveryCode(testKey, "ABCDEFGHJK")
	for _, input := range []string{"abcde-fghjk", "ABCDE FGHJK", " abcdefghjk "} {
		if got := HashRecoveryCode(testKey, input); got != want {
			t.Errorf("HashRecoveryCode(testKey, %q) = %q, want %q", input, got, want)
		}
	}
	if HashRecoveryCode(testKey, "ABCDEFGHJM") == want {
		t.Errorf("two different codes have the same hash")
	}
}

// FuzzNormalizeRecoveryCode checks that normalization never panics, is
// idempotent, leaves no whitespace, dash or lower-case ASCII letter, and
// gives the same hash as the input.
func FuzzNormalizeRecoveryCode(f *testing.F) {
	f.Add("abcde-fghjk")
	f.Add(" ABCDE FGHJK\n")
	f.Add("")
	f.Add("\xff\xfe-")
	f.Add("ǅǆß\u0130\u0131")
	f.Add("\u2028\u00a0-")

	f.Fuzz(func(t *testing.T, code string) {
		normalized := NormalizeRecoveryCode(code)

		if again := NormalizeRecoveryCode(normalized); again != normalized {
			t.Fatalf("NormalizeRecoveryCode is not idempotent: %q -> %q -> %q", code, normalized, again)
		}
		for _, r := range normalized {
			if r == '-' || unicode.IsSpace(r) || ('a' <= r && r <= 'z') {
				t.Fatalf("NormalizeRecoveryCode(%q) = %q, which contains %q", code, normalized, r)
			}
		}
		if HashRecoveryCode(testKey, code) != HashRecoveryCode(testKey, normalized) {
			t.Fatalf("hash of %q differs from hash of its normal form %q", code, normalized)
		}
		if _, ok := MatchRecoveryCode(testKey, code, []string{HashRecoveryCode(testKey, normalized)}); !ok {
			t.Fatalf("%q does not match the hash of its normal form %q", code, normalized)
		}
	})
}

func TestRecoveryHashDependsOnKey(t *testing.T) {
	if HashRecoveryCode(testKey, "ABCDE-FGHJK") == HashRecoveryCode([]byte("another key"), "ABCDE-FGHJK") {
		t.Error("hashes under two keys are equal; the key is not used")
	}
	plain, hashes := mustNewRecoveryCodes(t, 1)
	if _, ok := MatchRecoveryCode([]byte("another key"), plain[0], hashes); ok {
		t.Error("a code matched under another key")
	}
}
