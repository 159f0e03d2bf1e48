package api

import (
	"errors"
	"strings"
	"testing"
)

// bindTarget covers each JSON kind that request structs use.
type bindTarget struct {
	Email    string   `json:"email"`
	Age      int      `json:"age"`
	Remember bool     `json:"remember"`
	Tags     []string `json:"tags"`
	Profile  struct {
		Name string `json:"name"`
	} `json:"profile"`
}

func TestDecodeJSONValid(t *testing.T) {
	body := `{"email":"ada@example.com","age":36,"remember":true,"tags":["a"],"profile":{"name":"Ada"}}` + "\n  "

	var got bindTarget
	if err := decodeJSON([]byte(body), &got); err != nil {
		t.Fatalf("decodeJSON(%q): got error %v, want nil", body, err)
	}
	if got.Email != "ada@example.com" {
		t.Errorf("Email: got %q, want %q", got.Email, "ada@example.com")
	}
	if got.Age != 36 {
		t.Errorf("Age: got %d, want 36", got.Age)
	}
	if !got.Remember {
		t.Errorf("Remember: got false, want true")
	}
	if len(got.Tags) != 1 || got.Tags[0] != "a" {
		t.Errorf("Tags: got %q, want [a]", got.Tags)
	}
	if got.Profile.Name != "Ada" {
		t.Errorf("Profile.Name: got %q, want %q", got.Profile.Name, "Ada")
	}
}

func TestDecodeJSONEmptyObject(t *testing.T) {
	var got bindTarget
	if err := decodeJSON([]byte(`{}`), &got); err != nil {
		t.Errorf("decodeJSON({}): got error %v, want nil", err)
	}
}

func TestDecodeJSONInvalid(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		wantCode    string
		wantMessage string // substring of the message
	}{
		{"empty", ``, "malformed_json", "empty"},
		{"whitespace only", "  \n", "malformed_json", "empty"},
		{"truncated", `{"email":`, "malformed_json", "ends too early"},
		{"missing colon", `{"email" "x"}`, "malformed_json", "at byte"},
		{"single quotes", `{'email':'x'}`, "malformed_json", "at byte"},
		{"trailing object", `{} {}`, "malformed_json", "single JSON object"},
		{"trailing garbage", `{"email":"x"}x`, "malformed_json", "single JSON object"},
		{"trailing brace", `{}}`, "malformed_json", "single JSON object"},
		{"unknown field", `{"bogus":1}`, "unknown_field", `"bogus"`},
		{"unknown nested field", `{"profile":{"bogus":1}}`, "unknown_field", `"bogus"`},
		{"string field number", `{"email":1}`, "invalid_type", `field "email" must be a string`},
		{"number field string", `{"age":"36"}`, "invalid_type", `field "age" must be a number`},
		{"number field fraction", `{"age":1.5}`, "invalid_type", `field "age" must be a number`},
		{"bool field string", `{"remember":"yes"}`, "invalid_type", `field "remember" must be a boolean`},
		{"array field string", `{"tags":"a"}`, "invalid_type", `field "tags" must be an array`},
		{"object field array", `{"profile":[]}`, "invalid_type", `field "profile" must be an object`},
		{"nested field number", `{"profile":{"name":1}}`, "invalid_type", `field "profile.name" must be a string`},
		{"top-level array", `[]`, "invalid_type", "must be a JSON object, not array"},
		{"top-level string", `"ada"`, "invalid_type", "must be a JSON object, not string"},
		{"top-level number", `1`, "invalid_type", "must be a JSON object, not number"},
		{"top-level null", `null`, "invalid_type", "must be a JSON object"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst bindTarget
			err := decodeJSON([]byte(tt.body), &dst)
			if err == nil {
				t.Fatalf("decodeJSON(%q): got nil error, want code %s", tt.body, tt.wantCode)
			}

			var apiErr *Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("decodeJSON(%q): got %T %v, want *Error", tt.body, err, err)
			}
			if apiErr.Status != 400 {
				t.Errorf("decodeJSON(%q): got status %d, want 400", tt.body, apiErr.Status)
			}
			if apiErr.Code != tt.wantCode {
				t.Errorf("decodeJSON(%q): got code %q, want %q", tt.body, apiErr.Code, tt.wantCode)
			}
			if !strings.Contains(apiErr.Message, tt.wantMessage) {
				t.Errorf("decodeJSON(%q): got message %q, want it to contain %q", tt.body, apiErr.Message, tt.wantMessage)
			}
		})
	}
}

func FuzzDecodeJSON(f *testing.F) {
	seeds := []string{
		``, `{}`, `null`, `[]`, `{"email":"a@b.c","age":1,"remember":true,"tags":["x"],"profile":{"name":"n"}}`,
		`{"email":1}`, `{"bogus":1}`, `{} {}`, `{"age":1e400}`, `{"tags":[1]}`, `{"profile":{"name":{}}}`,
		`{"email":"\ud800"}`, "{\"email\":\"\xff\"}", `{"email`, `[{"email":1}]`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		var dst bindTarget
		err := decodeJSON(body, &dst)
		if err == nil {
			return
		}

		var apiErr *Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("decodeJSON(%q): got %T %v, want *Error", body, err, err)
		}
		if apiErr.Status < 400 || apiErr.Status > 499 {
			t.Errorf("decodeJSON(%q): got status %d, want 4xx", body, apiErr.Status)
		}
		if apiErr.Code == "" {
			t.Errorf("decodeJSON(%q): got empty code", body)
		}
		if apiErr.Message == "" {
			t.Errorf("decodeJSON(%q): got empty message", body)
		}
	})
}
