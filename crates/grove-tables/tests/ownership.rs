//! Who owns a table, who may touch it, and what happens to it when its owner exits.
//!
//! Each test runs as the first process of a fresh Grove runtime; timeouts only stop a broken
//! test from hanging.

use std::time::Duration;

use grove_runtime::{await_exit, run, Context, ExitReason, Message, Pid};
use grove_tables::{Access, Table, TableError, TableTransfer};

const LONG: Duration = Duration::from_secs(5);

type Prices = Table<String, u32>;

/// Runs `body` as a process and fails the test unless it finishes normally.
fn in_grove<M, F, Fut>(body: F)
where
    M: Send + 'static,
    F: FnOnce(Context<M>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    assert_eq!(run(body), ExitReason::Normal);
}

/// What an heir or a give-away receiver is sent.
#[derive(Debug)]
enum Inherit {
    Table(TableTransfer<Prices, &'static str>),
}

impl From<TableTransfer<Prices, &'static str>> for Inherit {
    fn from(transfer: TableTransfer<Prices, &'static str>) -> Self {
        Inherit::Table(transfer)
    }
}

async fn recv_transfer(ctx: &mut Context<Inherit>) -> TableTransfer<Prices, &'static str> {
    match tokio::time::timeout(LONG, ctx.recv()).await {
        Ok(Message::User(Inherit::Table(transfer))) => transfer,
        other => panic!("expected a TableTransfer, got {other:?}"),
    }
}

/// Spawns a process that creates a table with `options`, hands it over, then waits for the
/// word to exit with `reason`.
async fn owner_of(
    ctx: &mut Context<()>,
    make: impl FnOnce() -> Result<Prices, TableError> + Send + 'static,
) -> (Prices, Pid, tokio::sync::oneshot::Sender<ExitReason>) {
    let (table_tx, table_rx) = tokio::sync::oneshot::channel();
    let (exit_tx, exit_rx) = tokio::sync::oneshot::channel::<ExitReason>();
    let owner = ctx.spawn(move |_: Context<()>| async move {
        let table = make().expect("the owner creates the table");
        table.insert("apple".into(), 3).expect("the owner writes");
        let _ = table_tx.send(table);
        exit_rx.await.unwrap_or(ExitReason::Normal)
    });
    let table = tokio::time::timeout(LONG, table_rx)
        .await
        .expect("owner started")
        .expect("owner sent the table");
    (table, owner.pid(), exit_tx)
}

#[test]
fn a_table_is_deleted_when_its_owner_exits() {
    in_grove(|mut ctx: Context<()>| async move {
        let (table, owner, exit) = owner_of(&mut ctx, || {
            Prices::options().named("deleted_with_owner").create()
        })
        .await;
        assert_eq!(table.owner(), Some(owner));
        assert_eq!(table.lookup(&"apple".into()), Ok(Some(3)));
        assert!(Prices::whereis("deleted_with_owner").is_ok());

        let _ = exit.send(ExitReason::error("crash"));
        await_exit(owner).await;

        assert_eq!(table.lookup(&"apple".into()), Err(TableError::Deleted));
        assert_eq!(table.count(), Err(TableError::Deleted));
        assert_eq!(table.owner(), None);
        assert_eq!(
            Prices::whereis("deleted_with_owner"),
            Err(TableError::NoSuchTable("deleted_with_owner".into()))
        );
        // The name is free again.
        let again = Prices::options()
            .named("deleted_with_owner")
            .create()
            .expect("the name was released");
        again.delete_table().expect("the owner deletes its table");
    });
}

