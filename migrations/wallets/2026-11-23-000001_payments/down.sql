DROP TABLE wallet_payments;
