//! The README's first program: a trapping parent, a linked worker that panics, and the exit
//! signal that tells the parent about it. Run with `cargo run -p grove --example squares`.

use grove::prelude::*;

fn main() {
    let reason = grove::run(|mut ctx: Context<String>| async move {
        ctx.trap_exit(true);
        let me = ctx.addr();
        let worker = ctx.spawn_link(move |mut w: Context<u32>| async move {
            while let Message::User(n) = w.recv().await {
                if n == 0 {
                    panic!("zero");
                }
                send(me, format!("{n} squared is {}", n * n));
            }
        });
        send(worker, 12);
        println!("{:?}", ctx.recv().await); // User("12 squared is 144")
        send(worker, 0); // the worker panics...
        println!("{:?}", ctx.recv().await); // ...and the parent gets Exit { from: worker, reason: panic }
    });
    println!("exited: {reason}");
}
