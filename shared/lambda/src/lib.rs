//! Lambda entry point shared by the three functions.
