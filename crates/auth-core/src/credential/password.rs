//! argon2id password hashing, off the async runtime.
//!
//! Hashing and verifying cost ~25–40 ms of CPU and 19 MiB of memory each at OWASP's
//! parameters. They run on the hasher's own threads, never on an async worker, at most
//! `max_concurrent` at once (so a burst cannot allocate unbounded memory either); the rest
//! wait asynchronously for a slot. On Linux those threads run under the `SCHED_IDLE`
//! policy: any other runnable thread of the machine preempts them at once, so when the
//! CPU is busy, requests that are already authenticated go first and logins take the time
//! left over; a login burst cannot stall the rest of the service (measured in
//! `docs/BENCHMARKS.md`, "Login burst"). An idle CPU still hashes at full speed; a CPU
//! saturated by other work for long makes logins wait (and time out at the client) rather
//! than everything else slow down.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{ConfigError, StoreError};

/// Passwords longer than this are refused before any hashing (a denial-of-service guard:
/// argon2 reads the whole password).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// argon2id cost parameters. The default is OWASP's current minimum
/// (m = 19456 KiB, t = 2, p = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Parallelism.
    pub p_cost: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self {
            m_cost: Params::DEFAULT_M_COST,
            t_cost: Params::DEFAULT_T_COST,
            p_cost: Params::DEFAULT_P_COST,
        }
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The password matches and the hash uses the current parameters.
    Ok,
    /// The password matches, but the hash uses older parameters (or another argon2
    /// variant): store [`Passwords::hash`] of the password to upgrade it.
    NeedsRehash,
    /// The password does not match (or the stored hash is unreadable).
    Mismatch,
}

impl Verified {
    /// Whether the password matched.
    pub fn is_match(self) -> bool {
        self != Verified::Mismatch
    }
}

/// Why a password could not be checked or hashed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// Longer than [`MAX_PASSWORD_BYTES`]; nothing was hashed.
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// The blocking task failed (the runtime is shutting down, or hashing panicked).
    #[error("password hashing could not run: {0}")]
    Runtime(String),
}

impl From<PasswordError> for StoreError {
    fn from(e: PasswordError) -> Self {
        StoreError::new(e.to_string())
    }
}

/// Hashes and verifies passwords with argon2id. Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use auth_core::credential::{PasswordParams, Passwords, Verified};
///
/// let passwords = Passwords::new(PasswordParams::default())?;
/// let phc = passwords.hash("correct horse battery staple".into()).await?;
/// assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
/// assert_eq!(passwords.verify("correct horse battery staple".into(), phc.clone()).await?, Verified::Ok);
/// assert_eq!(passwords.verify("wrong".into(), phc).await?, Verified::Mismatch);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    params: PasswordParams,
    argon2: Argon2<'static>,
    dummy: String,
    permits: Semaphore,
    verifications: AtomicU64,
    pool: HashPool,
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads that run argon2 jobs at background priority. The threads end
/// when the hasher is dropped (the channel closes).
struct HashPool {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl HashPool {
    fn new(threads: usize) -> Result<Self, ConfigError> {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        let Ok(job) = job else { return };
                        // A panicking job drops its reply sender (the caller sees an
                        // error); the thread lives on.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .map_err(|e| ConfigError::Invalid {
                    setting: "argon2 threads",
                    reason: format!("cannot start a hashing thread: {e}"),
                })?;
        }
        Ok(Self { jobs })
    }
}

