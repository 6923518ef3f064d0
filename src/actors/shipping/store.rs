//! `shipping.db`: one shipment per order.
use diesel::prelude::*;
use uuid::Uuid;

use super::ShipmentView;
use crate::problem::rfc3339;

diesel::table! {
    shipments (order_id) {
        order_id -> Text,
        user_id -> Text,
        carrier -> Text,
        tracking_number -> Text,
        status -> Text,
        address -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

#[derive(Debug, Clone, Queryable)]
pub struct Shipment {
    pub order_id: String,
    pub user_id: String,
    pub carrier: String,
    pub tracking_number: String,
    pub status: String,
    #[allow(dead_code)]
    pub address: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Shipment {
    pub fn user(&self) -> Uuid {
        Uuid::parse_str(&self.user_id).unwrap_or_default()
    }

    pub fn view(&self) -> ShipmentView {
        ShipmentView {
            order_id: Uuid::parse_str(&self.order_id).unwrap_or_default(),
            user_id: self.user(),
            carrier: self.carrier.clone(),
            tracking_number: self.tracking_number.clone(),
            status: self.status.clone(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}

pub struct NewShipment<'a> {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub carrier: &'a str,
    pub tracking_number: &'a str,
    pub status: &'a str,
    /// JSON.
    pub address: &'a str,
    pub at: i64,
}

pub struct ShipmentStore<'a>(pub &'a mut SqliteConnection);

impl ShipmentStore<'_> {
    pub fn get(&mut self, order_id: Uuid) -> QueryResult<Option<Shipment>> {
        shipments::table
            .find(order_id.to_string())
            .first(self.0)
            .optional()
    }

    pub fn insert(&mut self, s: &NewShipment<'_>) -> QueryResult<Shipment> {
        diesel::insert_into(shipments::table)
            .values((
                shipments::order_id.eq(s.order_id.to_string()),
                shipments::user_id.eq(s.user_id.to_string()),
                shipments::carrier.eq(s.carrier),
                shipments::tracking_number.eq(s.tracking_number),
                shipments::status.eq(s.status),
                shipments::address.eq(s.address),
                shipments::created_at.eq(s.at),
                shipments::updated_at.eq(s.at),
            ))
            .execute(self.0)?;
        self.get(s.order_id)?.ok_or(diesel::result::Error::NotFound)
    }

    pub fn set_status(&mut self, order_id: Uuid, status: &str, at: i64) -> QueryResult<Shipment> {
        diesel::update(shipments::table.find(order_id.to_string()))
            .set((shipments::status.eq(status), shipments::updated_at.eq(at)))
            .execute(self.0)?;
        self.get(order_id)?.ok_or(diesel::result::Error::NotFound)
    }
}
