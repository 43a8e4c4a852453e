//! Neural-network ops, each a single op with its own backward rule.

pub mod softmax;
