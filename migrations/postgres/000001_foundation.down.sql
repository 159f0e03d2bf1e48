DROP TABLE audit_events;
DROP TABLE recovery_codes;
DROP TABLE totp_secrets;
DROP TABLE sessions;
DROP TABLE external_identities;
DROP TABLE users;
DROP TABLE tenant_domains;
DROP TABLE tenants;
