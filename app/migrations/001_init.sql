-- Channels and their programme guide (EPG).

CREATE TABLE channels (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 64),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  category    text NOT NULL CHECK (length(category) BETWEEN 1 AND 50),
  country     char(2) NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
  position    integer NOT NULL CHECK (position >= 0),
  logo_key    text,
  active      boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX channels_listing_idx ON channels (position, slug);
CREATE INDEX channels_category_idx ON channels (category);

CREATE TABLE programmes (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  channel_id   bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
  title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
  starts_at    timestamptz NOT NULL,
  ends_at      timestamptz NOT NULL,
  description  text,
  category     text,
  CHECK (ends_at > starts_at)
);

-- Schedule windows and now/next both walk one channel's programmes in time order.
CREATE INDEX programmes_channel_time_idx ON programmes (channel_id, starts_at, ends_at);
