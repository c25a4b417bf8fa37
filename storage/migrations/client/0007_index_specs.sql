-- Each declared index keeps its declaration (JSON: collection, paths, full_text), so that a store
-- opened without ClientOptions::indexes (the offsync command, a binding, a tool) leaves the app's
-- indexes as they are and can still run full-text queries over them.
ALTER TABLE declared_indexes ADD COLUMN spec TEXT NOT NULL DEFAULT '';
