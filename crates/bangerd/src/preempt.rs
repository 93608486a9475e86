//! Long guest-facing work under a VM's lock gives way to `vm stop` and
//! `vm delete`. A workspace prepare or export waits on the guest for as
//! long as its commands run (a large checkout is slow, so there is no
//! deadline), which a hostile or wedged guest can make forever; holding the
//! VM's lock all that time would hold a stop or a delete with it. So each
//! such operation watches its VM's claims, and a stop or delete claims the
//! VM before it waits for the lock: the operation is dropped (its agent
//! connections closed), fails with a clear error, and the lock is free.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

#[derive(Debug, Default)]
pub struct Preempt {
    claims: Mutex<HashMap<String, watch::Sender<u64>>>,
}

/// What an operation gave way to.
#[derive(Debug, thiserror::Error)]
#[error("{what} was interrupted: VM `{vm}` is being stopped or deleted")]
pub struct Preempted {
    pub what: &'static str,
    pub vm: String,
}

impl Preempt {
    fn sender(&self, vm: &str) -> watch::Sender<u64> {
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        claims
            .entry(vm.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .clone()
    }

    /// Watches `vm` from now on: take it before waiting for the VM's lock,
    /// so a claim made while waiting counts too.
    pub fn watch(&self, vm: &str) -> Watch {
        Watch {
            vm: vm.to_owned(),
            rx: self.sender(vm).subscribe(),
        }
    }

    /// A stop or delete wants `vm`: whatever watches it gives way.
    pub fn claim(&self, vm: &str) {
        self.sender(vm).send_modify(|n| *n += 1);
    }
}

#[derive(Debug)]
pub struct Watch {
    vm: String,
    rx: watch::Receiver<u64>,
}

impl Watch {
    /// `work`, unless the VM is claimed first.
    pub async fn run<T>(
        mut self,
        what: &'static str,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, Preempted> {
        tokio::select! {
            done = work => Ok(done),
            _ = self.rx.changed() => Err(Preempted { what, vm: self.vm }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn work_on_a_claimed_vm_gives_way_and_other_vms_go_on() {
        let p = std::sync::Arc::new(Preempt::default());
        let forever = p
            .watch("a")
            .run("workspace prepare", std::future::pending::<()>());
        let other = p.watch("b").run("workspace prepare", async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            7
        });
        let claimer = {
            let p = p.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                p.claim("a");
            }
        };
        let (a, b, ()) = tokio::join!(forever, other, claimer);
        let e = a.unwrap_err();
        assert_eq!(
            e.to_string(),
            "workspace prepare was interrupted: VM `a` is being stopped or deleted"
        );
        assert_eq!(b.unwrap(), 7, "a claim on `a` is not one on `b`");

        // A claim made before the work starts (while it waited for the
        // lock) counts; one made before the watch does not.
        let w = p.watch("a");
        p.claim("a");
        assert!(w.run("x", std::future::pending::<()>()).await.is_err());
        p.claim("c");
        assert_eq!(p.watch("c").run("x", async { 2 }).await.unwrap(), 2);
    }
}
