//! The gRPC edge: reflection (v1 and v1alpha, what grpcurl uses), health,
//! auth, and the same answers as REST — same actor, same messages.
use std::time::Duration;

use mailroom::grpc::pb::{
    admin::{admin_client::AdminClient, InjectFaultRequest, ListActorsRequest},
    operations::{operations_client::OperationsClient, GetOperationRequest},
    users::{users_client::UsersClient, GetMeRequest, LoginRequest, RegisterRequest},
    wallets::{
        transfer_request::To, wallets_client::WalletsClient, DepositRequest, GetWalletRequest,
        ListTransfersRequest, TransferRequest,
    },
};
use tonic::{metadata::MetadataValue, Code};

use crate::support::{authed, channel, email, Node, PASSWORD};

#[tokio::test]
async fn reflection_v1_and_v1alpha_list_every_service_and_resolve_symbols() {
    let node = Node::start().await;
    let ch = channel(&node).await;
    let expected = [
        "mailroom.users.v1.Users",
        "mailroom.wallets.v1.Wallets",
        "mailroom.notifications.v1.Notifications",
        "mailroom.admin.v1.Admin",
        "mailroom.operations.v1.Operations",
        "mailroom.catalog.v1.Catalog",
        "mailroom.inventory.v1.Inventory",
        "mailroom.cart.v1.Cart",
        "mailroom.orders.v1.Orders",
        "mailroom.payments.v1.Payments",
        "mailroom.shipping.v1.Shipping",
        "mailroom.analytics.v1.Analytics",
        "mailroom.mom.v1.Queues",
        "grpc.health.v1.Health",
    ];
    {
        use tonic_reflection::pb::v1::{
            server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
            ServerReflectionRequest,
        };
        let mut client = ServerReflectionClient::new(ch.clone());
        let reqs = vec![
            ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            },
            ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::FileContainingSymbol(
                    "mailroom.wallets.v1.Wallets".into(),
                )),
            },
        ];
        let mut stream = client
            .server_reflection_info(tokio_stream::iter(reqs))
            .await
            .unwrap()
            .into_inner();
        let listed = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = listed.message_response else {
            panic!("expected a service list, got {listed:?}");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        for e in expected {
            assert!(
                names.iter().any(|n| n == e),
                "v1 reflection lacks {e}: {names:?}"
            );
        }
        let file = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::FileDescriptorResponse(fd)) = file.message_response else {
            panic!("expected a file descriptor, got {file:?}");
        };
        assert!(!fd.file_descriptor_proto.is_empty());
    }
    {
        use tonic_reflection::pb::v1alpha::{
            server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
            ServerReflectionRequest,
        };
        let mut client = ServerReflectionClient::new(ch);
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = client
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let listed = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = listed.message_response else {
            panic!("expected a service list, got {listed:?}");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        for e in expected {
            assert!(
                names.iter().any(|n| n == e),
                "v1alpha reflection lacks {e}: {names:?}"
            );
        }
    }
}

