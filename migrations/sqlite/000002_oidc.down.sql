DROP INDEX external_identities_user_issuer;
DROP TABLE tenant_oidc;
