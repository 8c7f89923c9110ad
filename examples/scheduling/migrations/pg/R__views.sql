-- Re-applied whenever this file changes.
CREATE OR REPLACE VIEW upcoming_games AS
SELECT g.id,
       s.season,
       g.round,
       g.starts_at,
       home.name AS home_team,
       away.name AS away_team,
       v.name    AS venue,
       v.city
FROM games g
JOIN schedules s ON s.id = g.schedule_id
JOIN teams home ON home.id = g.home_team_id
JOIN teams away ON away.id = g.away_team_id
JOIN venues v ON v.id = g.venue_id
WHERE g.status = 'scheduled';

CREATE OR REPLACE VIEW standings AS
SELECT t.id AS team_id,
       t.name,
       count(g.id) FILTER (WHERE g.status = 'final') AS played,
       count(g.id) FILTER (WHERE g.status = 'final' AND ((g.home_team_id = t.id AND g.home_score > g.away_score) OR (g.away_team_id = t.id AND g.away_score > g.home_score))) AS won,
       count(g.id) FILTER (WHERE g.status = 'final' AND g.home_score = g.away_score) AS drawn
FROM teams t
LEFT JOIN games g ON t.id IN (g.home_team_id, g.away_team_id)
GROUP BY t.id, t.name;
