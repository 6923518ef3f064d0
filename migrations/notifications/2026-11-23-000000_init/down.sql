DROP TABLE notifications; DROP TABLE inbox;
