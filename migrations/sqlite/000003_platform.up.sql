CREATE TABLE platform_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMP NOT NULL,
    revoked_at   TIMESTAMP
);

CREATE INDEX users_tenant_created ON users (tenant_id, created_at, id);
