DROP TABLE envelopes;
