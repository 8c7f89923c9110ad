-- Users, their sessions and their permissions.
CREATE TABLE users (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       text NOT NULL,
    name        text NOT NULL,
    role        text NOT NULL DEFAULT 'viewer' CHECK (role IN ('admin', 'scheduler', 'team_manager', 'viewer')),
    settings    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE sessions (
    id          uuid PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    user_agent  text,
    ip          inet,
    CHECK (expires_at > created_at)
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- A permission grants an action on a resource type, optionally on one resource.
CREATE TABLE permissions (
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    resource     text NOT NULL,
    action       text NOT NULL CHECK (action IN ('read', 'write', 'publish', 'admin')),
    resource_id  bigint NOT NULL DEFAULT 0,
    granted_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    granted_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, resource, action, resource_id)
);

-- dbplex:down
DROP TABLE permissions;
DROP TABLE sessions;
DROP TABLE users;
