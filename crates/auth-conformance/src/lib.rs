//! # auth-conformance
//!
//! The framework-neutral HTTP scenarios that every adapter's reference app must pass
//! unchanged (see `docs/CONTRACT.md`). Each scenario starts the reference binary on
//! `127.0.0.1:0`, reads its `listening on` line, and drives it with `reqwest`, asserting
//! status, the auth-relevant headers and the body.
//!
//! An adapter instantiates the whole suite in one line of its reference app's tests:
//!
//! ```text
//! auth_conformance::conformance_suite!(env!("CARGO_BIN_EXE_reference-axum"));
//! ```
//!
//! which runs every scenario against the in-memory store, against Redis
//! (`AUTH_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`), against a SQLite file and
//! against Postgres (`AUTH_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; a fresh schema per app), the
//! revocation scenarios again in allowlist mode (`AUTH_REVOCATION=allowlist`) on each,
//! the restart scenario on each store that outlives the app, plus the two-instance
//! scenarios (two apps sharing one Redis, or one Postgres database), the
//! resource-server scenarios (tokens of trusted OpenID Connect issuers, against the
//! [`idp::FakeIdp`]) and the asymmetric signing and JWKS scenarios once each, on the
//! memory store (`trusted_issuers`, `jwks`). The revocation and
//! two-instance scenarios run once more on a Redis Cluster (`AUTH_TEST_REDIS_CLUSTER_NODES`,
//! or 3 local primaries this suite starts itself: see [`cluster`]).
//!
//! ```
//! assert_eq!(
//!     auth_conformance::parse_listening_line("listening on http://127.0.0.1:40123"),
//!     Some("127.0.0.1:40123")
//! );
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)] // a scenario fails by panicking

pub mod app;
pub mod browser;
pub mod cluster;
pub mod idp;
pub mod provider;
pub mod scenarios;

pub use app::{App, Target};

/// The address in a reference app's `listening on http://HOST:PORT` start-up line.
pub fn parse_listening_line(line: &str) -> Option<&str> {
    let addr = line.trim().strip_prefix("listening on http://")?;
    (!addr.is_empty() && addr.contains(':')).then_some(addr)
}

