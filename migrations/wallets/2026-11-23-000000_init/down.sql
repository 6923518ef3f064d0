DROP TABLE deposits; DROP TABLE transfers; DROP TABLE accounts; DROP TABLE inbox;
