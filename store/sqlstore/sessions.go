package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/enlace-auth/enlace/accounts"
	"github.com/enlace-auth/enlace/store"
)

const sessionColumns = `s.id, s.tenant_id, s.user_id, s.token_hash, s.ip, s.user_agent, s.created_at, s.last_seen_at, s.expires_at`

func sessionDest(s *accounts.Session) []any {
	return []any{&s.ID, &s.TenantID, &s.UserID, &s.TokenHash, &s.IP, &s.UserAgent, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt}
}

func (d *DB) CreateSession(ctx context.Context, s accounts.Session) error {
	_, err := d.exec(ctx, d.db, `
		INSERT INTO sessions (id, tenant_id, user_id, token_hash, ip, user_agent, created_at, last_seen_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.TenantID, s.UserID, s.TokenHash, s.IP, s.UserAgent, ts(s.CreatedAt), ts(s.LastSeenAt), ts(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlstore: insert session: %w", err)
	}
	return nil
}

func (d *DB) SessionByTokenHash(ctx context.Context, tokenHash string) (accounts.Session, accounts.User, error) {
	var s accounts.Session
	var u accounts.User
	dest := append(sessionDest(&s), userDest(&u)...)
	err := d.queryRow(ctx, d.db, `
		SELECT `+sessionColumns+`, `+userColumns+`
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = ?`, tokenHash).Scan(dest...)
	if err != nil {
		return accounts.Session{}, accounts.User{}, d.scanErr(err)
	}
	return s, u, nil
}

func (d *DB) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	_, err := d.exec(ctx, d.db, `UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`,
		ts(lastSeen), id, ts(lastSeen))
	if err != nil {
		return fmt.Errorf("sqlstore: touch session: %w", err)
	}
	return nil
}

func (d *DB) DeleteSession(ctx context.Context, tenantID, userID, id string) (accounts.Session, error) {
	var s accounts.Session
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		err := d.queryRow(ctx, tx, `SELECT `+sessionColumns+` FROM sessions s WHERE s.tenant_id = ? AND s.user_id = ? AND s.id = ?`,
			tenantID, userID, id).Scan(sessionDest(&s)...)
		if err != nil {
			return d.scanErr(err)
		}
		_, err = d.exec(ctx, tx, `DELETE FROM sessions WHERE id = ?`, id)
		return err
	})
	return s, err
}

func (d *DB) DeleteSessionByTokenHash(ctx context.Context, tokenHash string) error {
	res, err := d.exec(ctx, d.db, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash)
	if err != nil {
		return fmt.Errorf("sqlstore: delete session: %w", err)
	}
	return rowsAffected(res)
}

func (d *DB) DeleteUserSessions(ctx context.Context, tenantID, userID, keepID string) ([]string, error) {
	var hashes []string
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := d.query(ctx, tx, `SELECT token_hash FROM sessions WHERE tenant_id = ? AND user_id = ? AND id <> ?`,
			tenantID, userID, keepOrNil(keepID))
		if err != nil {
			return fmt.Errorf("sqlstore: list sessions: %w", err)
		}
		for rows.Next() {
			var h string
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: scan session: %w", err)
			}
			hashes = append(hashes, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		_, err = d.exec(ctx, tx, `DELETE FROM sessions WHERE tenant_id = ? AND user_id = ? AND id <> ?`,
			tenantID, userID, keepOrNil(keepID))
		return err
	})
	return hashes, err
}

// keepOrNil returns an id that matches no session when keepID is empty,
// so "id <> ?" keeps nothing.
func keepOrNil(keepID string) string {
	if keepID == "" {
		return uuid.Nil.String()
	}
	return keepID
}

func (d *DB) ListSessions(ctx context.Context, tenantID, userID, cursor string, limit int) (accounts.Page[accounts.Session], error) {
	var page accounts.Page[accounts.Session]

	query := `SELECT ` + sessionColumns + ` FROM sessions s WHERE s.tenant_id = ? AND s.user_id = ?`
	args := []any{tenantID, userID}
	if cursor != "" {
		after, id, err := decodeCursor(cursor)
		if err != nil {
			return page, err
		}
		query += ` AND (s.created_at < ? OR (s.created_at = ? AND s.id < ?))`
		args = append(args, after, after, id)
	}
	query += ` ORDER BY s.created_at DESC, s.id DESC LIMIT ?`
	args = append(args, limit+1)

	rows, err := d.query(ctx, d.db, query, args...)
	if err != nil {
		return page, fmt.Errorf("sqlstore: list sessions: %w", err)
	}
	defer rows.Close()

	for rows.Next() {
		var s accounts.Session
		if err := rows.Scan(sessionDest(&s)...); err != nil {
			return page, fmt.Errorf("sqlstore: scan session: %w", err)
		}
		page.Items = append(page.Items, s)
	}
	if err := rows.Err(); err != nil {
		return page, err
	}

	return trimPage(page, limit, func(s accounts.Session) (time.Time, string) { return s.CreatedAt, s.ID }), nil
}

func (d *DB) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	res, err := d.exec(ctx, d.db, `DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at < ?`, ts(now), ts(idleBefore))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete expired sessions: %w", err)
	}
	return res.RowsAffected()
}

// trimPage cuts a page read with limit+1 rows back to limit and, when the
// extra row shows that more follow, sets the cursor to the last row kept.
func trimPage[T any](page accounts.Page[T], limit int, key func(T) (time.Time, string)) accounts.Page[T] {
	if len(page.Items) <= limit {
		return page
	}
	page.Items = page.Items[:limit]
	at, id := key(page.Items[limit-1])
	page.NextCursor = encodeCursor(at, id)
	return page
}

// encodeCursor packs the sort key of the last row of a page.
func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMicro(), 10) + "," + id))
}

func decodeCursor(cursor string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%w: cursor", store.ErrInvalidCursor)
	}
	micros, id, ok := strings.Cut(string(raw), ",")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || uuid.Validate(id) != nil {
		return time.Time{}, "", fmt.Errorf("%w: cursor", store.ErrInvalidCursor)
	}
	return ts(time.UnixMicro(n)), id, nil
}
