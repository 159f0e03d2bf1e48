CREATE TABLE tenant_oidc (
    tenant_id               TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    enabled                 INTEGER NOT NULL DEFAULT 1,
    issuer_url              TEXT NOT NULL,
    client_id               TEXT NOT NULL,
    client_secret_encrypted BLOB,
    redirect_url            TEXT NOT NULL DEFAULT '',
    scopes                  TEXT NOT NULL DEFAULT 'openid email profile',
    insecure_trust_email    INTEGER NOT NULL DEFAULT 0,
    updated_at              TIMESTAMP NOT NULL
);

CREATE UNIQUE INDEX external_identities_user_issuer ON external_identities (user_id, issuer);
