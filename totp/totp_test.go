package totp

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"image/png"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pquernatotp "github.com/pquerna/otp/totp"
)

// rfcSeed is the SHA-1 seed of the RFC 4226 and RFC 6238 test vectors.
const rfcSeed = "12345678901234567890"

// testSecret is a fixed 20-byte secret, base32-encoded, for tests that need
// reproducible codes.
const testSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// testNow is in the middle of its time step, so that offsets of whole
// periods land in the middle of their steps too.
var testNow = time.Unix(1_700_000_010, 0)

func mustGenerateCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := GenerateCode(secret, at)
	if err != nil {
		t.Fatalf("GenerateCode(%q, %v): %v", secret, at, err)
	}
	return code
}

// TestRFC6238Vectors checks the SHA-1 vectors of RFC 6238 Appendix B.
func TestRFC6238Vectors(t *testing.T) {
	key := []byte(rfcSeed)
	secret := base32.StdEncoding.EncodeToString(key)

	cases := []struct {
		unix      int64
		wantStep  int64
		wantEight string
	}{
		{59, 0x1, "94287082"},
		{1111111109, 0x23523EC, "07081804"},
		{1111111111, 0x23523ED, "14050471"},
		{1234567890, 0x273EF07, "89005924"},
		{2000000000, 0x3F940AA, "69279037"},
		{20000000000, 0x27BC86AA, "65353130"},
	}
	for _, tc := range cases {
		at := time.Unix(tc.unix, 0)
		step := StepAt(at)
		if step != tc.wantStep {
			t.Errorf("StepAt(%d) = %#x, want %#x", tc.unix, step, tc.wantStep)
		}

		eight, ok := codeAtStep(key, step, 8)
		if !ok || eight != tc.wantEight {
			t.Errorf("8-digit code at %d = %q, %v; want %q", tc.unix, eight, ok, tc.wantEight)
		}

		wantSix := tc.wantEight[2:]
		six, err := GenerateCode(secret, at)
		if err != nil || six != wantSix {
			t.Errorf("GenerateCode at %d = %q, %v; want %q", tc.unix, six, err, wantSix)
		}

		accepted, err := Verify(secret, wantSix, at, 0)
		if err != nil || accepted != tc.wantStep {
			t.Errorf("Verify(%q) at %d = %#x, %v; want %#x", wantSix, tc.unix, accepted, err, tc.wantStep)
		}
	}
}

// TestHOTPVectors checks the 6-digit HOTP vectors of RFC 4226 Appendix D.
func TestHOTPVectors(t *testing.T) {
	want := []string{
		"755224", "287082", "359152", "969429", "338314",
		"254676", "287922", "162583", "399871", "520489",
	}
	for counter, wantCode := range want {
		if got := hotp([]byte(rfcSeed), uint64(counter), 6); got != wantCode {
			t.Errorf("hotp(counter %d) = %q, want %q", counter, got, wantCode)
		}
	}
}

// TestGenerateCodeMatchesPquerna compares GenerateCode with the TOTP code
// of github.com/pquerna/otp, an independent implementation.
func TestGenerateCodeMatchesPquerna(t *testing.T) {
	random := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		key := make([]byte, SecretSize)
		for i := range key {
			key[i] = byte(random.UintN(256))
		}
		secret := secretEncoding.EncodeToString(key)
		at := time.Unix(random.Int64N(4_000_000_000), 0)

		got := mustGenerateCode(t, secret, at)
		want, err := pquernatotp.GenerateCode(secret, at)
		if err != nil {
			t.Fatalf("pquerna GenerateCode: %v", err)
		}
		if got != want {
			t.Errorf("GenerateCode(%q, %d) = %q, pquerna returns %q", secret, at.Unix(), got, want)
		}
	}
}

func TestStepAtBoundaries(t *testing.T) {
	cases := []struct {
		unix int64
		want int64
	}{
		{0, 0},
		{29, 0},
		{30, 1},
		{59, 1},
		{60, 2},
		{-1, -1},
		{-30, -1},
		{-31, -2},
	}
	for _, tc := range cases {
		if got := StepAt(time.Unix(tc.unix, 0)); got != tc.want {
			t.Errorf("StepAt(%d) = %d, want %d", tc.unix, got, tc.want)
		}
	}
}

func TestGenerateCodeBeforeEpoch(t *testing.T) {
	if code, err := GenerateCode(testSecret, time.Unix(-1, 0)); err == nil {
		t.Errorf("GenerateCode before the epoch = %q, want an error", code)
	}
}

