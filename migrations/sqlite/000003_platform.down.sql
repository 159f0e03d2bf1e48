DROP INDEX users_tenant_created;
DROP TABLE platform_tokens;
