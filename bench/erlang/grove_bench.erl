%% The Erlang/OTP side of grove-bench: the same scenarios as bench/src, written as Erlang users
%% write them (spawn/receive, gen_server, supervisor, register, ets), run with default VM flags.
%%
%% grove-bench compiles this directory with erlc and runs one measurement per VM:
%%   erl -noshell -pa DIR -run grove_bench main SCENARIO PARAM... -s init stop
%% which prints one line, "value V1 V2 ...", in the scenario's units (see bench/src/scenarios.rs).
-module(grove_bench).
-export([main/1, seconds/1, call_n/2]).

%% Same scattered key order as the Rust side: it multiplies by 0x9E3779B97F4A7C15 modulo 2^20,
%% whose low 20 bits are 687125 (table sizes are powers of two up to 2^20).
-define(MULT, 687125).

main([Scenario | Params]) ->
    %% No log output: a supervisor report per restarted child would time the logger, and the
    %% Grove side logs nothing either.
    logger:set_primary_config(level, none),
    Values = run(list_to_atom(Scenario), [list_to_integer(P) || P <- Params]),
    io:format("value~s~n", [[io_lib:format(" ~.6f", [float(V)]) || V <- Values]]),
    halt(0).

seconds(Fun) ->
    T0 = erlang:monotonic_time(),
    Result = Fun(),
    {erlang:convert_time_unit(erlang:monotonic_time() - T0, native, nanosecond) / 1.0e9, Result}.

rss_bytes() ->
    {ok, Statm} = file:read_file("/proc/self/statm"),
    [_, Resident | _] = string:split(binary_to_list(Statm), " ", all),
    list_to_integer(Resident) * 4096.

idle() -> receive stop -> ok end.

wait_idle_schedulers() ->
    case erlang:statistics(total_run_queue_lengths_all) of
        0 -> ok;
        _ -> timer:sleep(1), wait_idle_schedulers()
    end.

%% spawn: N processes that wait in receive. [processes/s, resident bytes per process]
run(spawn, [N]) ->
    Before = rss_bytes(),
    {S, Pids} = seconds(fun() -> [spawn(fun idle/0) || _ <- lists:seq(1, N)] end),
    wait_idle_schedulers(),
    After = rss_bytes(),
    [P ! stop || P <- Pids],
    [N / S, (After - Before) / N];

%% ring: N processes in a ring (this one included), a token passed Laps times around; the node
%% that receives it at 0 tells this one. [messages/s]
run(ring, [N, Laps]) ->
    Self = self(),
    First = lists:foldl(fun(_, Next) -> spawn(fun() -> ring_node(Next, Self) end) end, Self, lists:seq(1, N - 1)),
    Hops = N * Laps,
    {S, _} = seconds(fun() ->
        First ! {token, Hops - 1},
        ring_node(First, Self)
    end),
    [Hops / S];

%% ping-pong: N request/reply round trips between two processes. [ns per round trip]
run('ping-pong', [N]) ->
    Self = self(),
    Ponger = spawn(fun() -> pong(Self) end),
    {S, _} = seconds(fun() -> ping(Ponger, N) end),
    Ponger ! stop,
    [S * 1.0e9 / N];

%% fan-in: Senders processes send N messages each to one receiver. [messages/s]
run('fan-in', [Senders, N]) ->
    Self = self(),
    Total = Senders * N,
    {S, _} = seconds(fun() ->
        Receiver = spawn(fun() -> count(Total), Self ! done end),
        [spawn(fun() -> send_n(Receiver, N) end) || _ <- lists:seq(1, Senders)],
        receive done -> ok end
    end),
    [Total / S];

%% call: N sequential gen_server calls. [ns per call]
run(call, [N]) ->
    {ok, Server} = gen_server:start_link(grove_bench_counter, [], []),
    {S, _} = seconds(fun() -> call_n(Server, N) end),
    [S * 1.0e9 / N];

%% call-4: Callers processes make N calls each to one server. [calls/s]
run('call-n', [Callers, N]) ->
    {ok, Server} = gen_server:start_link(grove_bench_counter, [], []),
    Self = self(),
    {S, _} = seconds(fun() ->
        Pids = [spawn_link(fun() -> call_n(Server, N), Self ! {done, self()} end) || _ <- lists:seq(1, Callers)],
        [receive {done, P} -> ok end || P <- Pids]
    end),
    [Callers * N / S];

%% cast: N casts, then a call that waits for all of them. [casts/s]
run(cast, [N]) ->
    {ok, Server} = gen_server:start_link(grove_bench_counter, [], []),
    {S, Total} = seconds(fun() ->
        cast_n(Server, N),
        gen_server:call(Server, get, infinity)
    end),
    N = Total,
    [N / S];

%% restart: N children under one_for_one, all killed; time until every one has started again.
%% Each child counts its start (as the other sides do), so the supervisor is not polled.
%% [us per child]
run(restart, [N]) ->
    process_flag(trap_exit, true),
    Starts = counters:new(1, [write_concurrency]),
    persistent_term:put(grove_bench_starts, Starts),
    {ok, Sup} = supervisor:start_link(grove_bench_sup, N),
    Before = [P || {_, P, _, _} <- supervisor:which_children(Sup)],
    N = length(Before),
    wait_count(Starts, N),
    {S, _} = seconds(fun() ->
        [exit(P, kill) || P <- Before],
        wait_count(Starts, 2 * N)
    end),
    unlink(Sup),
    exit(Sup, shutdown),
    [S * 1.0e6 / N];

