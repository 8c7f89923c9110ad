-- Teams and venues.
CREATE TABLE venues (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name      text NOT NULL UNIQUE,
    city      text NOT NULL,
    capacity  integer NOT NULL CHECK (capacity > 0),
    timezone  text NOT NULL DEFAULT 'UTC',
    location  jsonb NOT NULL DEFAULT '{}',   -- {"lat": .., "lon": .., "address": ..}
    blackout  jsonb NOT NULL DEFAULT '[]'    -- dates the venue is unavailable
);

CREATE TABLE teams (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code           text NOT NULL UNIQUE CHECK (code ~ '^[A-Z]{3}$'),
    name           text NOT NULL,
    city           text NOT NULL,
    home_venue_id  bigint REFERENCES venues (id) ON DELETE SET NULL,
    division       text NOT NULL,
    manager_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    profile        jsonb NOT NULL DEFAULT '{}', -- colours, founded, social links
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX teams_division_idx ON teams (division);
CREATE INDEX teams_home_venue_id_idx ON teams (home_venue_id);

-- dbplex:down
DROP TABLE teams;
DROP TABLE venues;
