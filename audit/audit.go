// Package audit records security events per tenant: sign-ins, failures,
// links, unlinks, 2FA changes and settings changes.
package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Event types. The strings are stored and shown to tenant admins.
const (
	TypeRegister        = "user.register"
	TypeLogin           = "session.login"
	TypeLoginFailed     = "session.login_failed"
	TypeLogout          = "session.logout"
	TypeSessionRevoked  = "session.revoked"
	TypePasswordChanged = "user.password_changed"
	TypePasswordSet     = "user.password_set"
	TypeProfileUpdated  = "user.profile_updated"
)

// Event is one stored audit record. Details never hold secrets or emails.
type Event struct {
	ID        string
	TenantID  string
	UserID    string
	Type      string
	IP        string
	RequestID string
	Details   map[string]string
	CreatedAt time.Time
}

// Store appends events.
type Store interface {
	AppendAuditEvent(ctx context.Context, e Event) error
	// AppendAuditEvents stores several events in one statement.
	AppendAuditEvents(ctx context.Context, events []Event) error
}

// Recorder stores events and logs those it could not store, because an
// audit failure must not fail the user's request.
type Recorder struct {
	store Store
	log   *slog.Logger
	now   func() time.Time
}

// NewRecorder returns a Recorder writing to store.
func NewRecorder(store Store, log *slog.Logger, now func() time.Time) *Recorder {
	return &Recorder{store: store, log: log, now: now}
}

// Record fills in the id and time of e and stores it.
func (r *Recorder) Record(ctx context.Context, e Event) {
	e.ID = uuid.NewString()
	e.CreatedAt = r.now().UTC()

	if err := r.store.AppendAuditEvent(ctx, e); err != nil {
		r.log.ErrorContext(ctx, "audit event not stored",
			"event_type", e.Type, "tenant_id", e.TenantID, "user_id", e.UserID, "error", err)
	}
}

// RecordAll stores several events of one action in one write.
func (r *Recorder) RecordAll(ctx context.Context, events ...Event) {
	now := r.now().UTC()
	for i := range events {
		events[i].ID = uuid.NewString()
		events[i].CreatedAt = now
	}
	if err := r.store.AppendAuditEvents(ctx, events); err != nil {
		for _, e := range events {
			r.log.ErrorContext(ctx, "audit event not stored",
				"event_type", e.Type, "tenant_id", e.TenantID, "user_id", e.UserID, "error", err)
		}
	}
}

// EncodeDetails turns details into the JSON text stored with an event.
func EncodeDetails(details map[string]string) string {
	if len(details) == 0 {
		return "{}"
	}
	b, err := json.Marshal(details)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// DecodeDetails reads the stored JSON text of an event's details.
func DecodeDetails(raw string) map[string]string {
	var details map[string]string
	if err := json.Unmarshal([]byte(raw), &details); err != nil {
		return nil
	}
	return details
}