%% registry: register N names (one per idle process) and look each up. [operations/s]
run(registry, [N]) ->
    Pids = [spawn(fun idle/0) || _ <- lists:seq(1, N)],
    Names = [list_to_atom("grove_bench_" ++ integer_to_list(I)) || I <- lists:seq(1, N)],
    Pairs = lists:zip(Names, Pids),
    {S, _} = seconds(fun() ->
        [true = register(Name, Pid) || {Name, Pid} <- Pairs],
        [Pid = whereis(Name) || {Name, Pid} <- Pairs]
    end),
    [P ! stop || P <- Pids],
    [2 * N / S];

%% table-insert: N inserts into a set. [inserts/s]
run('table-insert', [N]) ->
    T = ets:new(bench, [set, public]),
    {S, _} = seconds(fun() -> insert_loop(T, 0, N) end),
    [N / S];

%% table-lookup: Readers processes each look up 4N keys of an N-key set. [lookups/s]
run('table-lookup', [N, Readers]) ->
    T = filled(set, N),
    PerReader = 4 * N,
    Self = self(),
    {S, _} = seconds(fun() ->
        Pids = [spawn_link(fun() -> Self ! {done, self(), lookup_loop(T, N, R * 7919, R * 7919 + PerReader, 0)} end)
                || R <- lists:seq(0, Readers - 1)],
        [receive {done, P, PerReader} -> ok end || P <- Pids]
    end),
    [Readers * PerReader / S];

%% table-counter: Writers processes add 1 to one counter N times each. [updates/s]
run('table-counter', [Writers, N]) ->
    T = ets:new(bench, [set, public, {write_concurrency, true}]),
    ets:insert(T, {0, 0}),
    Self = self(),
    {S, _} = seconds(fun() ->
        Pids = [spawn_link(fun() -> counter_loop(T, N), Self ! {done, self()} end) || _ <- lists:seq(1, Writers)],
        [receive {done, P} -> ok end || P <- Pids]
    end),
    Total = Writers * N,
    [{0, Total}] = ets:lookup(T, 0),
    [Total / S];

%% table-range: Scans walks of 1000 keys (ets:next from a start key) in an N-key ordered_set.
%% [objects/s]
run('table-range', [N, Scans]) ->
    T = filled(ordered_set, N),
    Window = 1000,
    {S, _} = seconds(fun() -> scan_loop(T, N, 0, Scans, Window) end),
    [Scans * Window / S];

%% The distribution scenarios, on two nodes: see grove_bench_dist.
run(Dist, Params) when Dist =:= 'dist-send'; Dist =:= 'dist-call'; Dist =:= 'dist-detect' ->
    grove_bench_dist:run(Dist, Params);

run(Other, _) ->
    io:format("unsupported ~p~n", [Other]),
    halt(3).

ring_node(Next, Main) ->
    receive
        {token, 0} when Main =:= self() -> ok;
        {token, 0} -> Main ! done, ring_node(Next, Main);
        {token, K} -> Next ! {token, K - 1}, ring_node(Next, Main);
        done -> ok
    end.

pong(Pinger) ->
    receive
        stop -> ok;
        I -> Pinger ! I, pong(Pinger)
    end.

ping(_, 0) -> ok;
ping(Ponger, N) -> Ponger ! N, receive N -> ping(Ponger, N - 1) end.

count(0) -> ok;
count(N) -> receive _ -> count(N - 1) end.

send_n(_, 0) -> ok;
send_n(To, N) -> To ! N, send_n(To, N - 1).

call_n(_, 0) -> ok;
call_n(Server, N) -> gen_server:call(Server, get, infinity), call_n(Server, N - 1).

cast_n(_, 0) -> ok;
cast_n(Server, N) -> gen_server:cast(Server, {add, 1}), cast_n(Server, N - 1).

wait_count(Counter, Target) ->
    case counters:get(Counter, 1) >= Target of
        true -> ok;
        false -> timer:sleep(1), wait_count(Counter, Target)
    end.

scattered(I, N) -> (I * ?MULT) band (N - 1).

insert_loop(_, N, N) -> ok;
insert_loop(T, I, N) -> ets:insert(T, {scattered(I, N), I}), insert_loop(T, I + 1, N).

filled(Kind, N) ->
    T = ets:new(bench, [Kind, public, {read_concurrency, true}]),
    [ets:insert(T, {K, K}) || K <- lists:seq(0, N - 1)],
    T.

lookup_loop(_, _, I, I, Found) -> Found;
lookup_loop(T, N, I, End, Found) ->
    case ets:lookup(T, scattered(I, N)) of
        [_] -> lookup_loop(T, N, I + 1, End, Found + 1);
        [] -> lookup_loop(T, N, I + 1, End, Found)
    end.

counter_loop(_, 0) -> ok;
counter_loop(T, N) -> ets:update_counter(T, 0, 1), counter_loop(T, N - 1).

scan_loop(_, _, Scans, Scans, _) -> ok;
scan_loop(T, N, I, Scans, Window) ->
    From = scattered(I, N) rem (N - Window),
    Window = walk(T, From, From + Window, 0),
    scan_loop(T, N, I + 1, Scans, Window).

walk(T, Key, To, Seen) when Key < To ->
    [{Key, _}] = ets:lookup(T, Key),
    case ets:next(T, Key) of
        '$end_of_table' -> Seen + 1;
        Next -> walk(T, Next, To, Seen + 1)
    end;
walk(_, _, _, Seen) -> Seen.
