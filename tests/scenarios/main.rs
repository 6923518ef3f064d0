//! Scenario tests: each starts a real node (port 0, temp data dir) and
//! drives it over real HTTP and real gRPC, kills actors and processes, and
//! checks mailroom's promise — no acknowledged request lost, no effect
//! applied twice.
mod auth;
mod bad_input;
mod catalog;
mod chaos;
mod client;
mod commerce;
mod contract;
mod crash;
mod edge_limits;
mod faults;
mod grpc;
mod grpc_garbage;
mod grpc_health;
mod inventory;
mod payments;
mod queues;
mod schemathesis;
mod support;
mod users_wallets;
