//! A [`JsRuntime`] on its own thread. QuickJS runtimes are `!Send`, so callers on other
//! threads (the server's request handlers) send closures to the worker that owns one.

use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

use hull_errors::{Error, Result};

use crate::{JsRuntime, ModuleMap, RuntimeConfig};

type Job = Box<dyn FnOnce(&mut JsRuntime) + Send>;

/// Native stack of a worker thread: room for QuickJS's own limit plus the Rust frames around it.
pub const WORKER_STACK_SIZE: usize = 8 << 20;

/// A thread owning one [`JsRuntime`]; jobs run one at a time, in submission order.
pub struct JsWorker {
    sender: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl JsWorker {
    /// Starts a worker serving `modules`.
    pub fn spawn(name: &str, modules: ModuleMap, config: RuntimeConfig) -> Result<JsWorker> {
        let (sender, receiver) = channel::<Job>();
        let (ready_sender, ready) = channel::<Result<()>>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .stack_size(WORKER_STACK_SIZE)
            .spawn(move || {
                let mut runtime = match JsRuntime::new(modules, config) {
                    Ok(runtime) => {
                        let _ = ready_sender.send(Ok(()));
                        runtime
                    }
                    Err(error) => {
                        let _ = ready_sender.send(Err(error));
                        return;
                    }
                };
                while let Ok(job) = receiver.recv() {
                    job(&mut runtime);
                }
            })
            .map_err(|e| {
                Error::internal(
                    "WorkerStartFailed",
                    format!("could not start a JS worker thread: {e}"),
                )
            })?;
        ready.recv().map_err(|_| {
            Error::internal(
                "WorkerStartFailed",
                "the JS worker thread exited during startup",
            )
        })??;
        Ok(JsWorker {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Runs `job` on the worker's runtime and waits for its result.
    pub fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut JsRuntime) -> R + Send + 'static,
    ) -> Result<R> {
        let (reply, answer) = channel();
        let job: Job = Box::new(move |runtime| {
            let _ = reply.send(job(runtime));
        });
        let gone = || Error::internal("WorkerGone", "the JS worker thread has stopped");
        self.sender
            .as_ref()
            .expect("set until drop")
            .send(job)
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())
    }
}

impl Drop for JsWorker {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