#[test]
fn the_heir_inherits_the_table_and_is_told() {
    in_grove(|mut ctx: Context<()>| async move {
        let (heir_tx, heir_rx) = tokio::sync::oneshot::channel();
        let heir = ctx.spawn(move |mut hctx: Context<Inherit>| async move {
            let transfer = recv_transfer(&mut hctx).await;
            let _ = heir_tx.send((transfer.from, transfer.data, transfer.table.clone()));
            // The heir is now the owner of a protected table: it may write.
            transfer
                .table
                .insert("pear".into(), 5)
                .expect("the heir writes");
            // Stay alive so the table does too, until told.
            let _ = hctx.recv().await;
        });
        let (table, owner, exit) = owner_of(&mut ctx, move || {
            Prices::options().heir(heir, "from the owner").create()
        })
        .await;
        assert_eq!(table.info().unwrap().heir, Some(heir.pid()));

        // The owner crashes; the data survives in the heir.
        let _ = exit.send(ExitReason::error("crash"));
        let (from, data, inherited) = tokio::time::timeout(LONG, heir_rx)
            .await
            .expect("the heir was told")
            .expect("the heir reported");
        assert_eq!(from, owner);
        assert_eq!(data, "from the owner");
        assert_eq!(inherited, table);
        assert_eq!(table.owner(), Some(heir.pid()));
        assert_eq!(table.lookup(&"apple".into()), Ok(Some(3)));
        // As in ETS, the heir inherits once.
        assert_eq!(table.info().unwrap().heir, None);

        // The heir exits with no heir of its own: now the table goes.
        ctx.exit(heir, ExitReason::Kill);
        await_exit(heir.pid()).await;
        assert_eq!(table.count(), Err(TableError::Deleted));
    });
}

#[test]
fn a_dead_heir_means_the_table_is_deleted() {
    in_grove(|mut ctx: Context<()>| async move {
        let heir = ctx.spawn(|_: Context<Inherit>| async {});
        await_exit(heir.pid()).await;
        let (table, owner, exit) =
            owner_of(&mut ctx, move || Prices::options().heir(heir, "").create()).await;
        let _ = exit.send(ExitReason::Normal);
        await_exit(owner).await;
        assert_eq!(table.count(), Err(TableError::Deleted));
    });
}

#[test]
fn give_away_hands_ownership_over_and_tells_the_receiver() {
    in_grove(|mut ctx: Context<()>| async move {
        let (got_tx, got_rx) = tokio::sync::oneshot::channel();
        let receiver = ctx.spawn(move |mut rctx: Context<Inherit>| async move {
            let transfer = recv_transfer(&mut rctx).await;
            let _ = got_tx.send((transfer.from, transfer.data));
            let _ = rctx.recv().await;
        });
        let table = Prices::new().expect("created in a process");
        table.insert("apple".into(), 3).unwrap();

        // Only the owner may give the table away, and only to a live process.
        let shared = table.clone();
        let outsider = ctx.spawn(move |_: Context<()>| {
            let table = shared;
            async move {
                assert!(matches!(
                    table.give_away(receiver, "no"),
                    Err(TableError::AccessDenied { .. })
                ));
            }
        });
        assert_eq!(await_exit(outsider.pid()).await, ExitReason::Normal);
        let dead = ctx.spawn(|_: Context<Inherit>| async {});
        await_exit(dead.pid()).await;
        assert_eq!(
            table.give_away(dead, "no"),
            Err(TableError::NoProc(dead.pid()))
        );

        table
            .give_away(receiver, "yours")
            .expect("the owner gives it away");
        let (from, data) = tokio::time::timeout(LONG, got_rx).await.unwrap().unwrap();
        assert_eq!((from, data), (ctx.pid(), "yours"));
        assert_eq!(table.owner(), Some(receiver.pid()));
        // The old owner is an ordinary reader of a protected table now.
        assert!(matches!(
            table.insert("pear".into(), 1),
            Err(TableError::AccessDenied { .. })
        ));
        assert_eq!(table.lookup(&"apple".into()), Ok(Some(3)));

        // The giver's exit no longer matters; the receiver's does.
        ctx.exit(receiver, ExitReason::Kill);
        await_exit(receiver.pid()).await;
        assert_eq!(table.count(), Err(TableError::Deleted));
    });
}