/// Moves the calling thread to `SCHED_IDLE` (Linux; elsewhere a no-op). It needs no
/// privilege; a failure only leaves the normal priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
            set_thread_priority_and_policy, thread_native_id,
        };
        if let Err(e) = set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
        ) {
            tracing::debug!("argon2 threads keep their priority: {e:?}");
        }
    }
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.inner.params)
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// A hasher with `params`, allowing as many concurrent hashes as there are CPUs.
    ///
    /// Computes the dummy hash used for unknown users once, here (one hash of work).
    pub fn new(params: PasswordParams) -> Result<Self, ConfigError> {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_concurrency(params, cpus)
    }

    /// As [`Passwords::new`], with at most `max_concurrent` hashes running at once.
    pub fn with_concurrency(
        params: PasswordParams,
        max_concurrent: usize,
    ) -> Result<Self, ConfigError> {
        let p = Params::new(params.m_cost, params.t_cost, params.p_cost, None).map_err(|e| {
            ConfigError::Invalid {
                setting: "argon2 parameters",
                reason: format!("{e}; OWASP's minimum is m=19456, t=2, p=1"),
            }
        })?;
        let argon2 = Argon2::new(argon2::Algorithm::Argon2id, Version::V0x13, p);
        // The dummy's password is random and thrown away: nothing can match it.
        let secret = crate::ids::random_b64::<24>();
        let dummy = argon2
            .hash_password(secret.as_bytes())
            .map_err(|e| ConfigError::Invalid {
                setting: "argon2 parameters",
                reason: e.to_string(),
            })?
            .to_string();
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                argon2,
                dummy,
                permits: Semaphore::new(max_concurrent.max(1)),
                verifications: AtomicU64::new(0),
                pool: HashPool::new(max_concurrent.max(1))?,
            }),
        })
    }

    /// The parameters new hashes use.
    pub fn params(&self) -> PasswordParams {
        self.inner.params
    }

    /// How many argon2 verifications (real or dummy) have run; for metrics and tests. A
    /// verification against an unusable hash counts too: it runs the dummy hash.
    pub fn verifications(&self) -> u64 {
        self.inner.verifications.load(Ordering::Relaxed)
    }

    /// Hashes `password` into a PHC string, on the hashing threads.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        let this = self.clone();
        self.blocking(move || this.hash_blocking(&password)).await?
    }

    /// Checks `password` against the PHC string `phc`, on the hashing threads.
    pub async fn verify(&self, password: String, phc: String) -> Result<Verified, PasswordError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        let this = self.clone();
        self.blocking(move || this.verify_blocking(&password, &phc))
            .await
    }

    /// Burns the same work as a real verification, against a hash nothing matches, so an
    /// unknown username costs what a wrong password costs.
    pub async fn verify_dummy(&self, password: String) -> Result<(), PasswordError> {
        let phc = self.inner.dummy.clone();
        self.verify(password, phc).await.map(|_| ())
    }

    /// Synchronous hashing, for start-up and tools; never call it on an async worker.
    pub fn hash_blocking(&self, password: &str) -> Result<String, PasswordError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        self.inner
            .argon2
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Runtime(e.to_string()))
    }

    /// Synchronous verification, for tools; never call it on an async worker.
    pub fn verify_blocking(&self, password: &str, phc: &str) -> Verified {
        if password.len() > MAX_PASSWORD_BYTES {
            return Verified::Mismatch;
        }
        let Ok(parsed) = PasswordHash::new(phc) else {
            // No usable hash (an external-only account, a disabled marker, a damaged
            // row): burn the dummy hash's work anyway, so that such an account answers in
            // the time any wrong password takes (no account-type oracle).
            self.argon2_verify(password, &self.inner.dummy);
            return Verified::Mismatch;
        };
        // The hash's own parameters are used, so old hashes keep verifying.
        if !self.argon2_verify_parsed(password, &parsed) {
            return Verified::Mismatch;
        }
        if self.is_current(&parsed) {
            Verified::Ok
        } else {
            Verified::NeedsRehash
        }
    }

    /// One argon2 verification against `phc` (counted); false on any mismatch.
    fn argon2_verify(&self, password: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(parsed) => self.argon2_verify_parsed(password, &parsed),
            Err(_) => false,
        }
    }

    fn argon2_verify_parsed(&self, password: &str, parsed: &PasswordHash) -> bool {
        self.inner.verifications.fetch_add(1, Ordering::Relaxed);
        self.inner
            .argon2
            .verify_password(password.as_bytes(), parsed)
            .is_ok()
    }

    fn is_current(&self, hash: &PasswordHash) -> bool {
        let want = self.inner.params;
        hash.algorithm.as_str() == "argon2id"
            && hash.version == Some(Version::V0x13.into())
            && Params::try_from(hash).is_ok_and(|p| {
                p.m_cost() == want.m_cost && p.t_cost() == want.t_cost && p.p_cost() == want.p_cost
            })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError::Runtime(e.to_string()))?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.inner
            .pool
            .jobs
            .send(Box::new(move || {
                let _ = reply.send(work());
            }))
            .map_err(|_| PasswordError::Runtime("the hashing threads have stopped".into()))?;
        answer
            .await
            .map_err(|_| PasswordError::Runtime("a hashing job failed".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordParams {
        PasswordParams {
            m_cost: 256,
            t_cost: 1,
            p_cost: 1,
        }
    }

    #[tokio::test]
    async fn defaults_are_owasp_minimum_argon2id() {
        let pw = Passwords::new(PasswordParams::default()).unwrap();
        let phc = pw.hash("pw".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(pw.verify("pw".into(), phc).await.unwrap(), Verified::Ok);
    }

    #[tokio::test]
    async fn a_parameter_change_flags_a_rehash() {
        let old = Passwords::new(cheap()).unwrap();
        let phc = old.hash("pw".into()).await.unwrap();
        let new = Passwords::new(PasswordParams {
            t_cost: 2,
            ..cheap()
        })
        .unwrap();
        assert_eq!(
            new.verify("pw".into(), phc.clone()).await.unwrap(),
            Verified::NeedsRehash
        );
        assert_eq!(
            new.verify("nope".into(), phc).await.unwrap(),
            Verified::Mismatch
        );
        let upgraded = new.hash("pw".into()).await.unwrap();
        assert_eq!(
            new.verify("pw".into(), upgraded).await.unwrap(),
            Verified::Ok
        );
    }

    #[tokio::test]
    async fn argon2i_hashes_are_flagged_for_rehash() {
        let argon2i = Argon2::new(
            argon2::Algorithm::Argon2i,
            Version::V0x13,
            Params::new(256, 1, 1, None).unwrap(),
        );
        let phc = argon2i.hash_password(b"pw").unwrap().to_string();
        let pw = Passwords::new(cheap()).unwrap();
        assert_eq!(
            pw.verify("pw".into(), phc).await.unwrap(),
            Verified::NeedsRehash
        );
    }

    #[tokio::test]
    async fn a_2_kib_password_is_refused_without_hashing() {
        let pw = Passwords::new(cheap()).unwrap();
        let before = pw.verifications();
        let long = "x".repeat(2048);
        assert!(matches!(
            pw.hash(long.clone()).await,
            Err(PasswordError::TooLong)
        ));
        assert!(matches!(
            pw.verify(long, "$argon2id$...".into()).await,
            Err(PasswordError::TooLong)
        ));
        assert_eq!(pw.verifications(), before, "no argon2 work was done");
    }

    #[tokio::test]
    async fn garbage_phc_is_a_mismatch_not_a_panic() {
        let pw = Passwords::new(cheap()).unwrap();
        for phc in [
            "",
            "$argon2id$",
            "plain-sha256-hex",
            "$argon2id$v=19$m=1,t=1,p=1$$",
        ] {
            assert_eq!(
                pw.verify("pw".into(), phc.into()).await.unwrap(),
                Verified::Mismatch
            );
        }
    }

    #[test]
    fn invalid_parameters_are_a_config_error() {
        let err = Passwords::new(PasswordParams {
            m_cost: 1,
            t_cost: 0,
            p_cost: 0,
        })
        .unwrap_err();
        assert!(err.to_string().contains("OWASP"), "{err}");
    }
}
