package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"reflect"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// maxBodyBytes caps every request body; Fiber rejects a larger body with 413.
const maxBodyBytes = 64 * 1024

// bindJSON decodes the request body into dst strictly: one JSON object,
// no unknown fields, each field of the declared type.
func bindJSON(c *fiber.Ctx, dst any) error {
	mediaType, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mediaType != fiber.MIMEApplicationJSON {
		return newError(fiber.StatusUnsupportedMediaType, "unsupported_media_type",
			"Content-Type must be application/json")
	}
	return decodeJSON(c.Body(), dst)
}

// decodeJSON is bindJSON without the header check, for fuzzing.
func decodeJSON(body []byte, dst any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] != '{' && json.Valid(trimmed) {
		return newError(fiber.StatusBadRequest, "invalid_type", "request body must be a JSON object, not %s", jsonKind(trimmed[0]))
	}

	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()

	if err := dec.Decode(dst); err != nil {
		e := jsonError(err)
		if e.Code == "unknown_field" {
			e.Message += "; this endpoint accepts " + strings.Join(jsonFields(dst), ", ")
		}
		return e
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return newError(fiber.StatusBadRequest, "malformed_json", "request body must contain a single JSON object")
	}
	return nil
}

// jsonError turns a decoding error into a message that names the problem.
func jsonError(err error) *Error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError

	switch {
	case errors.Is(err, io.EOF):
		return newError(fiber.StatusBadRequest, "malformed_json", "request body is empty; send a JSON object")
	case errors.As(err, &syntaxErr):
		return newError(fiber.StatusBadRequest, "malformed_json",
			"malformed JSON at byte %d: %s", syntaxErr.Offset, strings.TrimPrefix(syntaxErr.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newError(fiber.StatusBadRequest, "malformed_json", "malformed JSON: the body ends too early")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return newError(fiber.StatusBadRequest, "invalid_type", "request body must be a JSON object, not %s", typeErr.Value)
		}
		return newError(fiber.StatusBadRequest, "invalid_type",
			"field %q must be %s, not %s", typeErr.Field, jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return newError(fiber.StatusBadRequest, "unknown_field",
			"unknown field %s; remove it from the request", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return newError(fiber.StatusBadRequest, "malformed_json", "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	}
	return "a number"
}

// jsonKind names the JSON value that starts with b.
func jsonKind(b byte) string {
	switch b {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// jsonFields lists the JSON field names of the struct that dst points to.
func jsonFields(dst any) []string {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}
