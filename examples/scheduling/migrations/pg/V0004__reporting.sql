-- Metrics, reports and the audit log.
CREATE TABLE metrics (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id  bigint REFERENCES schedules (id) ON DELETE CASCADE,
    name         text NOT NULL,
    value        double precision NOT NULL,
    labels       jsonb NOT NULL DEFAULT '{}',
    measured_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX metrics_name_time_idx ON metrics (name, measured_at DESC);

CREATE TABLE reports (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id  bigint REFERENCES schedules (id) ON DELETE SET NULL,
    title        text NOT NULL,
    body         text NOT NULL DEFAULT '',
    data         jsonb NOT NULL DEFAULT '{}',
    author_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    search       tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') || setweight(to_tsvector('english', coalesce(body, '')), 'B')
    ) STORED
);

CREATE TABLE audit_logs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    action      text NOT NULL,
    entity      text NOT NULL,
    entity_id   bigint,
    changes     jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_entity_idx ON audit_logs (entity, entity_id, at DESC);
CREATE INDEX audit_logs_user_idx ON audit_logs (user_id, at DESC);

-- dbplex:down
DROP TABLE audit_logs;
DROP TABLE reports;
DROP TABLE metrics;
