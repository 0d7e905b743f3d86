//! Creates the table and queues the functions expect (local stack and tests only).
