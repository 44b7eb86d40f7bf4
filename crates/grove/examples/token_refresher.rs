//! The token-refreshing GenServer from seed 002 ("access_token to be refreshed over half of its
//! life-cycle"), supervised, with readers that get the token without calling the server.
//!
//! The server fetches a token, publishes it in a `tokio::sync::watch` channel (readers borrow the
//! latest value: no call, no copy, no waiting on the server), and schedules its own refresh at
//! half the token's life with `send_after`. A failed fetch is retried soon after; a server that
//! crashes is restarted by its supervisor and fetches afresh.
//!
//! Run it: `cargo run --example token_refresher -p grove`

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use grove::prelude::*;
use tokio::sync::watch;

/// A token as an OAuth2 provider hands it out.
#[derive(Clone, Debug)]
struct Token {
    value: String,
    lifetime: Duration,
}

/// Stands in for the HTTP call to the provider: every fourth attempt fails.
async fn fetch_token() -> Result<Token, String> {
    static ATTEMPTS: AtomicU32 = AtomicU32::new(0);
    let attempt = ATTEMPTS.fetch_add(1, Ordering::Relaxed) + 1;
    tokio::time::sleep(Duration::from_millis(5)).await;
    if attempt % 4 == 0 {
        return Err(format!("provider returned 503 on attempt {attempt}"));
    }
    Ok(Token {
        value: format!("token-{attempt}"),
        lifetime: Duration::from_millis(400),
    })
}

struct TokenRefresher {
    publish: watch::Sender<Option<Token>>,
}

/// The refresher's own timer message: time to fetch a token.
struct Refresh;

/// Asks for the current token, for callers that prefer asking (readers normally use the
/// channel).
struct CurrentToken;

impl GenServer for TokenRefresher {
    async fn init(&mut self, ctx: &mut ServerContext<Self>) -> Result<(), ExitReason> {
        // Return at once; the first fetch runs right after the supervisor is released.
        ctx.continue_with(Refresh);
        Ok(())
    }
}

impl Cast<Refresh> for TokenRefresher {
    async fn handle_cast(&mut self, _: Refresh, ctx: &mut ServerContext<Self>) {
        self.refresh(ctx).await;
    }
}

impl Call<CurrentToken> for TokenRefresher {
    type Reply = Option<String>;

    async fn handle_call(
        &mut self,
        _: CurrentToken,
        from: ReplyTo<Option<String>>,
        _: &mut ServerContext<Self>,
    ) {
        from.reply(self.publish.borrow().as_ref().map(|t| t.value.clone()));
    }
}

impl TokenRefresher {
    async fn refresh(&mut self, ctx: &mut ServerContext<Self>) {
        match fetch_token().await {
            Ok(token) => {
                println!(
                    "refresher {}: fetched {} (refresh in {:?})",
                    ctx.pid(),
                    token.value,
                    token.lifetime / 2
                );
                ctx.send_after(Refresh, token.lifetime / 2);
                self.publish.send_replace(Some(token));
            }
            Err(error) => {
                println!("refresher {}: {error}; retrying in 50 ms", ctx.pid());
                ctx.send_after(Refresh, Duration::from_millis(50));
            }
        }
    }
}

fn main() {
    let reason = grove::run(|_: Context<()>| async {
        let (publish, tokens) = watch::channel(None::<Token>);
        let tree = Supervisor::one_for_one()
            .child(ChildSpec::new("token-refresher", move || {
                Server::start_opt(
                    TokenRefresher {
                        publish: publish.clone(),
                    },
                    StartOptions::new().link().name("token_refresher"),
                )
            }))
            .start_link()
            .await?;

        // Readers: what the web and job servers of seed 002 would do on each request.
        let mut reader = tokens.clone();
        for round in 0..8 {
            reader
                .changed()
                .await
                .map_err(|_| ExitReason::error("the refresher is gone"))?;
            let current = reader.borrow_and_update().as_ref().map(|t| t.value.clone());
            println!("reader, round {round}: using {current:?}");
            if round == 4 {
                // Crash the refresher: its supervisor restarts it and it fetches again.
                if let Some(server) = Server::<TokenRefresher>::whereis("token_refresher") {
                    println!("-- killing the refresher {}", server.pid());
                    grove::exit(server.pid(), ExitReason::Kill);
                }
            }
        }
        let by_call = match Server::<TokenRefresher>::whereis("token_refresher") {
            Some(server) => server.call(CurrentToken).await?,
            None => None,
        };
        println!("asked by call: {by_call:?}");
        tree.stop(ExitReason::Normal).await?;
        Ok(())
    });
    println!("done: {reason}");
}
