DROP TABLE users; DROP TABLE inbox;
