DROP TABLE counters; DROP TABLE sales_lines; DROP TABLE sales_orders; DROP TABLE inbox;