func TestVerifyWindow(t *testing.T) {
	current := StepAt(testNow)
	cases := []struct {
		name     string
		offset   int64
		wantStep int64
		wantErr  error
	}{
		{"two steps early", -2, 0, ErrInvalidCode},
		{"one step early", -1, current - 1, nil},
		{"current step", 0, current, nil},
		{"one step late", 1, current + 1, nil},
		{"two steps late", 2, 0, ErrInvalidCode},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code := mustGenerateCode(t, testSecret, testNow.Add(time.Duration(tc.offset)*Period))

			step, err := Verify(testSecret, code, testNow, 0)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tc.wantErr)
			}
			if step != tc.wantStep {
				t.Errorf("Verify step = %d, want %d", step, tc.wantStep)
			}
		})
	}
}

// TestVerifyWindowAtStepEdges checks the first and last second of a step,
// where the window must still be whole steps around the current one.
func TestVerifyWindowAtStepEdges(t *testing.T) {
	stepStart := time.Unix(StepAt(testNow)*int64(Period/time.Second), 0)
	edges := map[string]time.Time{
		"first second": stepStart,
		"last second":  stepStart.Add(Period - time.Second),
	}
	for name, now := range edges {
		t.Run(name, func(t *testing.T) {
			current := StepAt(now)
			for offset := int64(-2); offset <= 2; offset++ {
				code := mustGenerateCode(t, testSecret, stepStart.Add(time.Duration(offset)*Period))
				step, err := Verify(testSecret, code, now, 0)

				if offset < -Skew || offset > Skew {
					if !errors.Is(err, ErrInvalidCode) {
						t.Errorf("offset %d: Verify = %d, %v; want ErrInvalidCode", offset, step, err)
					}
					continue
				}
				if err != nil || step != current+offset {
					t.Errorf("offset %d: Verify = %d, %v; want step %d", offset, step, err, current+offset)
				}
			}
		})
	}
}

func TestVerifyReplay(t *testing.T) {
	current := StepAt(testNow)
	currentCode := mustGenerateCode(t, testSecret, testNow)
	previousCode := mustGenerateCode(t, testSecret, testNow.Add(-Period))
	nextCode := mustGenerateCode(t, testSecret, testNow.Add(Period))

	lastStep, err := Verify(testSecret, currentCode, testNow, 0)
	if err != nil || lastStep != current {
		t.Fatalf("first Verify = %d, %v; want step %d", lastStep, err, current)
	}

	if _, err := Verify(testSecret, currentCode, testNow, lastStep); !errors.Is(err, ErrReplayed) {
		t.Errorf("same code again: err = %v, want ErrReplayed", err)
	}
	if _, err := Verify(testSecret, previousCode, testNow, lastStep); !errors.Is(err, ErrReplayed) {
		t.Errorf("code of an earlier step: err = %v, want ErrReplayed", err)
	}
	if _, err := Verify(testSecret, "000000", testNow, lastStep); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("wrong code after a use: err = %v, want ErrInvalidCode", err)
	}

	later := testNow.Add(Period)
	nextStep, err := Verify(testSecret, nextCode, later, lastStep)
	if err != nil || nextStep != current+1 {
		t.Fatalf("next step's code = %d, %v; want step %d", nextStep, err, current+1)
	}
	if _, err := Verify(testSecret, nextCode, later, nextStep); !errors.Is(err, ErrReplayed) {
		t.Errorf("next step's code again: err = %v, want ErrReplayed", err)
	}
}

// TestVerifyReplayOfEarlyCode checks that a code accepted one step early
// cannot be used again once its own step arrives.
func TestVerifyReplayOfEarlyCode(t *testing.T) {
	nextCode := mustGenerateCode(t, testSecret, testNow.Add(Period))

	lastStep, err := Verify(testSecret, nextCode, testNow, 0)
	if err != nil || lastStep != StepAt(testNow)+1 {
		t.Fatalf("early Verify = %d, %v; want step %d", lastStep, err, StepAt(testNow)+1)
	}
	if _, err := Verify(testSecret, nextCode, testNow.Add(Period), lastStep); !errors.Is(err, ErrReplayed) {
		t.Errorf("code in its own step after early use: err = %v, want ErrReplayed", err)
	}

	currentCode := mustGenerateCode(t, testSecret, testNow)
	if _, err := Verify(testSecret, currentCode, testNow, lastStep); !errors.Is(err, ErrReplayed) {
		t.Errorf("code of a step before the used one: err = %v, want ErrReplayed", err)
	}
}

