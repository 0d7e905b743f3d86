//! `subscribe --test`: fire Reply's test delivery for each planned subscription, then find
//! what our functions made of it in the idempotency table.
//!
//! Reply's test deliveries carry fixed placeholder data, so their event ids repeat: only the
//! first test of a type (within the records' lifetime, 7 days by default) is new to our
//! functions; later ones are answered `duplicate` and leave nothing new in the table. And
//! Reply's test call does not say what our function answered. So this reads the table twice,
//! before and after firing, and reports each record that appeared: a new record proves the
//! delivery arrived and was processed; its absence cannot tell a repeated test from a
//! delivery that never arrived (or was refused: a wrong token gets 401 and writes nothing).
//! The function's log says which.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reply_api::Client;
use reply_api::sync::Outcome;

use crate::aws::{Aws, Record};

/// How long to look for the records after firing: the checks run at these offsets.
const LOOKS: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_secs(1),
    Duration::from_secs(3),
    Duration::from_secs(6),
];

/// Only records received this long before the run are read, which tolerates that much clock
/// skew between this machine and Lambda and keeps the "before" set small.
const WINDOW: TimeDelta = TimeDelta::minutes(5);

/// Fires the tests and prints a table; `false` when a test could not be fired or the table
/// could not be read.
pub fn run(client: &Client, outcome: &Outcome, lookup: Option<(&str, &Aws)>) -> bool {
    let targets: Vec<(&str, String)> = outcome
        .entries
        .iter()
        .filter(|e| e.enabled_after())
        .filter_map(|e| {
            Some((
                e.entry.event_type.as_str(),
                e.planned_subscription()?.to_string(),
            ))
        })
        .collect();
    if targets.is_empty() {
        println!("Test deliveries: no enabled subscription to test.");
        return false;
    }
    let types: Vec<String> = targets.iter().map(|(t, _)| (*t).to_owned()).collect();
    let since = DateTime::<Utc>::from(std::time::SystemTime::now()) - WINDOW;
    let before = match lookup {
        Some((table, aws)) => match aws.records_since(table, &types, since) {
            Ok(records) => Some(
                records
                    .into_iter()
                    .map(|r| r.event_id)
                    .collect::<HashSet<_>>(),
            ),
            Err(err) => {
                eprintln!("reply-webhooks subscribe --test: {err}");
                return false;
            }
        },
        None => None,
    };

    let fired: Vec<(&str, &str, Result<(), reply_api::Error>)> = targets
        .iter()
        .map(|(event_type, id)| (*event_type, id.as_str(), client.test(&id.as_str().into())))
        .collect();
    let mut ok = fired.iter().all(|(_, _, r)| r.is_ok());

    let mut new_records: Vec<Record> = Vec::new();
    if let (Some((table, aws)), Some(before)) = (lookup, &before) {
        let expected: HashSet<&str> = fired
            .iter()
            .filter(|(_, _, r)| r.is_ok())
            .map(|(t, _, _)| *t)
            .collect();
        let mut waited = Duration::ZERO;
        for look in LOOKS {
            std::thread::sleep(look.saturating_sub(waited));
            waited = look;
            match aws.records_since(table, &types, since) {
                Ok(records) => {
                    new_records = records
                        .into_iter()
                        .filter(|r| !before.contains(&r.event_id))
                        .collect();
                }
                Err(err) => {
                    eprintln!("reply-webhooks subscribe --test: {err}");
                    ok = false;
                    break;
                }
            }
            let seen: HashSet<&str> = new_records.iter().map(|r| r.event_type.as_str()).collect();
            if expected.iter().all(|t| seen.contains(t)) {
                break;
            }
        }
    }

    match lookup {
        Some((table, _)) => println!(
            "Test deliveries: Reply fired each subscription's test event; the table {table} was read for records that were not there before."
        ),
        None => println!(
            "Test deliveries: Reply fired each subscription's test event. What our functions answered is not looked up: no table (give --stack, or set IDEMPOTENCY_TABLE_NAME)."
        ),
    }
    println!();
    println!(
        "  {:<38} {:<12} {:<8} our function",
        "event type", "subscription", "Reply"
    );
    let mut unexplained = 0;
    for (event_type, id, result) in &fired {
        let (reply, ours) = match result {
            Err(err) => ("FAILED", format!("{err}")),
            Ok(()) if before.is_none() => ("fired", "not looked up".to_owned()),
            Ok(()) => {
                let found: Vec<&Record> = new_records
                    .iter()
                    .filter(|r| r.event_type == *event_type)
                    .collect();
                match found.first() {
                    Some(record) => ("fired", describe(record, found.len())),
                    None => {
                        unexplained += 1;
                        ("fired", "no new record (see below)".to_owned())
                    }
                }
            }
        };
        println!("  {event_type:<38} {id:<12} {reply:<8} {ours}");
    }
    println!();
    println!("{} Reply API call(s) in all.", client.calls());
    if unexplained > 0 {
        println!(
            "No new record means one of: a repeat of an earlier test (the placeholder event id is the same every time, so our function answered \"duplicate\" and wrote nothing); a delivery our function refused (a wrong token gets 401); or one that has not arrived. The function's log says which."
        );
    }
    ok
}

fn describe(record: &Record, found: usize) -> String {
    let status = match record.status.as_str() {
        "COMPLETED" => "accepted",
        "INPROGRESS" => "in progress",
        other => other,
    };
    let more = if found > 1 {
        format!(" (+{} more of this type since)", found - 1)
    } else {
        String::new()
    };
    format!(
        "{status}: new record, event {} ({}, {}){more}",
        record.event_id,
        record.category,
        record
            .received_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}
