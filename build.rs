//! Compiles `schema/**/*.proto` with protox (pure Rust: no system `protoc`),
//! generates tonic services, and keeps the encoded descriptor set for server
//! reflection.
use std::{env, fs, path::PathBuf};

const PROTOS: &[&str] = &[
    "mailroom/users/v1/users.proto",
    "mailroom/wallets/v1/wallets.proto",
    "mailroom/notifications/v1/notifications.proto",
    "mailroom/admin/v1/admin.proto",
    "mailroom/operations/v1/operations.proto",
    "mailroom/catalog/v1/catalog.proto",
    "mailroom/inventory/v1/inventory.proto",
    "mailroom/cart/v1/cart.proto",
    "mailroom/orders/v1/orders.proto",
    "mailroom/payments/v1/payments.proto",
    "mailroom/shipping/v1/shipping.proto",
    "mailroom/analytics/v1/analytics.proto",
    "mailroom/mom/v1/queues.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=schema");
    let fds = protox::compile(PROTOS, ["schema"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out.join("mailroom_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