// TestVerifySharedCode checks that when two steps in the window share a
// code, Verify accepts the earlier unused one first and the later one next.
// Steps 56668234 and 56668235 of testSecret both have the code "065554".
func TestVerifySharedCode(t *testing.T) {
	const earlier, later = int64(56668234), int64(56668235)
	now := time.Unix(later*int64(Period/time.Second)+10, 0)
	for _, step := range []int64{earlier, later} {
		at := time.Unix(step*int64(Period/time.Second), 0)
		if code := mustGenerateCode(t, testSecret, at); code != "065554" {
			t.Fatalf("code of step %d = %q, want 065554 for this test", step, code)
		}
	}

	first, err := Verify(testSecret, "065554", now, 0)
	if err != nil || first != earlier {
		t.Fatalf("first Verify = %d, %v; want step %d", first, err, earlier)
	}
	second, err := Verify(testSecret, "065554", now, first)
	if err != nil || second != later {
		t.Fatalf("second Verify = %d, %v; want step %d", second, err, later)
	}
	if _, err := Verify(testSecret, "065554", now, second); !errors.Is(err, ErrReplayed) {
		t.Errorf("third Verify err = %v, want ErrReplayed", err)
	}
}

func TestVerifyCodeFormat(t *testing.T) {
	code := mustGenerateCode(t, testSecret, testNow)
	current := StepAt(testNow)

	accepted := map[string]string{
		"plain":               code,
		"space in the middle": code[:3] + " " + code[3:],
		"spaces everywhere":   strings.Join(strings.Split(code, ""), " "),
		"surrounding spaces":  "  " + code + " ",
		"tab and newline":     "\t" + code[:3] + " " + code[3:] + "\n",
	}
	for name, input := range accepted {
		step, err := Verify(testSecret, input, testNow, 0)
		if err != nil || step != current {
			t.Errorf("%s (%q): Verify = %d, %v; want step %d", name, input, step, err, current)
		}
	}

	rejected := map[string]string{
		"empty":              "",
		"only spaces":        "      ",
		"five digits":        code[:5],
		"seven digits":       code + "7",
		"letter":             code[:5] + "x",
		"dash":               code[:3] + "-" + code[3:],
		"plus sign":          "+" + code[1:],
		"full-width digit":   code[:5] + "\uff10",
		"Arabic-Indic digit": code[:5] + "\u0660",
		"NUL byte":           code[:5] + "\x00",
		"invalid UTF-8":      code[:5] + "\xff",
	}
	for name, input := range rejected {
		if step, err := Verify(testSecret, input, testNow, 0); !errors.Is(err, ErrInvalidCode) {
			t.Errorf("%s (%q): Verify = %d, %v; want ErrInvalidCode", name, input, step, err)
		}
	}
}

func TestVerifySecretFormat(t *testing.T) {
	code := mustGenerateCode(t, testSecret, testNow)

	accepted := map[string]string{
		"lower case":  strings.ToLower(testSecret),
		"padded":      base32.StdEncoding.EncodeToString([]byte(rfcSeed)),
		"surrounding": " " + testSecret + "\n",
	}
	for name, secret := range accepted {
		want := mustGenerateCode(t, secret, testNow)
		if _, err := Verify(secret, want, testNow, 0); err != nil {
			t.Errorf("%s secret %q: Verify: %v", name, secret, err)
		}
	}

	rejected := map[string]string{
		"empty":         "",
		"not base32":    "not base32!",
		"digit 1":       "JBSWY3DPEHPK3PX1JBSWY3DPEHPK3PXP",
		"10 bytes":      secretEncoding.EncodeToString(make([]byte, 10)),
		"15 bytes":      secretEncoding.EncodeToString(make([]byte, 15)),
		"inner padding": "JBSWY3DP==PK3PXPJBSWY3DPEHPK3PXP",
	}
	for name, secret := range rejected {
		if _, err := Verify(secret, code, testNow, 0); !errors.Is(err, ErrInvalidSecret) {
			t.Errorf("%s secret %q: Verify err = %v, want ErrInvalidSecret", name, secret, err)
		}
		if _, err := GenerateCode(secret, testNow); !errors.Is(err, ErrInvalidSecret) {
			t.Errorf("%s secret %q: GenerateCode err = %v, want ErrInvalidSecret", name, secret, err)
		}
	}
}

