DROP TABLE decreases; DROP TABLE reserve_decisions; DROP TABLE reservations; DROP TABLE stock; DROP TABLE inbox;
