DROP TABLE orders; DROP TABLE inbox;
