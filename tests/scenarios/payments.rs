//! Scenario tests for payments and shipping on both edges: card checks,
//! the reads (owner or admin, else 404), auth and bad input. The charge,
//! wallet-debit and shipment flows are unit-tested in the actors (the order
//! saga that drives them end to end is tested in `commerce`).
use mailroom::grpc::pb::{
    payments::{payments_client::PaymentsClient, GetPaymentRequest, ValidateCardRequest},
    shipping::{shipping_client::ShippingClient, GetShipmentRequest},
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tonic::{transport::Channel, Code, Request};

use crate::support::{authed, email, Node};

const VISA: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";

fn card(number: &str, expiry: &str, cvv: &str) -> Value {
    json!({"number": number, "expiry": expiry, "cvv": cvv})
}

async fn validate(node: &Node, token: &str, body: Value) -> Value {
    let (s, v) = node.post("/payments/validate", Some(token), body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

fn is_problem(headers: &reqwest::header::HeaderMap, v: &Value, status: StatusCode) {
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/problem+json",
        "{v}"
    );
    assert_eq!(v["status"], status.as_u16(), "{v}");
    assert!(v["type"].as_str().unwrap().starts_with("/problems/"), "{v}");
    assert!(v["detail"].is_string(), "{v}");
}

#[tokio::test]
async fn validate_checks_luhn_expiry_and_cvv_without_charging() {
    let node = Node::start().await;
    let (token, _) = node.register(&email("val")).await;

    let v = validate(&node, &token, card(VISA, "12/40", "123")).await;
    assert_eq!(v, json!({"valid": true, "last4": "4242"}));
    let v = validate(&node, &token, card("4242 4242-4242 4242", "12/40", "1234")).await;
    assert_eq!(v, json!({"valid": true, "last4": "4242"}));
    let v = validate(&node, &token, card("5555555555554444", "01/39", "999")).await;
    assert_eq!(v, json!({"valid": true, "last4": "4444"}));
    // The declined test card is a valid card: it is declined when charged.
    let v = validate(&node, &token, card(DECLINED, "12/40", "123")).await;
    assert_eq!(v, json!({"valid": true, "last4": "0002"}));

    for (body, why) in [
        (card("4242424242424241", "12/40", "123"), "Luhn"),
        (card("4242", "12/40", "123"), "12 to 19 digits"),
        (card("4242abcd42424242", "12/40", "123"), "digits"),
        (card(VISA, "01/20", "123"), "expired"),
        (card(VISA, "13/40", "123"), "MM/YY"),
        (card(VISA, "2040-12", "123"), "MM/YY"),
        (card(VISA, "12/40", "12"), "cvv"),
        (card(VISA, "12/40", "12345"), "cvv"),
    ] {
        let v = validate(&node, &token, body.clone()).await;
        assert_eq!(v["valid"], false, "{body}: {v}");
        assert!(v.get("last4").is_none(), "{v}");
        let reason = v["reason"].as_str().unwrap();
        assert!(reason.contains(why), "{body}: {reason}");
    }

    // Auth first: no token, a bad token.
    let (s, v, h) = node
        .call(
            Method::POST,
            "/payments/validate",
            None,
            Some(card(VISA, "12/40", "123")),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    is_problem(&h, &v, s);
    let (s, _, _) = node
        .call(
            Method::POST,
            "/payments/validate",
            Some("not-a-jwt"),
            Some(card(VISA, "12/40", "123")),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Bad input: problem+json, never a 500.
    let res = node
        .client
        .post(node.url("/payments/validate"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"number\": ")
        .send()
        .await
        .unwrap();
    let (s, v, h) = crate::support::split(res).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    is_problem(&h, &v, s);
    for body in [
        json!({"number": VISA, "expiry": "12/40"}),
        json!({"number": 4242424242424242_u64, "expiry": "12/40", "cvv": "123"}),
        json!({"number": VISA, "expiry": "12/40", "cvv": "123", "pin": "0000"}),
        json!([VISA]),
    ] {
        let (s, v, h) = node
            .call(
                Method::POST,
                "/payments/validate",
                Some(&token),
                Some(body.clone()),
                &[],
            )
            .await;
        assert!(s.is_client_error(), "{body}: {s} {v}");
        is_problem(&h, &v, s);
    }
    let res = node
        .client
        .post(node.url("/payments/validate"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(card(VISA, "12/40", "123").to_string())
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());
}

#[tokio::test]
async fn payments_and_shipments_of_unknown_orders_are_404_and_need_a_token() {
    let node = Node::start().await;
    let (token, _) = node.register(&email("reader")).await;
    let admin = node.admin_token().await;
    let unknown = uuid::Uuid::new_v4();

    for path in [
        format!("/payments/{unknown}"),
        format!("/shipments/{unknown}"),
    ] {
        for t in [&token, &admin] {
            let (s, v, h) = node.call(Method::GET, &path, Some(t), None, &[]).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {v}");
            is_problem(&h, &v, s);
        }
        let (s, v, h) = node.call(Method::GET, &path, None, None, &[]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}: {v}");
        is_problem(&h, &v, s);
    }
    for path in ["/payments/not-a-uuid", "/shipments/42"] {
        let (s, v, h) = node.call(Method::GET, path, Some(&token), None, &[]).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
        is_problem(&h, &v, s);
    }

    // Both are in the OpenAPI document.
    let res = node
        .client
        .get(format!("{}/api/v1/openapi.json", node.http))
        .send()
        .await
        .unwrap();
    let doc: Value = res.json().await.unwrap();
    for path in [
        "/api/v1/payments/validate",
        "/api/v1/payments/{order_id}",
        "/api/v1/shipments/{order_id}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    for schema in [
        "CardCheck",
        "PaymentView",
        "ShipmentView",
        "ValidateCardBody",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
}

fn grpc_card(number: &str, expiry: &str, cvv: &str) -> ValidateCardRequest {
    ValidateCardRequest {
        number: number.into(),
        expiry: expiry.into(),
        cvv: cvv.into(),
    }
}

#[tokio::test]
async fn grpc_validate_card_answers_as_rest_and_reads_are_guarded() {
    let node = Node::start().await;
    let (token, _) = node.register(&email("grpc-pay")).await;
    let ch = Channel::from_shared(node.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut payments = PaymentsClient::new(ch.clone());
    let mut shipping = ShippingClient::new(ch);

    for (number, expiry, cvv) in [
        (VISA, "12/40", "123"),
        (DECLINED, "12/40", "123"),
        ("4242424242424241", "12/40", "123"),
        (VISA, "01/20", "123"),
        (VISA, "12/40", "1"),
    ] {
        let g = payments
            .validate_card(authed(grpc_card(number, expiry, cvv), &token))
            .await
            .unwrap()
            .into_inner();
        let rest = validate(&node, &token, card(number, expiry, cvv)).await;
        assert_eq!(g.valid, rest["valid"].as_bool().unwrap(), "{number}");
        assert_eq!(g.last4.as_deref(), rest["last4"].as_str(), "{number}");
        assert_eq!(g.reason.as_deref(), rest["reason"].as_str(), "{number}");
    }

    let err = payments
        .validate_card(Request::new(grpc_card(VISA, "12/40", "123")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let unknown = uuid::Uuid::new_v4().to_string();
    let err = payments
        .get_payment(authed(
            GetPaymentRequest {
                order_id: unknown.clone(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let err = payments
        .get_payment(authed(
            GetPaymentRequest {
                order_id: "nope".into(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = payments
        .get_payment(Request::new(GetPaymentRequest {
            order_id: unknown.clone(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let err = shipping
        .get_shipment(authed(
            GetShipmentRequest {
                order_id: unknown.clone(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let err = shipping
        .get_shipment(authed(
            GetShipmentRequest {
                order_id: String::new(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = shipping
        .get_shipment(Request::new(GetShipmentRequest { order_id: unknown }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}
