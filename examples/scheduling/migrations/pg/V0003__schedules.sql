-- Schedules, their games and the constraints a schedule must satisfy.
CREATE TABLE schedules (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    season      text NOT NULL,
    name        text NOT NULL,
    status      text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'archived')),
    starts_on   date NOT NULL,
    ends_on     date NOT NULL,
    settings    jsonb NOT NULL DEFAULT '{}', -- generator parameters
    created_by  bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (season, name),
    CHECK (ends_on >= starts_on)
);

CREATE TABLE games (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id   bigint NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    round         integer NOT NULL CHECK (round > 0),
    home_team_id  bigint NOT NULL REFERENCES teams (id),
    away_team_id  bigint NOT NULL REFERENCES teams (id),
    venue_id      bigint NOT NULL REFERENCES venues (id),
    starts_at     timestamptz NOT NULL,
    status        text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'live', 'final', 'postponed', 'cancelled')),
    home_score    integer CHECK (home_score >= 0),
    away_score    integer CHECK (away_score >= 0),
    details       jsonb NOT NULL DEFAULT '{}', -- broadcast, referees, notes
    CHECK (home_team_id <> away_team_id),
    UNIQUE (venue_id, starts_at)
);
CREATE INDEX games_schedule_round_idx ON games (schedule_id, round);
CREATE INDEX games_home_team_idx ON games (home_team_id, starts_at);
CREATE INDEX games_away_team_idx ON games (away_team_id, starts_at);
CREATE INDEX games_starts_at_idx ON games (starts_at);

CREATE TABLE constraints (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id  bigint NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('rest_days', 'venue_blackout', 'max_away_streak', 'derby_date', 'broadcast_slot')),
    team_id      bigint REFERENCES teams (id) ON DELETE CASCADE,
    params       jsonb NOT NULL DEFAULT '{}',
    hard         boolean NOT NULL DEFAULT true,
    weight       real NOT NULL DEFAULT 1 CHECK (weight >= 0)
);
CREATE INDEX constraints_schedule_id_idx ON constraints (schedule_id);
CREATE INDEX constraints_params_idx ON constraints USING gin (params jsonb_path_ops);

-- dbplex:down
-- The views of R__views read these tables; the next `up` creates them again (a repeatable runs
-- again after a revert in its source).
DROP VIEW IF EXISTS standings, upcoming_games;
DROP TABLE constraints;
DROP TABLE games;
DROP TABLE schedules;
