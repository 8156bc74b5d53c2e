//! [`Answer`]: an authentication's outcome as a small future, ready at once when the
//! core could decide it in place.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// An outcome `T` as a future: ready at once when the core decided it in place (the
/// `*_now` methods of [`Auth`](crate::Auth), such as
/// [`bearer_now_as`](crate::Auth::bearer_now_as)), else the waiting future `W`, boxed by
/// the adapter, of the store round trip. An extractor that returns it moves a few words
/// per request instead of the whole authentication future, and allocates nothing when
/// the answer is at hand.
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use auth_core::adapter::Answer;
///
/// type Boxed = Pin<Box<dyn Future<Output = u8> + Send>>;
/// # tokio_test_block_on(async {
/// assert_eq!(Answer::<u8, Boxed>::ready(7).await, 7);
/// assert_eq!(Answer::<u8, Boxed>::waiting(Box::pin(async { 8 })).await, 8);
/// # });
/// # fn tokio_test_block_on(f: impl Future<Output = ()>) {
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     assert!(f.as_mut().poll(&mut cx).is_ready());
/// # }
/// ```
#[must_use = "an Answer does nothing unless awaited"]
#[derive(Debug)]
pub struct Answer<T, W>(Inner<T, W>);

#[derive(Debug)]
enum Inner<T, W> {
    Ready(Option<T>),
    Waiting(W),
}

impl<T, W> Answer<T, W> {
    /// An outcome decided already.
    pub fn ready(outcome: T) -> Self {
        Self(Inner::Ready(Some(outcome)))
    }

    /// An outcome still to wait for (a boxed future, so that the answer stays small).
    pub fn waiting(work: W) -> Self {
        Self(Inner::Waiting(work))
    }

    /// The outcome found in place (an `*_now` method's `Some`), else the future `wait`
    /// builds: how an extractor tries the in-place answer before it boxes a store round
    /// trip.
    pub fn now_or(now: Option<T>, wait: impl FnOnce() -> W) -> Self {
        match now {
            Some(outcome) => Self::ready(outcome),
            None => Self::waiting(wait()),
        }
    }

    /// Whether the outcome was decided without waiting.
    pub fn is_ready(&self) -> bool {
        matches!(self.0, Inner::Ready(_))
    }
}

// `T` is moved out by value, never pinned, so the answer is `Unpin` whatever `T` is.
impl<T, W: Unpin> Unpin for Answer<T, W> {}

impl<T, W: Future<Output = T> + Unpin> Future for Answer<T, W> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match &mut self.get_mut().0 {
            // Polled again after completion: it stays pending rather than panic.
            Inner::Ready(outcome) => outcome.take().map_or(Poll::Pending, Poll::Ready),
            Inner::Waiting(work) => Pin::new(work).poll(cx),
        }
    }
}
