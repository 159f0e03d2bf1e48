package api

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/store"
	"github.com/enlace-auth/enlace/tenant"
)

// Error is an error with a client-safe message. Every error a handler
// returns is turned into one by toError, in one place.
type Error struct {
	Status  int
	Code    string
	Message string
	// Fields names each invalid request field with what is accepted.
	Fields map[string]string
	// RetryAfter is sent as the Retry-After header when set.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error  string            `json:"error"`
	Code   string            `json:"code"`
	Fields map[string]string `json:"fields,omitempty"`
}

func newError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// toError maps any error onto the client-safe Error sent in its place.
func toError(err error) *Error {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr
	}

	var validation *accounts.ValidationError
	if errors.As(err, &validation) {
		return &Error{Status: fiber.StatusBadRequest, Code: "validation_failed", Message: validation.Error(), Fields: validation.Fields}
	}

	for _, m := range sentinelErrors {
		if errors.Is(err, m.err) {
			return &Error{Status: m.status, Code: m.code, Message: m.err.Error()}
		}
	}

	// Tenant input errors carry the detail after the sentinel's text, such
	// as `slug "www" is reserved; choose another`.
	if errors.Is(err, tenant.ErrInvalid) {
		return &Error{Status: fiber.StatusBadRequest, Code: "invalid_tenant", Message: detailAfter(err, tenant.ErrInvalid)}
	}
	if errors.Is(err, store.ErrConflict) {
		return &Error{Status: fiber.StatusConflict, Code: "conflict", Message: detailAfter(err, store.ErrConflict)}
	}

	var fiberErr *fiber.Error
	if errors.As(err, &fiberErr) {
		return fiberError(fiberErr)
	}
	return &Error{Status: fiber.StatusInternalServerError, Code: "internal_error", Message: "internal server error; try again later"}
}

var sentinelErrors = []struct {
	err    error
	status int
	code   string
}{
	{accounts.ErrInvalidCredentials, fiber.StatusUnauthorized, "invalid_credentials"},
	{accounts.ErrEmailTaken, fiber.StatusConflict, "email_exists"},
	{accounts.ErrRegistrationDisabled, fiber.StatusForbidden, "registration_disabled"},
	{accounts.ErrAccountDisabled, fiber.StatusForbidden, "account_disabled"},
	{accounts.ErrSessionInvalid, fiber.StatusUnauthorized, "session_invalid"},
	{accounts.ErrSessionExpired, fiber.StatusUnauthorized, "session_expired"},
	{accounts.ErrSessionWrongTenant, fiber.StatusUnauthorized, "session_wrong_tenant"},
	{accounts.ErrSessionNotFound, fiber.StatusNotFound, "session_not_found"},
	{tenant.ErrUnknownTenant, fiber.StatusNotFound, "unknown_tenant"},
	{store.ErrInvalidCursor, fiber.StatusBadRequest, "invalid_cursor"},
	{accounts.ErrUnlinkWithoutPassword, fiber.StatusBadRequest, "unlink_without_password"},
	{accounts.ErrNotLinked, fiber.StatusBadRequest, "not_linked"},
	{accounts.ErrIdentityTaken, fiber.StatusConflict, "identity_taken"},
	{accounts.ErrAlreadyLinked, fiber.StatusConflict, "already_linked"},
	{accounts.ErrTOTPUnavailable, fiber.StatusForbidden, "2fa_unavailable"},
	{accounts.ErrTOTPEnabled, fiber.StatusConflict, "2fa_enabled"},
	{accounts.ErrTOTPNotEnabled, fiber.StatusBadRequest, "2fa_not_enabled"},
	{accounts.ErrTOTPNoPending, fiber.StatusBadRequest, "2fa_no_enrolment"},
	{accounts.ErrInvalidTOTPCode, fiber.StatusUnauthorized, "invalid_2fa_code"},
	{accounts.ErrInvalidRecoveryCode, fiber.StatusUnauthorized, "invalid_recovery_code"},
	{accounts.ErrWrongPassword, fiber.StatusForbidden, "wrong_password"},
}

// fiberError maps errors that Fiber itself raises, such as an unknown
// route or a body over the limit.
func fiberError(e *fiber.Error) *Error {
	switch e.Code {
	case fiber.StatusRequestEntityTooLarge:
		return newError(e.Code, "body_too_large", "request body is larger than %d KiB; send a smaller body", maxBodyBytes/1024)
	case fiber.StatusNotFound:
		return newError(e.Code, "not_found", "no such endpoint; the API reference is at /api/v1/openapi.json")
	case fiber.StatusMethodNotAllowed:
		return newError(e.Code, "method_not_allowed", "method not allowed on this path")
	}
	if e.Code >= 500 {
		return newError(fiber.StatusInternalServerError, "internal_error", "internal server error; try again later")
	}
	return newError(e.Code, strings.ReplaceAll(strings.ToLower(e.Message), " ", "_"), "%s", strings.ToLower(e.Message))
}

// handleError is Fiber's error handler: it logs server-side causes with the
// request id and writes the client-safe form, as JSON under /api/ and as a
// page elsewhere.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	e := toError(err)

	if e.Status >= 500 {
		s.log.ErrorContext(c.UserContext(), "request failed",
			"method", c.Method(), "path", c.Path(), "status", e.Status, "error", err)
	}
	if e.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, RetryAfterSeconds(e.RetryAfter))
	}
	if allow := c.GetRespHeader(fiber.HeaderAllow); e.Status == fiber.StatusMethodNotAllowed && allow != "" {
		e = &Error{Status: e.Status, Code: e.Code, Message: e.Message + "; use " + allow}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")

	if !strings.HasPrefix(c.Path(), "/api/") && s.opts.RenderErrorPage != nil {
		return s.opts.RenderErrorPage(c, e.Status, e.Message)
	}
	return c.Status(e.Status).JSON(errorBody{Error: e.Message, Code: e.Code, Fields: e.Fields})
}

// ClientError returns the client-safe form of err when it is a 4xx.
func ClientError(err error) (*Error, bool) {
	e := toError(err)
	return e, e.Status < 500
}

// RetryAfterSeconds formats d for the Retry-After header, rounded up.
func RetryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}

// detailAfter returns the part of err's message after the text of
// sentinel, which describes what was wrong, or the sentinel's text alone.
func detailAfter(err, sentinel error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, sentinel.Error()+": "); i >= 0 {
		return msg[i+len(sentinel.Error())+2:]
	}
	return sentinel.Error()
}
