-- The PostgreSQL schema. The database is the arbiter here: several api-stub
-- instances share it, so every rule that must hold across them is a
-- constraint or a conditional update, never an in-process check.
CREATE TABLE gyms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    address TEXT NOT NULL,
    booking_window_secs BIGINT NOT NULL
);

CREATE TABLE slots (
    id TEXT PRIMARY KEY,
    gym_id TEXT NOT NULL REFERENCES gyms (id),
    title TEXT NOT NULL,
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ NOT NULL,
    capacity INTEGER NOT NULL CHECK (capacity > 0),
    -- Never over capacity, whatever any instance does.
    booked INTEGER NOT NULL DEFAULT 0 CHECK (booked >= 0 AND booked <= capacity),
    waitlisted INTEGER NOT NULL DEFAULT 0 CHECK (waitlisted >= 0),
    CHECK (starts_at < ends_at)
);
CREATE INDEX slots_by_gym_start ON slots (gym_id, starts_at);

CREATE TABLE bookings (
    id TEXT PRIMARY KEY,
    -- Creation order across all instances; waitlists are served in this order.
    seq BIGSERIAL NOT NULL UNIQUE,
    slot_id TEXT NOT NULL REFERENCES slots (id),
    member_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('confirmed', 'waitlisted', 'cancelled')),
    created_at TIMESTAMPTZ NOT NULL
);
-- One active booking per member per slot, enforced by the database.
CREATE UNIQUE INDEX one_active_booking_per_member ON bookings (slot_id, member_id) WHERE status <> 'cancelled';
CREATE INDEX bookings_waitlist ON bookings (slot_id, seq) WHERE status = 'waitlisted';
CREATE INDEX bookings_by_member ON bookings (member_id, created_at DESC);

CREATE TABLE idempotency_keys (
    member_id TEXT NOT NULL,
    key TEXT NOT NULL,
    slot_id TEXT NOT NULL,
    response TEXT NOT NULL,
    PRIMARY KEY (member_id, key)
);

CREATE TABLE members (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('member', 'operator'))
);
CREATE UNIQUE INDEX members_by_email ON members (lower(email));
