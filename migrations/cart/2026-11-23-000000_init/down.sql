DROP TABLE cart_items;
DROP TABLE catalog_products;
DROP TABLE inbox;
