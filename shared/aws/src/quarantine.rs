//! The quarantine queue read back, for a replay: receive a batch, delete what was replayed.
//! (The functions only send to it, through [`crate::SqsPublisher`].)

use std::time::Duration;

use aws_sdk_sqs::Client;
use webhook_core::ports::{Dependency, DependencyError};

use crate::error::dependency_error;

/// One message received from the quarantine queue.
#[derive(Debug, Clone)]
pub struct QuarantineMessage {
    pub message_id: String,
    /// What deletes it (valid while the message is invisible).
    pub receipt_handle: String,
    pub body: String,
}

/// The quarantine queue, for a replay.
#[derive(Debug, Clone)]
pub struct QuarantineQueue {
    client: Client,
    url: String,
}

impl QuarantineQueue {
    pub fn new(client: Client, url: impl Into<String>) -> QuarantineQueue {
        QuarantineQueue {
            client,
            url: url.into(),
        }
    }

    /// Up to 10 messages, hidden from other readers for `hide_for` (so a run sees each
    /// message once; what it does not delete comes back when that time is up). An empty
    /// batch means the queue has nothing visible left.
    pub async fn receive(
        &self,
        hide_for: Duration,
    ) -> Result<Vec<QuarantineMessage>, DependencyError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .visibility_timeout(i32::try_from(hide_for.as_secs()).unwrap_or(i32::MAX))
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|err| dependency_error(Dependency::Sqs, err))?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|message| {
                Some(QuarantineMessage {
                    message_id: message.message_id?,
                    receipt_handle: message.receipt_handle?,
                    body: message.body.unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Deletes a message that was replayed.
    pub async fn delete(&self, message: &QuarantineMessage) -> Result<(), DependencyError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(&message.receipt_handle)
            .send()
            .await
            .map_err(|err| dependency_error(Dependency::Sqs, err))?;
        Ok(())
    }

    /// Makes a message visible again at once (a dry run leaves the queue as it found it).
    pub async fn release(&self, message: &QuarantineMessage) -> Result<(), DependencyError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(&message.receipt_handle)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|err| dependency_error(Dependency::Sqs, err))?;
        Ok(())
    }
}