func TestNewSecret(t *testing.T) {
	first, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	second, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}

	if len(first) != 32 {
		t.Errorf("secret %q has %d characters, want 32", first, len(first))
	}
	if strings.ContainsAny(first, "=") {
		t.Errorf("secret %q is padded", first)
	}
	key, err := secretEncoding.DecodeString(first)
	if err != nil || len(key) != SecretSize {
		t.Errorf("secret %q decodes to %d bytes, %v; want %d", first, len(key), err, SecretSize)
	}
	if first == second {
		t.Errorf("two secrets are both %q", first)
	}
	if _, err := GenerateCode(first, testNow); err != nil {
		t.Errorf("GenerateCode with a new secret: %v", err)
	}
}

func TestProvisioningURIExact(t *testing.T) {
	got := ProvisioningURI(testSecret, "Acme Co", "ada@example.com")
	want := "otpauth://totp/Acme%20Co:ada%40example.com?secret=" + testSecret +
		"&issuer=Acme%20Co&algorithm=SHA1&digits=6&period=30"
	if got != want {
		t.Errorf("ProvisioningURI =\n%s\nwant\n%s", got, want)
	}
}

// TestProvisioningURIParses reads the URI back with net/url and with
// github.com/pquerna/otp, as an authenticator app would.
func TestProvisioningURIParses(t *testing.T) {
	cases := []struct {
		name        string
		issuer      string
		account     string
		wantIssuer  string
		wantAccount string
	}{
		{"simple", "Acme", "ada@example.com", "Acme", "ada@example.com"},
		{"spaces", "Acme Co", "ada+totp@example.com", "Acme Co", "ada+totp@example.com"},
		{"query characters", "Tom & Jerry? #1 = 100%", "ada@example.com", "Tom & Jerry? #1 = 100%", "ada@example.com"},
		{"colon in issuer", "Acme: Staging", "ada@example.com", "Acme: Staging", "ada@example.com"},
		{"colon in account", "Acme", "ada:x@example.com", "Acme", "adax@example.com"},
		{"non-ASCII", "Señor Café", "josé@example.com", "Señor Café", "josé@example.com"},
		{"no issuer", "", "ada@example.com", "", "ada@example.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uri := ProvisioningURI(testSecret, tc.issuer, tc.account)

			parsed, err := url.Parse(uri)
			if err != nil {
				t.Fatalf("url.Parse(%q): %v", uri, err)
			}
			if parsed.Scheme != "otpauth" || parsed.Host != "totp" {
				t.Errorf("URI %q has scheme %q and host %q, want otpauth and totp", uri, parsed.Scheme, parsed.Host)
			}
			if strings.Contains(parsed.RawQuery, "+") {
				t.Errorf("query %q contains +, want %%20 for spaces", parsed.RawQuery)
			}
			if strings.Count(parsed.Path, ":") > 1 {
				t.Errorf("label %q has more than one colon", parsed.Path)
			}

			query := parsed.Query()
			if got := query.Get("issuer"); got != tc.wantIssuer {
				t.Errorf("issuer parameter = %q, want %q", got, tc.wantIssuer)
			}
			if got := query.Get("secret"); got != testSecret {
				t.Errorf("secret parameter = %q, want %q", got, testSecret)
			}

			key, err := otp.NewKeyFromURL(uri)
			if err != nil {
				t.Fatalf("otp.NewKeyFromURL(%q): %v", uri, err)
			}
			if key.Type() != "totp" {
				t.Errorf("key type = %q, want totp", key.Type())
			}
			if key.Issuer() != tc.wantIssuer {
				t.Errorf("key issuer = %q, want %q", key.Issuer(), tc.wantIssuer)
			}
			if key.AccountName() != tc.wantAccount {
				t.Errorf("key account = %q, want %q", key.AccountName(), tc.wantAccount)
			}
			if key.Secret() != testSecret {
				t.Errorf("key secret = %q, want %q", key.Secret(), testSecret)
			}
			if key.Algorithm() != otp.AlgorithmSHA1 {
				t.Errorf("key algorithm = %v, want SHA1", key.Algorithm())
			}
			if key.Digits() != otp.DigitsSix {
				t.Errorf("key digits = %v, want 6", key.Digits())
			}
			if key.Period() != 30 {
				t.Errorf("key period = %d, want 30", key.Period())
			}
		})
	}
}

