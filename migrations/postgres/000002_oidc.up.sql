CREATE TABLE tenant_oidc (
    tenant_id               UUID PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    enabled                 BOOLEAN NOT NULL DEFAULT TRUE,
    issuer_url              TEXT NOT NULL,
    client_id               TEXT NOT NULL,
    client_secret_encrypted BYTEA,
    redirect_url            TEXT NOT NULL DEFAULT '',
    scopes                  TEXT NOT NULL DEFAULT 'openid email profile',
    insecure_trust_email    BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at              TIMESTAMPTZ NOT NULL
);

CREATE UNIQUE INDEX external_identities_user_issuer ON external_identities (user_id, issuer);
