DROP TABLE settled_receipts;
