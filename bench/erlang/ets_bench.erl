#!/usr/bin/env escript
%% The table scenarios of grove-bench (bench/src/tables.rs), on Erlang's ETS, for side-by-side
%% ratios. Same sizes and the same scattered key order: the Rust side multiplies by
%% 0x9E3779B97F4A7C15 modulo 2^20, whose low 20 bits are 687125, so both walk the same keys.
%%
%% Run: escript bench/erlang/ets_bench.erl [Runs]
-mode(compile).

-define(KEYS, 1048576).
-define(MULT, 687125).

main(Args) ->
    Runs = case Args of [R] -> list_to_integer(R); _ -> 5 end,
    io:format("ets_bench: OTP ~s, ~p schedulers, ~p run(s) per scenario~n",
              [erlang:system_info(otp_release), erlang:system_info(schedulers), Runs]),
    report("ets insert, 1048576 keys", "inserts/s", [inserts() || _ <- lists:seq(1, Runs)]),
    report("ets lookup, 1 reader(s) x 4194304", "lookups/s", [lookups(1) || _ <- lists:seq(1, Runs)]),
    report("ets lookup, 2 reader(s) x 4194304", "lookups/s", [lookups(2) || _ <- lists:seq(1, Runs)]),
    report("update_counter, 2 writers x 1000000, one key", "updates/s", [counter() || _ <- lists:seq(1, Runs)]),
    report("ordered range scan, 10000 x 1000 keys", "objects/s", [range_scans() || _ <- lists:seq(1, Runs)]).

scattered(I) -> (I * ?MULT) band (?KEYS - 1).

seconds(Fun) ->
    T0 = erlang:monotonic_time(),
    Fun(),
    erlang:convert_time_unit(erlang:monotonic_time() - T0, native, microsecond) / 1.0e6.

inserts() ->
    T = ets:new(bench, [set, public]),
    S = seconds(fun() -> insert_loop(T, 0, ?KEYS) end),
    ets:delete(T),
    ?KEYS / S.

insert_loop(_, N, N) -> ok;
insert_loop(T, I, N) -> ets:insert(T, {scattered(I), I}), insert_loop(T, I + 1, N).

filled(Kind) ->
    T = ets:new(bench, [Kind, public, {read_concurrency, true}]),
    [ets:insert(T, {K, K}) || K <- lists:seq(0, ?KEYS - 1)],
    T.

lookups(Readers) ->
    T = filled(set),
    PerReader = 4 * ?KEYS,
    Self = self(),
    S = seconds(fun() ->
        Pids = [spawn_link(fun() -> Self ! {done, self(), lookup_loop(T, R * 7919, R * 7919 + PerReader, 0)} end)
                || R <- lists:seq(0, Readers - 1)],
        [receive {done, P, PerReader} -> ok end || P <- Pids]
    end),
    ets:delete(T),
    Readers * PerReader / S.

lookup_loop(_, N, N, Found) -> Found;
lookup_loop(T, I, N, Found) ->
    case ets:lookup(T, scattered(I)) of
        [_] -> lookup_loop(T, I + 1, N, Found + 1);
        [] -> lookup_loop(T, I + 1, N, Found)
    end.

counter() ->
    T = ets:new(bench, [set, public, {write_concurrency, true}]),
    ets:insert(T, {0, 0}),
    PerWriter = 1000000,
    Self = self(),
    S = seconds(fun() ->
        Pids = [spawn_link(fun() -> counter_loop(T, PerWriter), Self ! {done, self()} end) || _ <- [1, 2]],
        [receive {done, P} -> ok end || P <- Pids]
    end),
    [{0, Total}] = ets:lookup(T, 0),
    Total = 2 * PerWriter,
    ets:delete(T),
    Total / S.

counter_loop(_, 0) -> ok;
counter_loop(T, N) -> ets:update_counter(T, 0, 1), counter_loop(T, N - 1).

%% A range scan as ETS users write one on an ordered_set: start at the first key of the range
%% and walk with ets:next, reading each object.
range_scans() ->
    T = filled(ordered_set),
    Scans = 10000,
    Window = 1000,
    S = seconds(fun() -> scan_loop(T, 0, Scans, Window) end),
    ets:delete(T),
    Scans * Window / S.

scan_loop(_, N, N, _) -> ok;
scan_loop(T, I, N, Window) ->
    From = scattered(I) rem (?KEYS - Window),
    Window = walk(T, From, From + Window, 0),
    scan_loop(T, I + 1, N, Window).

walk(T, Key, To, Seen) when Key < To ->
    [{Key, _}] = ets:lookup(T, Key),
    case ets:next(T, Key) of
        '$end_of_table' -> Seen + 1;
        Next -> walk(T, Next, To, Seen + 1)
    end;
walk(_, _, _, Seen) -> Seen.

report(Name, Unit, Samples) ->
    Sorted = lists:sort(Samples),
    Median = lists:nth(length(Sorted) div 2 + 1, Sorted),
    io:format("~-44s median ~14s ~s   (min ~s, max ~s)~n",
              [Name, human(Median), Unit, human(hd(Sorted)), human(lists:last(Sorted))]).

human(V) when V >= 1.0e6 -> io_lib:format("~.2fM", [V / 1.0e6]);
human(V) when V >= 1.0e4 -> io_lib:format("~.1fk", [V / 1.0e3]);
human(V) -> io_lib:format("~.1f", [V]).