func TestQRCodePNG(t *testing.T) {
	uri := ProvisioningURI(testSecret, "Acme Co", "ada@example.com")

	data, err := QRCodePNG(uri, 256)
	if err != nil {
		t.Fatalf("QRCodePNG: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	if bounds := img.Bounds(); bounds.Dx() != 256 || bounds.Dy() != 256 {
		t.Errorf("image is %dx%d, want 256x256", bounds.Dx(), bounds.Dy())
	}

	encoded, err := QRCodePNGBase64(uri, 256)
	if err != nil {
		t.Fatalf("QRCodePNGBase64: %v", err)
	}
	decoded, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatalf("base64 decode: %v", err)
	}
	if !bytes.Equal(decoded, data) {
		t.Errorf("QRCodePNGBase64 decodes to %d bytes that differ from QRCodePNG's %d", len(decoded), len(data))
	}
}

func TestQRCodePNGRejects(t *testing.T) {
	uri := ProvisioningURI(testSecret, "Acme Co", "ada@example.com")
	cases := []struct {
		name string
		uri  string
		size int
	}{
		{"zero size", uri, 0},
		{"negative size", uri, -1},
		{"smaller than the QR code", uri, 20},
		{"above the maximum", uri, MaxQRCodeSize + 1},
		{"unparsable URI", "otpauth://totp/%zz", 256},
	}
	for _, tc := range cases {
		if _, err := QRCodePNG(tc.uri, tc.size); err == nil {
			t.Errorf("%s: QRCodePNG(%q, %d) succeeded, want an error", tc.name, tc.uri, tc.size)
		}
		if _, err := QRCodePNGBase64(tc.uri, tc.size); err == nil {
			t.Errorf("%s: QRCodePNGBase64(%q, %d) succeeded, want an error", tc.name, tc.uri, tc.size)
		}
	}
}

// TestQRCodePNGMinimumSize checks the minimum size that the QRCodePNG
// documentation gives for a typical provisioning URI.
func TestQRCodePNGMinimumSize(t *testing.T) {
	uri := ProvisioningURI(testSecret, "Acme Co", "ada@example.com")
	if _, err := QRCodePNG(uri, 49); err != nil {
		t.Errorf("QRCodePNG at 49 pixels: %v", err)
	}
	if _, err := QRCodePNG(uri, 48); err == nil {
		t.Errorf("QRCodePNG at 48 pixels succeeded, want an error")
	}
}

// FuzzVerify checks that Verify never panics, that it accepts only codes of
// 6 ASCII digits, and that an accepted step lies in the window, is above
// lastStep and has the code that was given.
func FuzzVerify(f *testing.F) {
	f.Add(testSecret, "123456", int64(1_700_000_010), int64(0))
	f.Add(testSecret, " 123 456 ", int64(59), int64(0))
	f.Add(testSecret, "1234567", int64(0), int64(-1))
	f.Add(base32.StdEncoding.EncodeToString([]byte(rfcSeed)), "287082", int64(59), int64(0))
	f.Add("", "", int64(-1), int64(9_000_000_000_000_000_000))
	f.Add("not base32", "١٢٣٤٥٦", int64(-9_000_000_000_000_000_000), int64(-9_000_000_000_000_000_000))

	f.Fuzz(func(t *testing.T, secret, code string, unix, lastStep int64) {
		now := time.Unix(unix, 0)
		step, err := Verify(secret, code, now, lastStep)
		if err != nil {
			if !errors.Is(err, ErrInvalidCode) && !errors.Is(err, ErrReplayed) && !errors.Is(err, ErrInvalidSecret) {
				t.Fatalf("Verify returned an unexpected error: %v", err)
			}
			return
		}

		normalized, ok := normalizeCode(code)
		if !ok || len(normalized) != Digits || strings.Trim(normalized, "0123456789") != "" {
			t.Fatalf("Verify accepted %q, which is not 6 digits after removing whitespace", code)
		}
		if step <= lastStep {
			t.Fatalf("Verify accepted step %d, not above lastStep %d", step, lastStep)
		}
		current := StepAt(now)
		if step < current-Skew || step > current+Skew {
			t.Fatalf("Verify accepted step %d, outside the window around %d", step, current)
		}
		key, err := decodeSecret(secret)
		if err != nil {
			t.Fatalf("Verify accepted a code for an undecodable secret: %v", err)
		}
		if expected, _ := codeAtStep(key, step, Digits); expected != normalized {
			t.Fatalf("Verify accepted %q for step %d, whose code is %q", normalized, step, expected)
		}
	})
}
