%% The counter gen_server of grove-bench's call and cast scenarios (Counter in bench/src/otp.rs).
-module(grove_bench_counter).
-behaviour(gen_server).
-export([init/1, handle_call/3, handle_cast/2]).

init([]) -> {ok, 0}.

handle_call(get, _From, Count) -> {reply, Count, Count}.

handle_cast({add, N}, Count) -> {noreply, Count + N}.
