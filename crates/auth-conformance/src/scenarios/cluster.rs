//! The two-instance scenarios on a Redis Cluster (`AUTH_REDIS_CLUSTER_NODES`): two apps
//! share one cluster, and what one records (a logout, a session, a rotation, an
//! allowlist entry, a replicated revocation) the other sees, keys spread over the slots.

use std::time::Duration;

use super::shared::{logout_across, rotation_across, session_across};
use crate::app::cluster_env;
use crate::cluster::cluster_nodes;

/// Scenario: a logout on one instance is refused by the other, on a cluster.
pub async fn logout_is_seen_by_the_other_instance_on_a_cluster(binary: &str) {
    let nodes = cluster_nodes();
    logout_across(binary, &cluster_env(&nodes), Duration::ZERO).await;
}

/// Scenario: a session made on one instance is used and ended on the other, on a cluster
/// (the session and its user's index live in two slots).
pub async fn session_is_seen_by_the_other_instance_on_a_cluster(binary: &str) {
    let nodes = cluster_nodes();
    session_across(binary, &cluster_env(&nodes)).await;
}

/// Scenario: a rotation on one instance consumes the refresh token for the other; reuse
/// there revokes the family everywhere, on a cluster.
pub async fn rotation_is_seen_by_the_other_instance_on_a_cluster(binary: &str) {
    let nodes = cluster_nodes();
    rotation_across(binary, &cluster_env(&nodes)).await;
}

/// Scenario: the allowlist is shared between instances on a cluster.
pub async fn allowlist_is_shared_between_instances_on_a_cluster(binary: &str) {
    let nodes = cluster_nodes();
    let mut env = cluster_env(&nodes).to_vec();
    env.push(("AUTH_REVOCATION", "allowlist"));
    logout_across(binary, &env, Duration::ZERO).await;
}

/// Scenario: with revocations replicated into each instance, a logout on one is refused
/// by the other within the propagation bound, on a cluster (the stream in its own slot,
/// appended after the script that records the revocation).
pub async fn logout_is_seen_by_a_replicated_instance_on_a_cluster(binary: &str) {
    let nodes = cluster_nodes();
    let mut env = cluster_env(&nodes).to_vec();
    env.push(("AUTH_REDIS_REPLICA", "true"));
    logout_across(binary, &env, Duration::from_secs(2)).await;
}
