//! The warm pool (vm/pool.rs) against the fake VMM: a warm VM is booted
//! ahead, claimed by a create that matches (renamed, made the user's),
//! skipped by one that does not, given up for a user's VM short of
//! addresses, and removed when the pool shrinks or the daemon stops.

use super::*;
use crate::store::Warm;
use crate::vmm::fake::FAKE_EXECS;

fn warm(h: &mut Harness, size: u32) {
    h.config.warm_pool_size = size;
    h.config.warm_pool_images = vec!["base".into()];
}

fn mine(name: &str) -> CreateVm {
    CreateVm {
        name: Some(name.into()),
        image: Some("base".into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_matching_create_claims_the_warm_vm_and_makes_it_the_users() {
    let mut h = Harness::new(Guest::Healthy);
    warm(&mut h, 1);
    let warm_name = pool::fill_one(&h.env(), "base").await.unwrap();
    assert!(warm_name.starts_with("warm-"), "{warm_name}");
    let pooled = h.row(&warm_name).unwrap();
    assert_eq!(pooled.warm, Some(Warm::Ready));
    assert_eq!(pooled.state, VmState::Running);
    assert_eq!(pool::members(&h.env()).unwrap().len(), 1);

    let mut stages = Vec::new();
    let vm = create(&h.env(), mine("mine"), &mut |p| stages.push(p.stage))
        .await
        .unwrap();
    assert!(vm.claimed_warm);
    assert_eq!(vm.id, pooled.id, "the warm VM itself, not a new one");
    assert_eq!(vm.name, "mine");
    assert_eq!(vm.warm, None);
    assert_eq!(vm.ip, pooled.ip);
    assert_eq!(
        stages,
        [banger_api::progress::Stage::Claim],
        "no clone, no boot"
    );
    assert!(h.row(&warm_name).is_none(), "renamed, not copied");
    let row = h.row("mine").unwrap();
    assert_eq!(row.warm, None);
    assert!(row.last_activity.is_some(), "a claim counts as use");
    assert!(pool::members(&h.env()).unwrap().is_empty());
    // The claim told the guest its name, the host's time and 64 bytes of
    // entropy, in one command.
    let execs = std::fs::read_to_string(h.f.paths.vm_dir(&vm.id).join(FAKE_EXECS)).unwrap();
    let claim = execs.lines().next().unwrap();
    assert!(claim.contains(r#""banger-claim","mine","#), "{claim}");
    assert!(claim.ends_with(" <64"), "{claim}");

    // The pool is empty now: the next create boots cold.
    let cold = create(&h.env(), mine("next"), &mut |_| {}).await.unwrap();
    assert!(!cold.claimed_warm);
    assert_ne!(cold.id, vm.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_that_does_not_match_or_asks_cold_leaves_the_pool_alone() {
    let mut h = Harness::with_pool(Guest::Healthy, "10.9.0.0/28");
    warm(&mut h, 1);
    let warm_name = pool::fill_one(&h.env(), "base").await.unwrap();
    let other_size = [
        CreateVm {
            vcpus: Some(3),
            ..mine("cpus")
        },
        CreateVm {
            memory_mib: Some(512),
            ..mine("memory")
        },
        CreateVm {
            disk_size_mib: Some(64),
            ..mine("disk")
        },
        CreateVm {
            cold: true,
            ..mine("cold")
        },
        CreateVm {
            no_start: true,
            ..mine("stopped")
        },
    ];
    for req in other_size {
        let name = req.name.clone().unwrap();
        let vm = create(&h.env(), req, &mut |_| {}).await.unwrap();
        assert!(!vm.claimed_warm, "{name} took the warm VM");
        assert_eq!(h.row(&warm_name).unwrap().warm, Some(Warm::Ready), "{name}");
    }
    // The pool switched off (warm_pool_size = 0): no claim either.
    h.config.warm_pool_size = 0;
    let vm = create(&h.env(), mine("off"), &mut |_| {}).await.unwrap();
    assert!(!vm.claimed_warm);
    assert_eq!(h.row(&warm_name).unwrap().warm, Some(Warm::Ready));
    // Back on, a matching create takes it.
    h.config.warm_pool_size = 1;
    assert!(
        create(&h.env(), mine("on"), &mut |_| {})
            .await
            .unwrap()
            .claimed_warm
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_users_vm_takes_a_warm_vms_address_rather_than_fail() {
    // One guest address: the warm VM holds it.
    let mut h = Harness::with_pool(Guest::Healthy, "10.9.0.0/30");
    warm(&mut h, 1);
    let warm_name = pool::fill_one(&h.env(), "base").await.unwrap();
    let warm_row = h.row(&warm_name).unwrap();
    let vm = create(
        &h.env(),
        CreateVm {
            vcpus: Some(3),
            ..mine("mine")
        },
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(!vm.claimed_warm);
    assert_eq!(vm.ip, warm_row.ip, "the warm VM's address, given up");
    assert!(h.row(&warm_name).is_none());
    assert!(!h.vm_dirs().contains(&warm_row.id), "its disks went too");
    // And with no warm VM left, the refusal is the usual one.
    let more = create(&h.env(), mine("more"), &mut |_| {}).await;
    assert!(matches!(
        more,
        Err(VmError::Store(
            crate::store::StoreError::NoFreeAddress { .. }
        ))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn warm_vms_beyond_the_pool_or_dead_are_surplus_and_drain_removes_all() {
    let mut h = Harness::new(Guest::Healthy);
    warm(&mut h, 2);
    let a = pool::fill_one(&h.env(), "base").await.unwrap();
    let b = pool::fill_one(&h.env(), "base").await.unwrap();
    assert!(pool::surplus(&h.env()).unwrap().is_empty());
    h.config.warm_pool_size = 1;
    let extra = pool::surplus(&h.env()).unwrap();
    assert_eq!(extra.len(), 1, "one beyond the size");
    // A warm VM whose VMM died is surplus whatever the size.
    h.config.warm_pool_size = 2;
    let dead = h.row(&a).unwrap();
    crate::vmm::process::terminate(
        dead.vmm_pid.unwrap(),
        &h.f.paths.vm_dir(&dead.id),
        std::time::Duration::from_secs(2),
    );
    let extra: Vec<String> = pool::surplus(&h.env())
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(extra, std::slice::from_ref(&a));
    // An image no longer kept warm.
    h.config.warm_pool_images = vec!["another".into()];
    assert_eq!(pool::surplus(&h.env()).unwrap().len(), 2);

    let kept = create(
        &h.env(),
        CreateVm {
            cold: true,
            ..mine("users")
        },
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(pool::drain(&h.env()).await, 2);
    assert!(h.row(&a).is_none() && h.row(&b).is_none());
    assert_eq!(h.vm_dirs(), [kept.id], "the user's VM is not the pool's");
    assert_eq!(h.row("users").unwrap().state, VmState::Running);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_an_image_takes_its_warm_vms_not_the_users() {
    let mut h = Harness::new(Guest::Healthy);
    warm(&mut h, 1);
    let warm_name = pool::fill_one(&h.env(), "base").await.unwrap();
    // Unreleased, the warm VM holds the image like any VM.
    assert!(crate::image::delete(&h.f.paths, &h.f.store, "base").is_err());
    assert_eq!(pool::release_image(&h.env(), "base").await, 1);
    assert!(h.row(&warm_name).is_none());
    assert!(h.vm_dirs().is_empty());
    crate::image::delete(&h.f.paths, &h.f.store, "base").unwrap();
    assert_eq!(pool::release_image(&h.env(), "base").await, 0, "gone");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claimed_vm_is_never_removed_by_the_pool_that_saw_it_warm() {
    let mut h = Harness::new(Guest::Healthy);
    warm(&mut h, 1);
    let warm_name = pool::fill_one(&h.env(), "base").await.unwrap();
    let seen = h.row(&warm_name).unwrap();
    // A claim wins between the pool's look and its removal.
    let vm = create(&h.env(), mine("mine"), &mut |_| {}).await.unwrap();
    assert!(vm.claimed_warm);
    assert!(!pool::take_and_remove(&h.env(), &seen, false).await);
    assert_eq!(pool::drain(&h.env()).await, 0);
    assert!(!pool::evict_one(&h.env()).await);
    let row = h.row("mine").unwrap();
    assert_eq!(row.state, VmState::Running, "the user's VM is untouched");
    assert!(h.vm_dirs().contains(&row.id));
}