#[test]
fn protected_tables_refuse_writes_from_other_processes_with_a_clear_error() {
    in_grove(|mut ctx: Context<()>| async move {
        let table = Prices::new().unwrap();
        table.insert("apple".into(), 3).unwrap();
        let owner = ctx.pid();
        let shared = table.clone();
        let other = ctx.spawn(move |octx: Context<()>| {
            let table = shared;
            async move {
                assert_eq!(table.lookup(&"apple".into()), Ok(Some(3)));
                let refused = table.insert("pear".into(), 1).unwrap_err();
                assert_eq!(
                    refused,
                    TableError::AccessDenied {
                        operation: "write",
                        access: Access::Protected,
                        owner: grove_tables::OwnerName(Some(owner)),
                        caller: grove_tables::OwnerName(Some(octx.pid())),
                    }
                );
                let text = refused.to_string();
                assert!(text.contains("only the owner"), "{text}");
                assert!(text.contains("protected"), "{text}");
                for denied in [
                    table.delete(&"apple".into()).map(|_| ()),
                    table
                        .update_element(&"apple".into(), |v| *v += 1)
                        .map(|_| ()),
                    table.clear(),
                    table.delete_table(),
                    table.clear_heir(),
                ] {
                    assert!(matches!(denied, Err(TableError::AccessDenied { .. })));
                }
            }
        });
        assert_eq!(await_exit(other.pid()).await, ExitReason::Normal);
        // Nothing the other process tried got through.
        assert_eq!(table.to_list(), Ok(vec![("apple".into(), 3)]));
    });
}

#[test]
fn private_tables_refuse_reads_too_and_public_ones_refuse_nothing() {
    in_grove(|mut ctx: Context<()>| async move {
        let private = Prices::options().private().create().unwrap();
        let public = Prices::options().public().create().unwrap();
        private.insert("a".into(), 1).unwrap();
        let (private_handle, public_handle) = (private.clone(), public.clone());
        let other = ctx.spawn(move |_: Context<()>| {
            let (private, public) = (private_handle, public_handle);
            async move {
                assert!(matches!(
                    private.lookup(&"a".into()),
                    Err(TableError::AccessDenied {
                        operation: "read",
                        ..
                    })
                ));
                assert!(matches!(
                    private.info(),
                    Err(TableError::AccessDenied { .. })
                ));
                public
                    .insert("b".into(), 2)
                    .expect("anyone writes a public table");
                assert_eq!(public.update_counter(&"b".into(), 1), Ok(3));
            }
        });
        assert_eq!(await_exit(other.pid()).await, ExitReason::Normal);
        assert_eq!(public.lookup(&"b".into()), Ok(Some(3)));
        assert_eq!(private.lookup(&"a".into()), Ok(Some(1)));
    });
}

#[test]
fn outside_a_process_only_public_tables_can_be_made_and_they_have_no_owner() {
    assert!(matches!(
        Prices::new(),
        Err(TableError::NoOwner {
            access: Access::Protected
        })
    ));
    let table = Prices::options().public().create().unwrap();
    assert_eq!(table.owner(), None);
    table.insert("a".into(), 1).unwrap();
    // Nobody owns it, so nobody may give it away; anyone may delete it.
    table.delete_table().unwrap();
    assert_eq!(table.lookup(&"a".into()), Err(TableError::Deleted));
}

#[test]
fn names_are_unique_and_typed() {
    let table = Prices::options()
        .public()
        .named("names_are_unique")
        .create()
        .unwrap();
    assert_eq!(
        Prices::options()
            .public()
            .named("names_are_unique")
            .create()
            .unwrap_err(),
        TableError::NameTaken("names_are_unique".into())
    );
    assert!(matches!(
        Table::<u64, u64>::whereis("names_are_unique"),
        Err(TableError::WrongType { .. })
    ));
    assert_eq!(Prices::whereis("names_are_unique"), Ok(table.clone()));
    assert!(grove_tables::named_tables().contains(&"names_are_unique".into()));
    table.delete_table().unwrap();
    assert!(!grove_tables::named_tables().contains(&"names_are_unique".into()));
}
