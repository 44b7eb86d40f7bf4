%% The supervisor of grove-bench's restart scenario: N idle workers under one_for_one.
-module(grove_bench_sup).
-behaviour(supervisor).
-export([init/1, start_worker/0]).

init(N) ->
    Children = [#{id => I, start => {?MODULE, start_worker, []}} || I <- lists:seq(1, N)],
    {ok, {#{strategy => one_for_one, intensity => 2 * N, period => 60}, Children}}.

start_worker() ->
    {ok, spawn_link(fun() ->
        counters:add(persistent_term:get(grove_bench_starts), 1, 1),
        receive stop -> ok end
    end)}.
