DROP TABLE payments;
DROP TABLE inbox;
