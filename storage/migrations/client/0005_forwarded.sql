-- offsync client store, schema 5: a relay's upstream client looks mutations up by the key they
-- were first sent with (engine/server/relay.cc).
CREATE INDEX outbox_by_key ON outbox (idempotency_key) WHERE idempotency_key IS NOT NULL;