/// Instantiates every scenario for a reference binary: once on the memory store, once
/// on Redis, once on SQLite and once on Postgres, plus the two-instance scenarios and
/// the trusted-issuer scenarios (memory only: the key cache lives in the process).
#[macro_export]
macro_rules! conformance_suite {
    ($binary:expr) => {
        mod memory {
            $crate::conformance_suite!(@tests $crate::Target::memory($binary));
        }
        mod trusted_issuers {
            $crate::conformance_suite!(@issuers $crate::Target::memory($binary));
        }
        // Asymmetric signing and the JWKS: about keys, not state, so once per app.
        mod jwks {
            $crate::conformance_suite!(@each $crate::Target::memory($binary);
                jwks_rs256_tokens_verify_against_the_published_key,
                jwks_ps256_tokens_verify_against_the_published_key,
                jwks_es256_tokens_verify_against_the_published_key,
                jwks_eddsa_tokens_verify_against_the_published_key,
                jwks_is_empty_with_hs256,
                jwks_hs256_tokens_are_refused_when_asymmetric,
                jwks_rotation_keeps_old_tokens_valid,
                jwks_ephemeral_key_without_a_key_file,
                jwks_bad_key_settings_exit_with_one_line,
            );
        }
        // Trusted proxies and the login body types: about the request, not the store, so
        // once per app.
        mod proxies {
            $crate::conformance_suite!(@each $crate::Target::memory($binary);
                trusted_proxies_name_the_client_for_the_address_limit,
                login_accepts_a_form_or_json,
            );
        }
        // Passkeys in headless Chromium with a virtual authenticator, and the replays and
        // forgeries of its real answers: about the ceremony, not the store, so once per
        // app (the store suite covers the passkey state on Redis and SQL).
        mod passkeys {
            $crate::conformance_suite!(@each $crate::Target::memory($binary);
                passkeys_register_and_sign_in_in_a_browser,
            );
        }
        // AUTH_METRICS: one process-wide recorder, so once per app.
        mod telemetry {
            $crate::conformance_suite!(@each $crate::Target::memory($binary);
                metrics_count_what_the_core_decides,
            );
        }
        mod redis {
            $crate::conformance_suite!(@tests $crate::Target::redis($binary));
            $crate::conformance_suite!(@persistent $crate::Target::redis($binary));
        }
        mod sqlite {
            $crate::conformance_suite!(@tests $crate::Target::sqlite($binary));
            $crate::conformance_suite!(@persistent $crate::Target::sqlite($binary));
        }
        mod postgres {
            $crate::conformance_suite!(@tests $crate::Target::postgres($binary));
            $crate::conformance_suite!(@persistent $crate::Target::postgres($binary));
        }
        mod allowlist_memory {
            $crate::conformance_suite!(@revocation $crate::Target::memory($binary).allowlist());
        }
        mod allowlist_redis {
            $crate::conformance_suite!(@revocation $crate::Target::redis($binary).allowlist());
        }
        mod cluster {
            $crate::conformance_suite!(@revocation $crate::Target::cluster($binary));
        }
        mod two_instances_on_a_cluster {
            $crate::conformance_suite!(@cluster $binary;
                logout_is_seen_by_the_other_instance_on_a_cluster,
                session_is_seen_by_the_other_instance_on_a_cluster,
                rotation_is_seen_by_the_other_instance_on_a_cluster,
                allowlist_is_shared_between_instances_on_a_cluster,
                logout_is_seen_by_a_replicated_instance_on_a_cluster,
            );
        }
        mod allowlist_sqlite {
            $crate::conformance_suite!(@revocation $crate::Target::sqlite($binary).allowlist());
        }
        mod allowlist_postgres {
            $crate::conformance_suite!(@revocation $crate::Target::postgres($binary).allowlist());
            $crate::conformance_suite!(@each $crate::Target::postgres($binary).allowlist();
                a_restart_loses_nothing,
                two_instances_share_one_database,
            );
        }
        mod two_instances_postgres {
            $crate::conformance_suite!(@each $crate::Target::postgres($binary);
                two_instances_share_one_database,
                concurrent_refreshes_across_two_instances_have_one_winner,
                database_outage_fails_closed_and_recovers,
            );
        }
        mod two_instances {
            $crate::conformance_suite!(@shared $binary;
                logout_is_seen_by_the_other_instance,
                session_is_seen_by_the_other_instance,
                rotation_is_seen_by_the_other_instance,
                allowlist_is_shared_between_instances,
                store_outage_fails_closed,
                store_outage_fails_closed_in_allowlist_mode,
                external_login_across_instances,
                logout_is_seen_by_a_replicated_instance,
                optional_bearer_fails_closed_on_store_outage,
            );
        }
    };
    (@tests $target:expr) => {
        $crate::conformance_suite!(@each $target;
            health,
            token_password_grant,
            token_errors_follow_rfc_6749,
            token_throttling_after_five_failures,
            token_throttling_per_client_address,
            me_with_and_without_a_token,
            token_attacks_are_refused,
            header_limits,
            refresh_rotates_and_reuse_revokes_the_family,
            token_endpoint_refresh_grant,
            concurrent_refresh_race_has_one_winner,
            bearer_logout_revokes_the_login,
            logout_all_revokes_every_login,
            sessions_are_listed_and_revocable,
            api_key_in_header_and_query,
            cookie_login_dashboard_and_logout,
            login_fixation_is_prevented,
            login_failures_and_throttling,
            csrf_on_cookie_requests,
            rbac_roles,
            abac_article_policies,
            reports_accept_bearer_or_session,
            bad_configuration_exits_with_one_line,
            a_validly_signed_token_never_issued_depends_on_the_mode,
            external_login_happy_path,
            external_login_wrong_state,
            external_login_replayed_state,
            external_login_pkce_mismatch_and_provider_error,
            external_login_open_redirects,
            external_login_bad_id_tokens,
            external_login_links_only_verified_emails,
            external_login_github_links_only_a_verified_primary_email,
            external_login_checks_azp_and_at_hash,
            external_login_keeps_a_linked_subjects_account,
            openapi_spec_follows_the_guards,
            jwt_attack_corpus,
            authenticated_responses_are_private,
            concurrent_guesses_cannot_pass_the_user_limit,
            concurrent_sprays_cannot_pass_the_address_limit,
            username_forms_share_one_throttle,
            multibyte_jwt_headers_are_refused_not_a_panic,
            multibyte_request_text_is_refused_not_a_panic,
            second_factor_totp_flows,
            wrong_codes_spend_the_mfa_token_and_count_toward_the_throttle,
            login_csrf_and_the_origin_policy,
            allowed_origins_are_validated,
            csrf_token_form_field,
            credentialed_answers_are_never_stored,
        );
    };
    (@issuers $target:expr) => {
        $crate::conformance_suite!(@each $target;
            trusted_issuer_tokens_reach_whoami,
            trusted_issuer_roles_from_a_nested_claim,
            trusted_issuer_refusals_are_invalid_token,
            two_trusted_issuers_beside_the_apps_own_tokens,
            trusted_issuer_roles_drive_the_guards,
            unknown_kid_flood_refetches_the_jwks_at_most_once,
            rotated_issuer_keys_are_picked_up_with_one_refetch,
            cached_issuer_keys_outlive_an_outage,
            an_issuer_unreachable_from_the_start_answers_503,
            issuer_key_cache_has_a_60_second_floor,
        );
    };
    (@persistent $target:expr) => {
        $crate::conformance_suite!(@each $target;
            a_restart_loses_nothing,
        );
    };
    (@revocation $target:expr) => {
        $crate::conformance_suite!(@each $target;
            a_validly_signed_token_never_issued_depends_on_the_mode,
            me_with_and_without_a_token,
            token_attacks_are_refused,
            refresh_rotates_and_reuse_revokes_the_family,
            token_endpoint_refresh_grant,
            concurrent_refresh_race_has_one_winner,
            bearer_logout_revokes_the_login,
            logout_all_revokes_every_login,
            sessions_are_listed_and_revocable,
        );
    };
    (@shared $binary:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::scenarios::shared::$name($binary).await;
            }
        )*
    };
    (@cluster $binary:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::scenarios::cluster::$name($binary).await;
            }
        )*
    };
    (@each $target:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::scenarios::$name(&$target).await;
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use super::parse_listening_line;

    #[test]
    fn parses_only_the_contract_line() {
        assert_eq!(
            parse_listening_line("listening on http://[::1]:8000\n"),
            Some("[::1]:8000")
        );
        assert_eq!(parse_listening_line("listening on https://x:1"), None);
        assert_eq!(parse_listening_line("listening on http://"), None);
        assert_eq!(parse_listening_line("started"), None);
    }
}
