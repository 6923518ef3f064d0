DROP TABLE dead_letters;
DROP TABLE messages;
DROP TABLE subscriptions;
DROP TABLE grants;
DROP TABLE topics;
DROP TABLE queues;
DROP TABLE users;
DROP TABLE inbox;
