DROP TABLE products;
DROP TABLE inbox;