#[tokio::test]
async fn health_reports_serving() {
    use tonic_health::pb::{
        health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
    };
    let node = Node::start().await;
    let mut health = HealthClient::new(channel(&node).await);
    for service in ["", "mailroom.wallets.v1.Wallets", "mailroom.users.v1.Users"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service:?}");
    }
    let err = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn grpc_and_rest_are_the_same_actor() {
    let node = Node::start().await;
    let ch = channel(&node).await;
    let mut users = UsersClient::new(ch.clone());
    let mut wallets = WalletsClient::new(ch.clone());

    // Register over gRPC, log in over REST (and vice versa).
    let ann_email = email("ann");
    let reg = users
        .register(RegisterRequest {
            email: ann_email.clone(),
            password: PASSWORD.into(),
            name: "Ann".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let ann = reg.token;
    assert_eq!(
        node.login(&ann_email, PASSWORD).await.0,
        reqwest::StatusCode::OK
    );
    let bob_email = email("bob");
    let (bob_rest, _) = node.register(&bob_email).await;
    let bob = users
        .login(LoginRequest {
            email: bob_email.clone(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .token;
    let me = users
        .get_me(authed(GetMeRequest {}, &bob))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.email, bob_email);

    let err = users
        .register(RegisterRequest {
            email: ann_email.clone(),
            password: PASSWORD.into(),
            name: "Dup".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let err = users
        .login(LoginRequest {
            email: ann_email.clone(),
            password: "wrong password".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let w = wallets
        .deposit(authed(DepositRequest { amount_cents: 900 }, &ann))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(w.balance_cents, 900);
    let t = wallets
        .transfer(authed(
            TransferRequest {
                to: Some(To::ToEmail(bob_email.clone())),
                amount_cents: 300,
                note: Some("grpc".into()),
            },
            &ann,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.amount_cents, 300);
    assert_eq!(t.note.as_deref(), Some("grpc"));

    // GetWallet over gRPC equals GET /wallet over REST.
    let g = wallets
        .get_wallet(authed(GetWalletRequest {}, &ann))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(g.balance_cents, node.balance(&ann).await);
    assert_eq!(g.balance_cents, 600);
    assert_eq!(g.currency, "USD");
    assert_eq!(node.balance(&bob_rest).await, 300);
    let list = wallets
        .list_transfers(authed(
            ListTransfersRequest {
                page: 1,
                page_size: 10,
            },
            &bob,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.total, 1);
    assert_eq!(list.items[0].id, t.id);

    // Overdraft and bad arguments map to proper codes and move nothing.
    let err = wallets
        .transfer(authed(
            TransferRequest {
                to: Some(To::ToEmail(bob_email.clone())),
                amount_cents: 10_000,
                note: None,
            },
            &ann,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let err = wallets
        .transfer(authed(
            TransferRequest {
                to: Some(To::ToUserId("not-a-uuid".into())),
                amount_cents: 1,
                note: None,
            },
            &ann,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = wallets
        .transfer(authed(
            TransferRequest {
                to: None,
                amount_cents: 1,
                note: None,
            },
            &ann,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = wallets
        .list_transfers(authed(
            ListTransfersRequest {
                page: 1,
                page_size: 500,
            },
            &ann,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(node.balance(&ann).await, 600);

    // Idempotency keys work over gRPC too.
    let keyed = || {
        let mut r = authed(DepositRequest { amount_cents: 5 }, &ann);
        r.metadata_mut()
            .insert("idempotency-key", MetadataValue::from_static("grpc-dep-1"));
        r
    };
    wallets.deposit(keyed()).await.unwrap();
    wallets.deposit(keyed()).await.unwrap();
    assert_eq!(node.balance(&ann).await, 605);
}

#[tokio::test]
async fn no_or_bad_token_is_unauthenticated_and_admin_is_admin_only() {
    let node = Node::start().await;
    let ch = channel(&node).await;
    let mut wallets = WalletsClient::new(ch.clone());
    let err = wallets.get_wallet(GetWalletRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = wallets
        .get_wallet(authed(GetWalletRequest {}, "forged.token.here"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let (ann, _) = node.register(&email("ann")).await;
    let mut admin = AdminClient::new(ch.clone());
    let err = admin
        .list_actors(authed(ListActorsRequest {}, &ann))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let root = node.admin_token().await;
    let actors = admin
        .list_actors(authed(ListActorsRequest {}, &root))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = actors.items.iter().map(|a| a.name.as_str()).collect();
    for n in ["mom", "users", "wallets", "notifications"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let err = admin
        .inject_fault(authed(
            InjectFaultRequest {
                actor: "wallets".into(),
                action: "explode".into(),
                ..Default::default()
            },
            &root,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_pending_command_answers_deadline_exceeded_with_its_operation_id() {
    let node = Node::start().await;
    let ch = channel(&node).await;
    let root = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let mut admin = AdminClient::new(ch.clone());
    admin
        .inject_fault(authed(
            InjectFaultRequest {
                actor: "wallets".into(),
                action: "kill".into(),
                down_ms: Some(2000),
                ..Default::default()
            },
            &root,
        ))
        .await
        .unwrap();
    let mut wallets = WalletsClient::new(ch.clone());
    let mut req = authed(DepositRequest { amount_cents: 42 }, &ann);
    req.metadata_mut()
        .insert("prefer", MetadataValue::from_static("wait=0"));
    let err = wallets.deposit(req).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    let op_id = err
        .metadata()
        .get("x-operation-id")
        .expect("operation id")
        .to_str()
        .unwrap()
        .to_owned();

    let mut ops = OperationsClient::new(ch);
    let until = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let op = ops
            .get_operation(authed(GetOperationRequest { id: op_id.clone() }, &ann))
            .await
            .unwrap()
            .into_inner();
        if op.status == "done" {
            assert!(op.result_json.unwrap().contains("\"balance_cents\":42"));
            break;
        }
        assert_eq!(op.status, "pending");
        assert!(
            std::time::Instant::now() < until,
            "operation never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(node.balance(&ann).await, 42);
}

#[tokio::test]
async fn malformed_protobuf_is_refused_and_the_node_stays_up() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    // A gRPC frame whose body is not a DepositRequest.
    let mut frame = vec![0u8];
    let garbage = [0xff_u8, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x7f];
    frame.extend_from_slice(&(garbage.len() as u32).to_be_bytes());
    frame.extend_from_slice(&garbage);
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let res = client
        .post(format!("{}/mailroom.wallets.v1.Wallets/Deposit", node.grpc))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {ann}"))
        .body(frame)
        .send()
        .await
        .unwrap();
    let status = res
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let code = match status {
        Some(s) => s,
        None => {
            // Trailers-after-body form: read the body to reach them.
            let _ = res.bytes().await;
            "unknown".into()
        }
    };
    assert_ne!(code, "0", "garbage must not succeed");
    assert_eq!(node.balance(&ann).await, 0, "and changes nothing");
    let mut wallets = WalletsClient::new(channel(&node).await);
    assert_eq!(
        wallets
            .get_wallet(authed(GetWalletRequest {}, &ann))
            .await
            .unwrap()
            .into_inner()
            .balance_cents,
        0
    );
}
